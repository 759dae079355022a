package member

import (
	"bytes"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/porchlight-mesh/porchlight/member/pb"
	"github.com/porchlight-mesh/porchlight/record"
)

// Member is one home of the roster, current or removed.
type Member struct {
	Peer       peer.ID
	Name       string
	InvitedBy  peer.ID // "" for the founder and the charter's stewards
	AdmittedBy peer.ID
	Joined     time.Time
	Steward    bool
	Founder    bool
	Removed    bool
	RemovedAt  time.Time
	RemovedBy  peer.ID
	Reason     string
}

type kind uint8

const (
	kindOther kind = iota
	kindAdmission
	kindRemoval
	kindSteward
	kindRevocation
)

// entry is a document reduced to what the roster rules read, so that the
// roster is rebuilt without decoding anything again.
type entry struct {
	id      record.ID
	author  peer.ID
	created int64
	nb      string
	kind    kind
	target  peer.ID   // the admitted, removed or (un)named member
	name    string    // admission: the joiner's name
	reason  string    // removal
	on      bool      // steward
	invite  record.ID // admission: its invite; revocation: the one revoked
	inv     *inviteFacts
}

// inviteFacts is what an admission's embedded invite says.
type inviteFacts struct {
	inviter          peer.ID
	created, expires int64
	uses             int
	nb               string
	charter          record.ID
}

func entryOf(d *Doc) entry {
	m := d.Payload
	e := entry{id: d.ID, author: d.Author, created: m.GetCreated(), nb: m.GetNeighborhood()}
	switch b := m.GetBody().(type) {
	case *pb.Doc_Admission:
		e.kind, e.target, e.name = kindAdmission, peer.ID(b.Admission.GetMember()), b.Admission.GetName()
		if d.Invite != nil {
			i := d.Invite.Payload.GetInvite()
			e.invite = d.Invite.ID
			e.inv = &inviteFacts{inviter: d.Invite.Author, created: d.Invite.Payload.GetCreated(), expires: i.GetExpires(),
				uses: int(i.GetUses()), nb: d.Invite.Payload.GetNeighborhood()}
			copy(e.inv.charter[:], i.GetCharter())
		}
	case *pb.Doc_Removal:
		e.kind, e.target, e.reason = kindRemoval, peer.ID(b.Removal.GetMember()), b.Removal.GetReason()
	case *pb.Doc_Steward:
		e.kind, e.target, e.on = kindSteward, peer.ID(b.Steward.GetMember()), b.Steward.GetSteward()
	case *pb.Doc_InviteRevocation:
		e.kind = kindRevocation
		copy(e.invite[:], b.InviteRevocation.GetInvite())
	}
	return e
}

// before orders documents: by created, then by ID.
func (e *entry) before(o *entry) bool {
	if e.created != o.created {
		return e.created < o.created
	}
	return bytes.Compare(e.id[:], o.id[:]) < 0
}

type revocation struct {
	revoker peer.ID
	steward bool // the revoker was a steward when it was applied
}

// roster is the state the documents applied so far make: a pure function
// of the charter and the documents, applied in order.
type roster struct {
	charterID record.ID
	nb        string
	founder   peer.ID
	inviteBy  string
	members   map[peer.ID]*Member
	// admission and stewardDoc are the documents that made a member one
	// and (last) a steward: the links of a Proof.
	admission  map[peer.ID]entry
	stewardDoc map[peer.ID]entry
	used       map[record.ID]int
	revoked    map[record.ID][]revocation
	last       entry // the last document applied or skipped
	hasLast    bool
}

// newRoster starts a roster from a charter (nil: nobody is a member).
func newRoster(charter *Doc) *roster {
	r := &roster{members: map[peer.ID]*Member{}, admission: map[peer.ID]entry{}, stewardDoc: map[peer.ID]entry{},
		used: map[record.ID]int{}, revoked: map[record.ID][]revocation{}}
	if charter == nil {
		return r
	}
	c := charter.Payload.GetCharter()
	r.charterID, r.nb, r.founder, r.inviteBy = charter.ID, charter.Neighborhood(), charter.Author, c.GetInviteBy()
	joined := charter.Created()
	r.members[charter.Author] = &Member{Peer: charter.Author, Joined: joined, Steward: true, Founder: true}
	for _, s := range c.GetStewards() {
		r.members[peer.ID(s)] = &Member{Peer: peer.ID(s), Joined: joined, Steward: true}
	}
	return r
}

func (r *roster) current(p peer.ID) *Member {
	if m := r.members[p]; m != nil && !m.Removed {
		return m
	}
	return nil
}

func (r *roster) isSteward(p peer.ID) bool {
	m := r.current(p)
	return m != nil && m.Steward
}

// isRevoked reports whether a revocation applied so far ends invite id of
// inviter: one by its inviter, or by a steward.
func (r *roster) isRevoked(id record.ID, inviter peer.ID) bool {
	for _, rv := range r.revoked[id] {
		if rv.steward || rv.revoker == inviter {
			return true
		}
	}
	return false
}

// apply judges e against the roster as it stands and, if it passes,
// applies it. Either way e becomes the last document seen. A non-nil
// error is a *record.Invalid saying why e was skipped.
func (r *roster) apply(e *entry) error {
	r.last, r.hasLast = *e, true
	if err := r.check(e); err != nil {
		return err
	}
	switch e.kind {
	case kindAdmission:
		r.members[e.target] = &Member{Peer: e.target, Name: e.name, InvitedBy: e.inv.inviter, AdmittedBy: e.author, Joined: time.UnixMilli(e.created)}
		r.admission[e.target] = *e
		r.used[e.invite]++
	case kindRemoval:
		m := r.members[e.target]
		m.Removed, m.RemovedAt, m.RemovedBy, m.Reason, m.Steward = true, time.UnixMilli(e.created), e.author, e.reason, false
	case kindSteward:
		r.members[e.target].Steward = e.on
		if e.on {
			r.stewardDoc[e.target] = *e
		}
	case kindRevocation:
		r.revoked[e.invite] = append(r.revoked[e.invite], revocation{revoker: e.author, steward: r.isSteward(e.author)})
	}
	return nil
}

// check is apply's judgement, changing nothing.
func (r *roster) check(e *entry) error {
	if r.founder == "" {
		return record.Invalidf(ReasonCharter, "the neighborhood's charter is not known yet")
	}
	if e.nb != r.nb {
		return record.Invalidf(record.ReasonNeighborhood, "document is for neighborhood %q, not %q", trunc(e.nb, 40), r.nb)
	}
	switch e.kind {
	case kindAdmission:
		return r.checkAdmission(e)
	case kindRemoval:
		if !r.isSteward(e.author) {
			return record.Invalidf(ReasonNotSteward, "only stewards may remove members; %s is not one", e.author)
		}
		if err := r.checkTarget(e.target); err != nil {
			return err
		}
		if e.target == r.founder {
			return record.Invalidf(ReasonFounder, "the founder cannot be removed")
		}
		if e.target == e.author {
			return record.Invalidf(ReasonSelf, "a steward cannot remove itself")
		}
	case kindSteward:
		if !r.isSteward(e.author) {
			return record.Invalidf(ReasonNotSteward, "only stewards may name or unname stewards; %s is not one", e.author)
		}
		if err := r.checkTarget(e.target); err != nil {
			return err
		}
		if !e.on && e.target == r.founder {
			return record.Invalidf(ReasonFounder, "the founder is always a steward")
		}
	case kindRevocation:
		if r.current(e.author) == nil {
			return r.notMember("revoker", e.author)
		}
	default:
		return record.Invalidf(record.ReasonMalformed, "not a document the roster applies")
	}
	return nil
}

func (r *roster) checkTarget(p peer.ID) error {
	if r.current(p) == nil {
		return r.notMember("member", p)
	}
	return nil
}

func (r *roster) notMember(role string, p peer.ID) error {
	if m := r.members[p]; m != nil && m.Removed {
		return record.Invalidf(ReasonRemoved, "the %s %s was removed at %s", role, p, m.RemovedAt.UTC().Format(time.RFC3339))
	}
	return record.Invalidf(ReasonNotMember, "the %s %s is not a member", role, p)
}

func (r *roster) checkAdmission(e *entry) error {
	if r.current(e.author) == nil {
		return r.notMember("admitting home", e.author)
	}
	inv := e.inv
	if inv == nil {
		return record.Invalidf(record.ReasonMissing, "admission without its invite")
	}
	if inv.nb != r.nb || inv.charter != r.charterID {
		return record.Invalidf(record.ReasonNeighborhood, "invite is for another neighborhood")
	}
	if r.current(inv.inviter) == nil {
		return r.notMember("inviter", inv.inviter)
	}
	if r.inviteBy == InviteByStewards && !r.isSteward(inv.inviter) {
		return record.Invalidf(ReasonInvitePolicy, "only stewards may invite in this neighborhood, and the inviter %s is not one", inv.inviter)
	}
	if e.created < inv.created {
		return record.Invalidf(record.ReasonTime, "admission is dated before its invite")
	}
	if e.created >= inv.expires {
		return record.Invalidf(ReasonInviteExpired, "invite expired at %s", time.UnixMilli(inv.expires).UTC().Format(time.RFC3339))
	}
	if r.isRevoked(e.invite, inv.inviter) {
		return record.Invalidf(ReasonInviteRevoked, "invite was revoked")
	}
	if n := r.used[e.invite]; n >= inv.uses {
		return record.Invalidf(ReasonInviteUsedUp, "invite is used up (%d of %d uses)", n, inv.uses)
	}
	if m := r.members[e.target]; m != nil {
		if m.Removed {
			return record.Invalidf(ReasonRemoved, "%s was removed and cannot be admitted again", e.target)
		}
		return record.Invalidf(ReasonAlreadyMember, "%s is already a member", e.target)
	}
	return nil
}
