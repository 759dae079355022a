package member

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/porchlight-mesh/porchlight/record"
	"github.com/porchlight-mesh/porchlight/store"
)

func isUnknown(err error) bool { return errors.Is(err, ErrUnknown) }

// TestFoundInviteAdmit: the founder invites, the invite string round-trips,
// and the founder admits the joiner with its claim.
func TestFoundInviteAdmit(t *testing.T) {
	f := newFixture(t, InviteByAny)
	clk := &clock{t: t0.Add(time.Minute)}
	s := f.service(t, f.founder, clk)
	if _, err := s.IngestDoc(f.charter.Raw); err != nil {
		t.Fatal(err)
	}
	if !s.IsMember(f.founder.id) {
		t.Fatal("the founder is not a member")
	}
	inv, err := s.CreateInvite(0, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := ParseInvite(inv.String(), clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	if parsed.ID != inv.ID || parsed.Inviter != f.founder.id || parsed.Neighborhood != f.nb || parsed.Uses != 1 {
		t.Fatalf("parsed %+v, made %+v", parsed, inv)
	}
	joiner := newHome(t)
	if _, err := s.Admit(parsed.Doc, parsed.Claim(joiner.id), joiner.id, "14 Maple St"); err != nil {
		t.Fatal(err)
	}
	if !s.IsMember(joiner.id) {
		t.Fatal("the joiner is not a member")
	}
}

// member is a running home of a world: its service, on its own database.
func (w *world) started(t *testing.T, h home, clk *clock) *Service {
	t.Helper()
	s := w.service(t, h, clk)
	ingestAll(t, s, raws(append([]*Doc{w.charter}, w.setup...)...))
	return s
}

// TestIngestPolicy: what a node stores of what peers send it.
func TestIngestPolicy(t *testing.T) {
	const m = time.Minute
	w := newWorld(t, InviteByAny)
	clk := &clock{t: t0.Add(time.Hour)}
	s := w.service(t, w.founder, clk)

	// Before the charter, nothing is known.
	if _, err := s.IngestDoc(w.setup[0].Raw); !errors.Is(err, ErrUnknown) {
		t.Fatalf("an admission before the charter: %v, want ErrUnknown", err)
	}
	// A forged charter (another ID, same name) is not this neighborhood's.
	forged := newFixture(t, InviteByAny)
	if _, err := s.IngestDoc(forged.charter.Raw); !errors.Is(err, ErrUnknown) {
		t.Fatalf("a forged charter: %v, want ErrUnknown", err)
	}
	if s.Charter() != nil || s.IsMember(forged.founder.id) {
		t.Fatal("the forged charter was taken")
	}
	ingestAll(t, s, raws(append([]*Doc{w.charter}, w.setup...)...))
	if added, err := s.IngestDoc(w.charter.Raw); added || err != nil {
		t.Fatalf("the charter again: added %v, %v", added, err)
	}
	// Documents of the forged charter's neighborhood are refused.
	fi := forged.invite(forged.founder, 5*m, time.Hour, 1)
	if _, err := s.IngestDoc(forged.admit(forged.founder, 6*m, fi, w.x).Raw); record.ReasonOf(err) != record.ReasonNeighborhood {
		t.Fatalf("an admission of the forged neighborhood: %v, want %s", err, record.ReasonNeighborhood)
	}
	// A non-member's document is held, not stored.
	if _, err := s.IngestDoc(w.remove(w.x, 5*m, w.a).Raw); !errors.Is(err, ErrUnknown) {
		t.Fatalf("a non-member's document: %v, want ErrUnknown", err)
	}
	// An invite travels inside admissions only.
	if _, err := s.IngestDoc(w.invite(w.a, 5*m, time.Hour, 1).doc.Raw); record.ReasonOf(err) != record.ReasonMalformed {
		t.Fatalf("a bare invite: %v, want %s", err, record.ReasonMalformed)
	}
	// A removed member's documents: those dated before the removal are
	// stored (they may be late), those after are refused.
	mustIngest(t, s, w.remove(w.founder, 10*m, w.a))
	before := w.steward(w.a, 9*m, w.b, true)
	mustIngest(t, s, before)
	if _, err := s.IngestDoc(w.steward(w.a, 10*m, w.b, true).Raw); record.ReasonOf(err) != ReasonRemoved {
		t.Fatalf("a removed member's later document: %v, want %s", err, ReasonRemoved)
	}
	ids, _ := s.DocIDs()
	if len(ids) != 5 {
		t.Fatalf("%d documents stored, want 5 (charter, 2 admissions, removal, a's earlier document)", len(ids))
	}
}

func mustIngest(t *testing.T, s *Service, d *Doc) {
	t.Helper()
	if added, err := s.IngestDoc(d.Raw); !added || err != nil {
		t.Fatalf("ingest %s: added %v, %v", d.Kind(), added, err)
	}
}

// TestDocCap: MaxDocs documents are stored, and no more.
func TestDocCap(t *testing.T) {
	const m = time.Minute
	w := newWorld(t, InviteByAny)
	s, err := New(Config{Store: openDB(t), Charter: w.charter.ID, Key: w.founder.key, Now: (&clock{t: t0.Add(time.Hour)}).Now, Logger: quiet, MaxDocs: 4})
	if err != nil {
		t.Fatal(err)
	}
	ingestAll(t, s, raws(append([]*Doc{w.charter}, w.setup...)...))
	mustIngest(t, s, w.steward(w.founder, 5*m, w.a, true)) // the 4th: at the cap
	if _, err := s.IngestDoc(w.steward(w.founder, 6*m, w.b, true).Raw); !errors.Is(err, ErrFull) {
		t.Fatalf("past the cap: %v, want ErrFull", err)
	}
	if _, err := New(Config{Store: openDB(t), Charter: w.charter.ID, Key: w.founder.key}); err != nil {
		t.Fatal(err)
	}
	if got := DefaultMaxDocs; got != 20_000 {
		t.Fatalf("DefaultMaxDocs %d, want 20,000", got)
	}
}

// TestCheckAuthor: a member's records pass; a removed member's pass only
// if made before its removal; a stranger's are unknown.
func TestCheckAuthor(t *testing.T) {
	w := newWorld(t, InviteByAny)
	s := w.started(t, w.founder, &clock{t: t0.Add(time.Hour)})
	at := w.at(10 * time.Minute)
	if err := s.CheckAuthor(w.a.id, at); err != nil {
		t.Fatalf("a member before removal: %v", err)
	}
	if err := s.CheckAuthor(w.x.id, at); !errors.Is(err, ErrUnknown) {
		t.Fatalf("a stranger: %v, want ErrUnknown", err)
	}
	mustIngest(t, s, w.remove(w.founder, 10*time.Minute, w.a))
	if err := s.CheckAuthor(w.a.id, at.Add(-time.Millisecond)); err != nil {
		t.Fatalf("a removed member's earlier record: %v", err)
	}
	for _, c := range []time.Time{at, at.Add(time.Hour)} {
		if err := s.CheckAuthor(w.a.id, c); record.ReasonOf(err) != ReasonRemoved {
			t.Fatalf("a removed member's record at %s: %v, want %s", c, err, ReasonRemoved)
		}
	}
	if s.IsMember(w.a.id) {
		t.Fatal("a removed member is a member")
	}
}

// TestPersistence: a restarted service has the same roster and charter
// from table M, and its invites from table N, which never holds a secret.
func TestPersistence(t *testing.T) {
	w := newWorld(t, InviteByAny)
	clk := &clock{t: t0.Add(time.Hour)}
	db := openDB(t)
	s := w.serviceOn(t, db, w.founder, clk)
	ingestAll(t, s, raws(append([]*Doc{w.charter}, w.setup...)...))
	inv, err := s.CreateInvite(time.Hour, 3, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Admit(inv.Doc, inv.Claim(w.x.id), w.x.id, "x"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Remove(w.a.id, "moved"); err != nil {
		t.Fatal(err)
	}
	want := s.Roster()
	again := w.serviceOn(t, db, w.founder, clk)
	if got := again.Roster(); !reflect.DeepEqual(got, want) {
		t.Fatalf("after restart\n%+v\nwant\n%+v", got, want)
	}
	if again.Charter() == nil || again.Charter().ID != w.charter.ID {
		t.Fatal("the charter is lost on restart")
	}
	infos, err := again.Invites()
	if err != nil || len(infos) != 1 || infos[0].ID != inv.ID.String() || infos[0].Used != 1 || infos[0].Uses != 3 || infos[0].Revoked {
		t.Fatalf("invites after restart: %+v, %v", infos, err)
	}
	vals, err := store.ScanAll(db, store.OwnInvites, nil, func(_, v []byte) ([]byte, error) { return v, nil })
	if err != nil || len(vals) != 1 {
		t.Fatalf("table N: %d entries, %v", len(vals), err)
	}
	if bytes.Contains(vals[0], inv.Secret.Seed()) || bytes.Contains(vals[0], inv.Secret) {
		t.Fatal("table N holds the invite's secret")
	}
}

// TestActions: each action checks this node may take it, with a clear
// error, and OnChange follows every change of the roster.
func TestActions(t *testing.T) {
	w := newWorld(t, InviteByAny)
	clk := &clock{t: t0.Add(time.Hour)}
	changes := 0
	s, err := New(Config{Store: openDB(t), Charter: w.charter.ID, Key: w.founder.key, Now: clk.Now, Logger: quiet, OnChange: func() { changes++ }})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateInvite(0, 0, nil); err == nil || !strings.Contains(err.Error(), "charter has not arrived") {
		t.Fatalf("an invite before the charter: %v", err)
	}
	ingestAll(t, s, raws(append([]*Doc{w.charter}, w.setup...)...))
	if changes != 3 {
		t.Fatalf("OnChange called %d times for 3 documents", changes)
	}
	a := w.started(t, w.a, clk) // a member, not a steward
	for _, c := range []struct {
		name string
		err  error
		want string
	}{
		{"remove", second(a.Remove(w.b.id, "")), "only stewards may remove members"},
		{"steward", second(a.SetSteward(w.b.id, true)), "only stewards may name or unname stewards"},
		{"remove the founder", second(s.Remove(w.founder.id, "")), "the founder cannot be removed"},
		{"unname the founder", second(s.SetSteward(w.founder.id, false)), "the founder is always a steward"},
		{"remove oneself (steward)", second(s.Remove(w.founder.id, "")), "founder"},
		{"remove a stranger", second(s.Remove(w.x.id, "")), "is not a member"},
		{"revoke another's invite", second(a.RevokeInvite(strings.Repeat("ab", 32))), "only the inviter or a steward may revoke an invite"},
		{"revoke by a short prefix", second(a.RevokeInvite("abc")), "at least 8"},
		{"too many uses", second2(s.CreateInvite(time.Hour, 101, nil)), "1 to 100"},
		{"too long", second2(s.CreateInvite(31*24*time.Hour, 1, nil)), "30"},
	} {
		if c.err == nil || !strings.Contains(c.err.Error(), c.want) {
			t.Errorf("%s: %v, want an error saying %q", c.name, c.err, c.want)
		}
	}
	if err := second(a.Remove(w.b.id, "")); !errors.Is(err, ErrNotAllowed) {
		t.Errorf("a non-steward's removal: %v, want ErrNotAllowed", err)
	}
	stranger := w.service(t, w.x, clk)
	ingestAll(t, stranger, raws(w.charter))
	if _, err := stranger.CreateInvite(0, 0, nil); !errors.Is(err, ErrNotAllowed) {
		t.Errorf("a stranger's invite: %v, want ErrNotAllowed", err)
	}
	before := changes
	d, err := s.SetSteward(w.a.id, true)
	if err != nil || changes != before+1 || !isSteward(s, w.a.id) {
		t.Fatalf("name a steward: %v, %d changes", err, changes-before)
	}
	mustIngest(t, a, d)
	if _, err := a.Remove(w.b.id, "noise"); err != nil {
		t.Fatalf("a named steward's removal: %v", err)
	}

	// Stewards-only invites.
	ws := newWorld(t, InviteByStewards)
	b := ws.started(t, ws.b, clk)
	if _, err := b.CreateInvite(0, 0, nil); err == nil || err.Error() != "only stewards may invite in this neighborhood" {
		t.Fatalf("a member's invite under a stewards charter: %v", err)
	}
}

func isSteward(s *Service, p peer.ID) bool {
	for _, m := range s.Roster() {
		if m.Peer == p {
			return m.Steward
		}
	}
	return false
}

func second(_ *Doc, err error) error     { return err }
func second2(_ *Invite, err error) error { return err }

// TestAdmitRefuses: Admit refuses every bad invite and claim with its
// reason, and stores nothing.
func TestAdmitRefuses(t *testing.T) {
	const m = time.Minute
	w := newWorld(t, InviteByAny)
	clk := &clock{t: t0.Add(time.Hour)}
	s := w.started(t, w.founder, clk)
	fresh := func(uses int) *Invite {
		inv, err := s.CreateInvite(time.Hour, uses, nil)
		if err != nil {
			t.Fatal(err)
		}
		return inv
	}
	used := fresh(1)
	if _, err := s.Admit(used.Doc, used.Claim(newHome(t).id), "", ""); err == nil {
		t.Fatal("admitted an empty peer ID")
	}
	j := newHome(t)
	if _, err := s.Admit(used.Doc, used.Claim(j.id), j.id, "j"); err != nil {
		t.Fatal(err)
	}
	revoked := fresh(2)
	if _, err := s.RevokeInvite(revoked.ID.String()[:10]); err != nil {
		t.Fatal(err)
	}
	expired := fresh(1)
	tampered := fresh(1)
	tampered.Doc = append([]byte{}, tampered.Doc...)
	tampered.Doc[len(tampered.Doc)-1] ^= 1
	other := newFixture(t, InviteByAny)
	otherInv := other.invite(other.founder, 5*m, time.Hour, 1)
	aInv := w.invite(w.a, 50*m, time.Hour, 1)
	x := newHome(t)
	stewardsOnly := newWorld(t, InviteByStewards)
	sv := stewardsOnly.started(t, stewardsOnly.founder, clk)
	byMember := stewardsOnly.invite(stewardsOnly.a, 50*m, time.Hour, 1)

	cases := []struct {
		name   string
		s      *Service
		invite []byte
		claim  []byte
		reason record.Reason
		later  bool
	}{
		{"used up", s, used.Doc, used.Claim(x.id), ReasonInviteUsedUp, false},
		{"revoked", s, revoked.Doc, revoked.Claim(x.id), ReasonInviteRevoked, false},
		{"tampered", s, tampered.Doc, tampered.Claim(x.id), record.ReasonSignature, false},
		{"other neighborhood", s, otherInv.doc.Raw, claimOf(otherInv, x), record.ReasonNeighborhood, false},
		{"claim for another home", s, aInv.doc.Raw, claimOf(aInv, w.b), ReasonClaim, false},
		{"inviter may not invite", sv, byMember.doc.Raw, claimOf(byMember, x), ReasonInvitePolicy, false},
		{"expired", s, expired.Doc, expired.Claim(x.id), ReasonInviteExpired, true},
	}
	for _, c := range cases {
		if c.later {
			clk.Set(clk.Now().Add(2 * time.Hour))
		}
		before, _ := c.s.DocIDs()
		_, err := c.s.Admit(c.invite, c.claim, x.id, "x")
		if record.ReasonOf(err) != c.reason {
			t.Errorf("%s: %v, want reason %s", c.name, err, c.reason)
		}
		after, _ := c.s.DocIDs()
		if len(after) != len(before) || c.s.IsMember(x.id) {
			t.Errorf("%s: something was stored", c.name)
		}
	}
}

func claimOf(inv invite, joiner home) []byte {
	return ed25519.Sign(inv.secret, claimMessage(inv.doc.ID, joiner.id))
}

// TestProof: a member's proof is the charter and its admission chain, in
// an order a node that knows nothing ingests one by one.
func TestProof(t *testing.T) {
	const m = time.Minute
	w := newWorld(t, InviteByStewards)
	clk := &clock{t: t0.Add(time.Hour)}
	// a is named steward, invites; b admits x; x's proof must carry the
	// steward document too.
	ia := w.invite(w.a, 6*m, time.Hour, 1)
	extra := []*Doc{w.steward(w.founder, 5*m, w.a, true), w.admit(w.b, 7*m, ia, w.x), w.remove(w.founder, 8*m, w.s)}
	x := w.service(t, w.x, clk)
	ingestAll(t, x, raws(append(append([]*Doc{w.charter}, w.setup...), extra...)...))
	proof := x.Proof()
	if len(proof) != 5 { // charter, adm(a), adm(b), steward(a), adm(x)
		t.Fatalf("proof of %d documents, want 5", len(proof))
	}
	fresh := w.service(t, w.founder, clk)
	for i, raw := range proof {
		if _, err := fresh.IngestDoc(raw); err != nil {
			t.Fatalf("proof document %d: %v", i, err)
		}
	}
	if !fresh.IsMember(w.x.id) {
		t.Fatal("the proof does not make x a member")
	}
	// Two levels: a names b steward, b invites y, x admits y. y's proof
	// carries the document naming b, and the one naming a (its author).
	y := newHome(t)
	ib := w.invite(w.b, 9*m, time.Hour, 1)
	more := []*Doc{w.steward(w.a, 8*m+30*time.Second, w.b, true), w.admit(w.x, 10*m, ib, y)}
	ys := w.service(t, y, clk)
	ingestAll(t, ys, raws(append(append(append([]*Doc{w.charter}, w.setup...), extra...), more...)...))
	yproof := ys.Proof()
	if len(yproof) != 7 { // charter, adm(a), adm(b), steward(a), adm(x), steward(b), adm(y)
		t.Fatalf("y's proof of %d documents, want 7", len(yproof))
	}
	fresh = w.service(t, w.founder, clk)
	for i, raw := range yproof {
		if _, err := fresh.IngestDoc(raw); err != nil {
			t.Fatalf("y's proof document %d: %v", i, err)
		}
	}
	if !fresh.IsMember(y.id) {
		t.Fatal("the proof does not make y a member")
	}
	if got := len(w.service(t, w.founder, clk).Proof()); got != 0 {
		t.Fatalf("a proof of %d documents before the charter", got)
	}
	f := w.started(t, w.founder, clk)
	if p := f.Proof(); len(p) != 1 || !bytes.Equal(p[0], w.charter.Raw) {
		t.Fatalf("the founder's proof is %d documents, want the charter", len(p))
	}
}

// TestRevokeInvite: the inviter revokes its own invite by a prefix; a
// steward revokes another member's invite, known from an admission or
// named in full; the revocation ends the remaining uses everywhere.
func TestRevokeInvite(t *testing.T) {
	w := newWorld(t, InviteByAny)
	clk := &clock{t: t0.Add(time.Hour)}
	a := w.started(t, w.a, clk)
	f := w.started(t, w.founder, clk)
	own, err := a.CreateInvite(time.Hour, 3, nil)
	if err != nil {
		t.Fatal(err)
	}
	d, err := a.RevokeInvite(strings.ToUpper(own.ID.String()[:8]))
	if err != nil {
		t.Fatal(err)
	}
	infos, _ := a.Invites()
	if len(infos) != 1 || !infos[0].Revoked {
		t.Fatalf("invites after revoking: %+v", infos)
	}
	mustIngest(t, f, d)
	y := newHome(t)
	if _, err := f.Admit(own.Doc, own.Claim(y.id), y.id, ""); record.ReasonOf(err) != ReasonInviteRevoked {
		t.Fatalf("admission with a revoked invite: %v", err)
	}

	// The founder (a steward) revokes a's second invite, seen in an
	// admission, by a prefix; and an invite it never saw, by its full ID.
	second, _ := a.CreateInvite(time.Hour, 3, nil)
	if _, err := f.Admit(second.Doc, second.Claim(y.id), y.id, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := f.RevokeInvite(second.ID.String()[:12]); err != nil {
		t.Fatal(err)
	}
	z := newHome(t)
	if _, err := f.Admit(second.Doc, second.Claim(z.id), z.id, ""); record.ReasonOf(err) != ReasonInviteRevoked {
		t.Fatalf("admission with an invite a steward revoked: %v", err)
	}
	third, _ := a.CreateInvite(time.Hour, 3, nil)
	if _, err := f.RevokeInvite(third.ID.String()[:12]); err == nil {
		t.Fatal("revoked an unseen invite by a prefix")
	}
	if _, err := f.RevokeInvite(third.ID.String()); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Admit(third.Doc, third.Claim(z.id), z.id, ""); record.ReasonOf(err) != ReasonInviteRevoked {
		t.Fatalf("admission with an invite revoked before it was seen: %v", err)
	}
}
