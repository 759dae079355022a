package member

import (
	"testing"
	"time"

	"github.com/porchlight-mesh/porchlight/record"
)

// TestAuthorCap: one author cannot fill the neighborhood's documents: a
// member stores MaxMemberDocs and MaxMemberRevocations revocations of
// them, a steward MaxStewardDocs; past them, too_many_by_author. The
// founder is capped only by MaxDocs.
func TestAuthorCap(t *testing.T) {
	const m = time.Minute
	w := newWorld(t, InviteByAny)
	db, clk := openDB(t), &clock{t: t0.Add(2 * time.Hour)}
	s := w.serviceOn(t, db, w.founder, clk)
	ingestAll(t, s, raws(append([]*Doc{w.charter}, w.setup...)...))
	at := func(i int) time.Duration { return 5*m + time.Duration(i)*time.Millisecond }
	revoke := func(h home, i int) *Doc {
		var id record.ID
		id[0], id[1], id[2] = byte(i), byte(i>>8), 0xee
		return w.revoke(h, at(i), id)
	}
	// Revocations of invites that never existed: a member's stop at 20.
	for i := 0; i < MaxMemberRevocations; i++ {
		mustIngest(t, s, revoke(w.a, i))
	}
	if _, err := s.IngestDoc(revoke(w.a, MaxMemberRevocations).Raw); record.ReasonOf(err) != ReasonAuthorCap {
		t.Fatalf("revocation %d of a member: %v, want %s", MaxMemberRevocations+1, err, ReasonAuthorCap)
	}
	// Other documents, up to 100 in all.
	for i := MaxMemberRevocations; i < MaxMemberDocs; i++ {
		mustIngest(t, s, w.steward(w.a, at(i), w.b, true))
	}
	if _, err := s.IngestDoc(w.steward(w.a, at(MaxMemberDocs), w.b, true).Raw); record.ReasonOf(err) != ReasonAuthorCap {
		t.Fatalf("document %d of a member: %v, want %s", MaxMemberDocs+1, err, ReasonAuthorCap)
	}
	// A steward revokes more, up to 1,000 documents in all.
	for i := 0; i < MaxStewardDocs; i++ {
		mustIngest(t, s, revoke(w.s, i))
	}
	if _, err := s.IngestDoc(revoke(w.s, MaxStewardDocs).Raw); record.ReasonOf(err) != ReasonAuthorCap {
		t.Fatalf("document %d of a steward: %v, want %s", MaxStewardDocs+1, err, ReasonAuthorCap)
	}
	// The founder's are not capped: its node may admit a whole neighborhood.
	for i := 0; i <= MaxStewardDocs; i++ {
		mustIngest(t, s, revoke(w.founder, i))
	}
	// Others still get in, and the counts survive a restart.
	mustIngest(t, s, w.steward(w.founder, 6*m, w.b, true))
	if !isSteward(s, w.b.id) {
		t.Fatal("the founder's naming did not apply")
	}
	again := w.serviceOn(t, db, w.founder, clk)
	if _, err := again.IngestDoc(w.steward(w.a, at(MaxMemberDocs), w.b, true).Raw); record.ReasonOf(err) != ReasonAuthorCap {
		t.Fatalf("after a restart, document %d of a member: %v, want %s", MaxMemberDocs+1, err, ReasonAuthorCap)
	}
}
