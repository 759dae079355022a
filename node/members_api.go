package node

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/porchlight-mesh/porchlight/api"
	"github.com/porchlight-mesh/porchlight/member"
	"github.com/porchlight-mesh/porchlight/record"
	"github.com/porchlight-mesh/porchlight/store"
)

// membersAPI is the node's api.Members.
type membersAPI struct{ n *Node }

var _ api.Members = membersAPI{}

// errOpen is every membership action's answer in an open neighborhood.
// Mutes work in an open neighborhood too (they are this home's view).
var errOpen = &api.Error{Status: http.StatusNotFound, Code: "no_membership",
	Msg: "this node has no membership (open neighborhood): anyone who can reach it on the LAN and knows the neighborhood's name takes part; to make it invite-only, adopt a charter (porchlight neighborhood charter)"}

func (a membersAPI) svc() (*member.Service, error) {
	if a.n.members == nil {
		return nil, errOpen
	}
	return a.n.members.svc, nil
}

// apiError maps member's errors onto the API's.
func apiError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, member.ErrNotAllowed), errors.As(err, new(*record.Invalid)):
		return &api.ForbiddenError{Err: err}
	}
	return err
}

func (a membersAPI) Roster() ([]api.MemberInfo, error) {
	svc, err := a.svc()
	if err != nil {
		return nil, err
	}
	var out []api.MemberInfo
	for _, m := range svc.Roster() {
		mi := api.MemberInfo{
			PeerID: m.Peer.String(), Name: m.Name, Joined: m.Joined,
			Steward: m.Steward, Founder: m.Founder, Removed: m.Removed,
			RemovedAt: m.RemovedAt, Reason: m.Reason,
		}
		if name, err := a.n.db.Name(m.Peer); err == nil && name != "" {
			mi.Name = name // its own signed profile
		}
		if m.InvitedBy != "" {
			mi.InvitedBy = m.InvitedBy.String()
		}
		if m.AdmittedBy != "" {
			mi.AdmittedBy = m.AdmittedBy.String()
		}
		if m.RemovedBy != "" {
			mi.RemovedBy = m.RemovedBy.String()
		}
		out = append(out, mi)
	}
	return out, nil
}

func (a membersAPI) CreateInvite(expires time.Duration, uses int) (api.InviteCreated, error) {
	svc, err := a.svc()
	if err != nil {
		return api.InviteCreated{}, err
	}
	inv, err := svc.CreateInvite(expires, uses, a.n.inviteAddrs())
	switch {
	case err == nil:
	case errors.Is(err, member.ErrNotAllowed), errors.Is(err, store.ErrStorage):
		return api.InviteCreated{}, apiError(err)
	default:
		return api.InviteCreated{}, &api.BadRequestError{Err: err} // its bounds
	}
	return api.InviteCreated{ID: inv.ID.String(), Invite: inv.String(), Expires: inv.Expires, Uses: inv.Uses}, nil
}

func (a membersAPI) Invites() ([]api.InviteInfo, error) {
	svc, err := a.svc()
	if err != nil {
		return nil, err
	}
	list, err := svc.Invites()
	if err != nil {
		return nil, err
	}
	out := make([]api.InviteInfo, 0, len(list))
	for _, i := range list {
		out = append(out, api.InviteInfo{ID: i.ID, Created: i.Created, Expires: i.Expires, Uses: i.Uses, Used: i.Used, Revoked: i.Revoked})
	}
	return out, nil
}

// publish stores and gossips a document the service made.
func (a membersAPI) publish(d *member.Doc, err error) error {
	if err != nil {
		return apiError(err)
	}
	if err := a.n.mesh.PublishMemberDoc(d.Raw); err != nil {
		a.n.log.Warn("publish a membership document; members fetch it by sync", "err", err)
	}
	return nil
}

func (a membersAPI) RevokeInvite(id string) error {
	svc, err := a.svc()
	if err != nil {
		return err
	}
	return a.publish(svc.RevokeInvite(id))
}

func (a membersAPI) Remove(p peer.ID, reason string) error {
	svc, err := a.svc()
	if err != nil {
		return err
	}
	return a.publish(svc.Remove(p, reason))
}

func (a membersAPI) SetSteward(p peer.ID, on bool) error {
	svc, err := a.svc()
	if err != nil {
		return err
	}
	return a.publish(svc.SetSteward(p, on))
}

func (a membersAPI) Mute(p peer.ID) error   { return a.n.feed.Mute(p) }
func (a membersAPI) Unmute(p peer.ID) error { return a.n.feed.Unmute(p) }

func (a membersAPI) Muted() ([]string, error) {
	list, err := a.n.feed.Muted()
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(list))
	for _, p := range list {
		out = append(out, p.String())
	}
	return out, nil
}

// Join takes an invite on a node that is not a member yet, one whose
// config names the invite's neighborhood (made by `porchlight join`, or
// `init --charter`). The invite is kept, as `porchlight join` keeps it,
// and the node dials the members it names: the mesh claims it in the
// handshake with the first that answers (meshMembership.Join). Join waits
// up to joinTimeout for the admission; after that the claim goes on in
// the background and status says so. A node of another neighborhood (a
// fresh one runs the open "default") cannot switch while running: the
// error says to use `porchlight join`.
func (a membersAPI) Join(ctx context.Context, invite string) error {
	invite = strings.TrimSpace(invite)
	inv, err := member.ParseInvite(invite, time.Now())
	if err != nil {
		return &api.BadRequestError{Err: err}
	}
	ms := a.n.members
	if ms != nil && ms.svc.IsMember(a.n.id) {
		return &api.ForbiddenError{Err: errors.New("this home is a member already")}
	}
	if ms == nil || inv.Charter.String() != a.n.Config.Charter {
		return &api.ForbiddenError{Err: fmt.Errorf("this node is set up for neighborhood %q; to join %q, stop it and run: porchlight join INVITE (with a new --data directory)", a.n.Config.Neighborhood, inv.Neighborhood)}
	}
	if err := writeFileAtomic(filepath.Join(a.n.dir, InviteFile), []byte(invite+"\n"), 0o600); err != nil {
		return err
	}
	ms.mu.Lock()
	ms.pending, ms.refusal = inv, ""
	ms.mu.Unlock()
	infos, err := peer.AddrInfosFromP2pAddrs(inv.Addrs...)
	if err != nil {
		return &api.BadRequestError{Err: fmt.Errorf("invite addresses: %w", err)}
	}
	// The invite's public addresses are anchors from now on: they let
	// this home reach the neighborhood from behind its NAT.
	for _, c := range AnchorCandidates(inv.Addrs) {
		if _, err := a.n.addAnchor(c); err != nil {
			a.n.log.Warn("keep an anchor of the invite", "addr", c, "err", err)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, joinTimeout)
	defer cancel()
	for _, ai := range infos {
		go func() {
			dctx, dcancel := context.WithTimeout(ctx, 3*time.Second)
			defer dcancel()
			_ = a.n.mesh.Connect(dctx, ai)
		}()
	}
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		if ms.svc.IsMember(a.n.id) {
			return nil
		}
		ms.mu.Lock()
		refusal := ms.refusal
		ms.mu.Unlock()
		if refusal != "" {
			return &api.BadRequestError{Err: fmt.Errorf("%w: %s", ErrInviteRefused, refusal)}
		}
		select {
		case <-ctx.Done():
			return nil // pending: the claim goes on; status says so
		case <-t.C:
		}
	}
}
