package api

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// Members is the membership of an invite-only neighborhood as the API
// needs it (package member holds the rules; node adapts it). Config.Members
// is nil in an open neighborhood: every membership route then answers 404
// "no_membership".
//
// Errors: a refusal by the neighborhood's rules is a *ForbiddenError (403),
// wrong input such as a garbled, tampered or expired invite a
// *BadRequestError (400); an unknown peer or invite wraps store.ErrNotFound
// (404). Anything else is the node's failure (500).
type Members interface {
	// Roster lists every member ever admitted, removed ones included and
	// marked, sorted by joined then peer ID. The API fills Muted from
	// Muted.
	Roster() ([]MemberInfo, error)
	// CreateInvite signs an invite valid for expires that admits up to
	// uses homes, and returns it with its invite string. The API checks
	// the bounds first (MaxInviteExpiry, 1..MaxInviteUses).
	// *ForbiddenError: this home may not invite (the charter says only
	// stewards do, or it is not a member yet).
	CreateInvite(expires time.Duration, uses int) (InviteCreated, error)
	// Invites lists this home's own invites, newest first.
	Invites() ([]InviteInfo, error)
	// RevokeInvite revokes one of this home's invites by its ID (hex, or
	// a unique prefix of at least 8 characters) and publishes the
	// revocation. Unknown: wraps store.ErrNotFound.
	RevokeInvite(id string) error
	// Remove removes a member with a reason (shown to everyone) and
	// publishes the removal. *ForbiddenError: this home is not a steward,
	// or the target is the founder or this home. Not a member: wraps
	// store.ErrNotFound.
	Remove(p peer.ID, reason string) error
	// SetSteward names (on) or unnames a steward. *ForbiddenError: this
	// home is not a steward, or the target is the founder.
	SetSteward(p peer.ID, on bool) error
	// Mute hides p's posts on this home only; nothing is sent. Muting a
	// muted peer is not an error.
	Mute(p peer.ID) error
	// Unmute shows p's posts again. Unmuting a peer not muted is not an
	// error.
	Unmute(p peer.ID) error
	// Muted lists the muted peers (peer IDs), in any order.
	Muted() ([]string, error)
	// Join hands a fresh node an invite string. Nil: the invite was taken;
	// the node is a member, or becomes one when it reaches any online
	// member (Status.Membership says which). *BadRequestError: the invite
	// is garbled, tampered with, expired, revoked or used up, with the
	// reason. *ForbiddenError: this node is a member already.
	Join(ctx context.Context, invite string) error
}

// Limits the API checks before asking Members.
const (
	MaxInviteExpiry     = 30 * 24 * time.Hour // an invite's documents allow no more
	DefaultInviteExpiry = 72 * time.Hour
	MaxInviteUses       = 100
	MaxReason           = 280  // runes of a removal's reason
	maxInvite           = 4096 // bytes of an invite string (member.ParseInvite's bound)
)

// ForbiddenError is a Members refusal by the neighborhood's rules, such as
// "only stewards may remove members" (403, code "forbidden"). Its message
// is Err's: say what the rule is.
type ForbiddenError struct{ Err error }

func (e *ForbiddenError) Error() string { return e.Err.Error() }
func (e *ForbiddenError) Unwrap() error { return e.Err }

// BadRequestError is wrong input found by Members, such as a garbled or
// expired invite (400, code "bad_request"). Its message is Err's.
type BadRequestError struct{ Err error }

func (e *BadRequestError) Error() string { return e.Err.Error() }
func (e *BadRequestError) Unwrap() error { return e.Err }

// MemberInfo is one member of GET /api/v1/members. Peer IDs are strings;
// empty when not applicable (the founder was invited by nobody).
type MemberInfo struct {
	PeerID     string    `json:"peer_id"`
	Name       string    `json:"name"`
	InvitedBy  string    `json:"invited_by"`
	AdmittedBy string    `json:"admitted_by"`
	Joined     time.Time `json:"joined"`
	Steward    bool      `json:"steward"`
	Founder    bool      `json:"founder"`
	Removed    bool      `json:"removed"`
	RemovedAt  time.Time `json:"removed_at,omitzero"`
	RemovedBy  string    `json:"removed_by,omitempty"`
	Reason     string    `json:"reason,omitempty"` // of the removal
	Muted      bool      `json:"muted"`            // on this home
}

// InviteCreated is the answer of POST /api/v1/invites.
type InviteCreated struct {
	ID      string    `json:"id"`
	Invite  string    `json:"invite"` // "porchlight:...": a secret until used
	Expires time.Time `json:"expires"`
	Uses    int       `json:"uses"`
	// QRSVG is the invite as a QR code: an SVG document of <rect>s,
	// rendered by the API (Members leaves it empty).
	QRSVG string `json:"qr_svg"`
}

// InviteInfo is one of this home's invites in GET /api/v1/invites (never
// the invite string: its secret is not kept).
type InviteInfo struct {
	ID      string    `json:"id"`
	Created time.Time `json:"created"`
	Expires time.Time `json:"expires"`
	Uses    int       `json:"uses"`
	Used    int       `json:"used"`
	Revoked bool      `json:"revoked"`
}

// NewInviteJSON is the body of POST /api/v1/invites.
type NewInviteJSON struct {
	Expires string `json:"expires,omitempty"` // a duration such as "72h" or "3d"; default 72h, at most 30d
	Uses    int    `json:"uses,omitempty"`    // default 1, at most 100
}

// RemoveJSON is the body of POST /api/v1/members/{peer}/remove.
type RemoveJSON struct {
	Reason string `json:"reason"`
}

// StewardJSON is the body of POST /api/v1/members/{peer}/steward.
type StewardJSON struct {
	Steward bool `json:"steward"`
}

// JoinJSON is the body of POST /api/v1/join.
type JoinJSON struct {
	Invite string `json:"invite"`
}

// MuteJSON is the answer of POST and DELETE /api/v1/mutes/{peer}.
type MuteJSON struct {
	PeerID string `json:"peer_id"`
	Muted  bool   `json:"muted"`
}

func (s *Server) routesMembers() {
	s.handle("GET /api/v1/members", s.getMembers)
	s.handle("POST /api/v1/members/{peer}/remove", s.removeMember)
	s.handle("POST /api/v1/members/{peer}/steward", s.setSteward)
	s.handle("POST /api/v1/invites", s.createInvite)
	s.handle("GET /api/v1/invites", s.getInvites)
	s.handle("POST /api/v1/invites/{id}/revoke", s.revokeInvite)
	s.handle("GET /api/v1/mutes", s.getMutes)
	s.handle("POST /api/v1/mutes/{peer}", s.mute)
	s.handle("DELETE /api/v1/mutes/{peer}", s.unmute)
	s.handle("POST /api/v1/join", s.join)
}

// members is Config.Members, or the error every membership route answers
// in an open neighborhood.
func (s *Server) members() (Members, error) {
	if s.cfg.Members == nil {
		return nil, &Error{Status: http.StatusNotFound, Code: "no_membership",
			Msg: "this node has no membership (open neighborhood): anyone who can reach it on the LAN and knows the neighborhood's name takes part; to make it invite-only, adopt a charter (porchlight neighborhood charter)"}
	}
	return s.cfg.Members, nil
}

func pathPeer(r *http.Request) (peer.ID, error) {
	v := r.PathValue("peer")
	p, err := peer.Decode(v)
	if err != nil {
		return "", badRequest("%q is not a peer ID (see porchlight members)", v)
	}
	return p, nil
}

func (s *Server) getMembers(w http.ResponseWriter, r *http.Request) error {
	m, err := s.members()
	if err != nil {
		return err
	}
	roster, err := m.Roster()
	if err != nil {
		return err
	}
	muted, err := m.Muted()
	if err != nil {
		return err
	}
	isMuted := make(map[string]bool, len(muted))
	for _, p := range muted {
		isMuted[p] = true
	}
	out := make([]MemberInfo, 0, len(roster))
	for _, mi := range roster {
		mi.Joined = mi.Joined.UTC()
		if !mi.RemovedAt.IsZero() {
			mi.RemovedAt = mi.RemovedAt.UTC()
		}
		mi.Muted = isMuted[mi.PeerID]
		out = append(out, mi)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) removeMember(w http.ResponseWriter, r *http.Request) error {
	m, err := s.members()
	if err != nil {
		return err
	}
	p, err := pathPeer(r)
	if err != nil {
		return err
	}
	var in RemoveJSON
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	in.Reason = strings.TrimSpace(in.Reason)
	switch n := len([]rune(in.Reason)); {
	case n == 0:
		return badRequest("give a reason for the removal: every member sees it")
	case n > MaxReason:
		return badRequest("the reason is %d characters; at most %d", n, MaxReason)
	}
	if err := m.Remove(p, in.Reason); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"peer_id": p.String(), "removed": true})
	return nil
}

func (s *Server) setSteward(w http.ResponseWriter, r *http.Request) error {
	m, err := s.members()
	if err != nil {
		return err
	}
	p, err := pathPeer(r)
	if err != nil {
		return err
	}
	var in StewardJSON
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	if err := m.SetSteward(p, in.Steward); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"peer_id": p.String(), "steward": in.Steward})
	return nil
}

func (s *Server) createInvite(w http.ResponseWriter, r *http.Request) error {
	m, err := s.members()
	if err != nil {
		return err
	}
	var in NewInviteJSON
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	ttl, err := parseDays(in.Expires, DefaultInviteExpiry)
	if err != nil || ttl <= 0 || ttl > MaxInviteExpiry {
		return badRequest("expires %q: want a duration such as 72h or 7d, at most 30d", in.Expires)
	}
	if in.Uses == 0 {
		in.Uses = 1
	}
	if in.Uses < 1 || in.Uses > MaxInviteUses {
		return badRequest("uses %d: an invite admits from 1 to %d homes", in.Uses, MaxInviteUses)
	}
	inv, err := m.CreateInvite(ttl, in.Uses)
	if err != nil {
		return err
	}
	inv.Expires = inv.Expires.UTC()
	svg, err := QRSVG(inv.Invite)
	if err != nil {
		// The string is what matters; the picture is a convenience.
		s.cfg.Logger.Warn("invite QR code", "err", err)
	}
	inv.QRSVG = svg
	writeJSON(w, http.StatusCreated, inv)
	return nil
}

func (s *Server) getInvites(w http.ResponseWriter, r *http.Request) error {
	m, err := s.members()
	if err != nil {
		return err
	}
	invs, err := m.Invites()
	if err != nil {
		return err
	}
	out := make([]InviteInfo, 0, len(invs))
	for _, i := range invs {
		i.Created, i.Expires = i.Created.UTC(), i.Expires.UTC()
		out = append(out, i)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) revokeInvite(w http.ResponseWriter, r *http.Request) error {
	m, err := s.members()
	if err != nil {
		return err
	}
	id := strings.ToLower(r.PathValue("id"))
	if !isHex(id) || len(id) < 8 || len(id) > 64 {
		return badRequest("invite ID %q: want its hex ID, or at least its first 8 characters (see porchlight invite ls)", r.PathValue("id"))
	}
	if err := m.RevokeInvite(id); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"id": id, "revoked": true})
	return nil
}

func isHex(s string) bool {
	for _, c := range s {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

func (s *Server) getMutes(w http.ResponseWriter, r *http.Request) error {
	m, err := s.members()
	if err != nil {
		return err
	}
	muted, err := m.Muted()
	if err != nil {
		return err
	}
	out := append([]string{}, muted...)
	slices.Sort(out)
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) mute(w http.ResponseWriter, r *http.Request) error {
	return s.setMute(w, r, true)
}

func (s *Server) unmute(w http.ResponseWriter, r *http.Request) error {
	return s.setMute(w, r, false)
}

func (s *Server) setMute(w http.ResponseWriter, r *http.Request, on bool) error {
	m, err := s.members()
	if err != nil {
		return err
	}
	p, err := pathPeer(r)
	if err != nil {
		return err
	}
	if on && p.String() == s.cfg.Status().PeerID {
		return badRequest("this is your own home: muting it would hide your own posts from you")
	}
	if on {
		err = m.Mute(p)
	} else {
		err = m.Unmute(p)
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, MuteJSON{PeerID: p.String(), Muted: on})
	return nil
}

func (s *Server) join(w http.ResponseWriter, r *http.Request) error {
	if onLAN(r) {
		return errHubOnlySettings
	}
	m, err := s.members()
	if err != nil {
		return err
	}
	var in JoinJSON
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	in.Invite = strings.TrimSpace(in.Invite)
	switch {
	case in.Invite == "":
		return badRequest("paste the invite you were given: it starts with porchlight:")
	case len(in.Invite) > maxInvite:
		return badRequest("the invite is %d bytes, longer than any invite (%d): was more than the invite pasted?", len(in.Invite), maxInvite)
	}
	if st := s.cfg.Status(); st.Member {
		name := st.NeighborhoodName
		if name == "" {
			name = st.Neighborhood
		}
		return &Error{Status: http.StatusConflict, Code: "already_member", Msg: fmt.Sprintf("this node is already a member of %s: an invite is for a home that is not", name)}
	}
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	if err := m.Join(ctx, in.Invite); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.cfg.Status())
	return nil
}
