package member

import (
	"bytes"
	"sort"
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
	keep    []record.ID // removal, unnaming: the target's documents kept
}

// reduces reports whether e takes power away (a removal, an unnaming), and
// so voids the documents of its target it does not keep.
func (e *entry) reduces() bool {
	return e.kind == kindRemoval || (e.kind == kindSteward && !e.on)
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
		e.keep = keepOf(b.Removal.GetKeep())
	case *pb.Doc_Steward:
		e.kind, e.target, e.on = kindSteward, peer.ID(b.Steward.GetMember()), b.Steward.GetSteward()
		e.keep = keepOf(b.Steward.GetKeep())
	case *pb.Doc_InviteRevocation:
		e.kind = kindRevocation
		copy(e.invite[:], b.InviteRevocation.GetInvite())
	}
	return e
}

func keepOf(ids [][]byte) []record.ID {
	if len(ids) == 0 {
		return nil
	}
	out := make([]record.ID, len(ids))
	for i, id := range ids {
		copy(out[i][:], id)
	}
	return out
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
	// charterStewards are the founder and the charter's stewards.
	charterStewards map[peer.ID]bool
	last            entry // the last document applied or skipped
	hasLast         bool
	// void holds the documents that a removal or unnaming of their author
	// did not keep (see build); they are skipped.
	void map[record.ID]bool
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
	r.charterStewards = map[peer.ID]bool{charter.Author: true}
	for _, s := range c.GetStewards() {
		r.members[peer.ID(s)] = &Member{Peer: peer.ID(s), Joined: joined, Steward: true}
		r.charterStewards[peer.ID(s)] = true
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
	if r.void[e.id] {
		return record.Invalidf(ReasonVoid, "a later removal or unnaming of %s did not keep this document", e.author)
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

// build computes the roster that the charter and es (in roster order)
// make, voiding what removals and unnamings did not keep.
//
// A reduction R (a removal, an unnaming) of member X voids void(R): the
// documents X signed that are ordered before R and not in R.keep (those
// ordered after it are judged by the usual rules: after a removal none
// counts). Whether R applies depends on documents that other reductions
// may void, so reductions are decided one at a time, the most senior
// author's first:
//
//  1. Pass 1 applies every document by the usual rules, voiding nothing.
//     A reduction's seniority is its author's: the founder, then the
//     charter's stewards, then stewards named by a naming that applied in
//     pass 1 before the reduction, by the position of the first such
//     naming (earlier is more senior: removed or unnamed since, or not),
//     then authors that a naming that did not apply names. Ties go by
//     position. A reduction by an author no naming before it names cannot
//     apply and is not decided.
//  2. V, the void set, starts empty. For each reduction R in that order,
//     unless R is in V or set aside: R stands if void(R) holds no
//     reduction that stood before it and R applies in the roster computed
//     with V ∪ void(R) voided; then V = V ∪ void(R).
//  3. The roster is computed with V voided; there a reduction applies only
//     if void(R) ⊆ V, so none takes effect without its voids.
//  4. If a reduction that stood in 2 does not apply in 3 (one decided after
//     it voided what it rested on), it is set aside for good and 2 and 3
//     are done again; each round sets one aside at least, so this ends.
//
// So a steward removed or unnamed by a more senior one cannot undo it with
// documents dated earlier (they are void), nor with later ones (it is no
// steward then, and a reduction of its remover that would void the
// removal does not stand). Every step is a function of the documents
// alone: every node that holds the same documents computes the same
// roster. Its cost is one roster computation per reduction that voids
// something, and one or two more.
func build(charter *Doc, es []entry) (*roster, []error) {
	var reductions []int
	byAuthor := map[peer.ID][]int{}
	for i := range es {
		byAuthor[es[i].author] = append(byAuthor[es[i].author], i)
		if es[i].reduces() {
			reductions = append(reductions, i)
		}
	}
	if len(reductions) == 0 {
		return run(charter, es, nil, nil)
	}
	rank, plain := seniority(charter, es)
	sort.Slice(reductions, func(a, b int) bool {
		x, y := rank[reductions[a]], rank[reductions[b]]
		for k := range x {
			if x[k] != y[k] {
				return x[k] < y[k]
			}
		}
		return false
	})
	voidOf := func(i int) []record.ID {
		e := &es[i]
		var out []record.ID
		for _, j := range byAuthor[e.target] {
			if j < i && !e.keeps(es[j].id) {
				out = append(out, es[j].id)
			}
		}
		return out
	}
	aside := map[int]bool{}
	for {
		void := map[record.ID]bool{}
		var stood []int
		errs := plain // of the run with void voided
		for _, i := range reductions {
			if aside[i] || void[es[i].id] || rank[i][0] == 4 {
				continue
			}
			var more []record.ID
			for _, id := range voidOf(i) {
				if !void[id] {
					more = append(more, id)
				}
			}
			if len(more) == 0 { // V is unchanged: so is the roster
				if errs[i] == nil {
					stood = append(stood, i)
				}
				continue
			}
			tried := make(map[record.ID]bool, len(void)+len(more))
			for id := range void {
				tried[id] = true
			}
			for _, id := range more {
				tried[id] = true
			}
			if voidsOneOf(more, es, stood) {
				continue // a reduction that stood before is not voided by one decided after
			}
			if _, e := run(charter, es, tried, nil); e[i] == nil {
				void, errs = tried, e
				stood = append(stood, i)
			}
		}
		r, errs := run(charter, es, void, func(i int) bool {
			for _, id := range voidOf(i) {
				if !void[id] {
					return false
				}
			}
			return true
		})
		again := false
		for _, i := range stood {
			if errs[i] != nil {
				aside[i], again = true, true
			}
		}
		if !again {
			return r, errs
		}
	}
}

// seniority is pass 1 of build: it applies es voiding nothing and ranks
// each reduction by its author's seniority there (lower is more senior;
// ties by position), and returns why each document was skipped.
func seniority(charter *Doc, es []entry) (rank [][3]int, errs []error) {
	r := newRoster(charter)
	named := map[peer.ID]int{}  // position of each author's first naming
	tried := map[peer.ID]bool{} // authors named by a document, applied or not
	rank = make([][3]int, len(es))
	errs = make([]error, len(es))
	for i := range es {
		e := &es[i]
		if e.reduces() {
			switch n, ok := named[e.author]; {
			case e.author == r.founder:
				rank[i] = [3]int{0, 0, i}
			case ok:
				rank[i] = [3]int{2, n, i}
			case r.charterSteward(e.author):
				rank[i] = [3]int{1, 0, i}
			case tried[e.author]:
				rank[i] = [3]int{3, 0, i} // a naming that may apply once some documents are void
			default:
				rank[i] = [3]int{4, 0, i} // never named: it cannot apply
			}
		}
		errs[i] = r.apply(e)
		if e.kind == kindSteward && e.on {
			tried[e.target] = true
			if _, ok := named[e.target]; !ok && errs[i] == nil {
				named[e.target] = i
			}
		}
	}
	return rank, errs
}

// run applies es in order to a roster from charter, skipping the documents
// in void and the reductions that allVoid(i) rejects (nil: none). errs[i]
// says why es[i] was skipped (nil: applied).
func run(charter *Doc, es []entry, void map[record.ID]bool, allVoid func(i int) bool) (*roster, []error) {
	r := newRoster(charter)
	r.void = void
	errs := make([]error, len(es))
	for i := range es {
		if allVoid != nil && es[i].reduces() && r.check(&es[i]) == nil && !allVoid(i) {
			r.last, r.hasLast = es[i], true
			errs[i] = record.Invalidf(ReasonVoid, "set aside: a removal or unnaming applies only with the documents it voids void, and a later one kept some")
			continue
		}
		errs[i] = r.apply(&es[i])
	}
	return r, errs
}

// voidsOneOf reports whether ids holds the document of one of es[at].
func voidsOneOf(ids []record.ID, es []entry, at []int) bool {
	for _, i := range at {
		for _, id := range ids {
			if es[i].id == id {
				return true
			}
		}
	}
	return false
}

// charterSteward reports whether p is the founder or one of the charter's
// stewards.
func (r *roster) charterSteward(p peer.ID) bool {
	return r.charterStewards[p]
}

// keeps reports whether reduction e keeps document id of its target.
func (e *entry) keeps(id record.ID) bool {
	for _, k := range e.keep {
		if k == id {
			return true
		}
	}
	return false
}
