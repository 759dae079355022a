package store_test

import (
	"errors"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/porchlight-mesh/porchlight/record"
	"github.com/porchlight-mesh/porchlight/store"
)

// minute returns the Unix ms of base + m minutes (the created time of the
// test logs' seq m).
func minute(m float64) int64 { return base.Add(time.Duration(m * float64(time.Minute))).UnixMilli() }

func head(t *testing.T, db *store.DB, a peer.ID) store.Head {
	t.Helper()
	h, err := db.Head(a)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// A newcomer's copy of a log starts at a floor and is backfilled newest
// first, each record checked against the prev of the one above it.
func TestIngestStartAndBackfill(t *testing.T) {
	db := openDB(t, store.Config{})
	a := newAuthor(t, 1)
	for range 10 {
		a.post("p")
	}
	if _, err := db.IngestStart(a.log[5]); err != nil { // seq 6
		t.Fatal(err)
	}
	h := head(t, db, a.id)
	if h.Contig != 6 || h.Floor != 6 || h.FloorCreated != minute(6) || h.ID != a.log[5].ID {
		t.Fatalf("after IngestStart: %+v", h)
	}
	for _, s := range a.log[6:] {
		mustIngest(t, db, s, added)
	}
	if h := head(t, db, a.id); h.Contig != 10 || h.Floor != 6 {
		t.Fatalf("after the records above: Contig %d Floor %d, want 10 and 6", h.Contig, h.Floor)
	}
	checkFeed(t, db, a.log[9], a.log[8], a.log[7], a.log[6], a.log[5])
	if !head(t, db, a.id).BackfillDone(minute(6.5)) || head(t, db, a.id).BackfillDone(minute(5.5)) {
		t.Fatal("BackfillDone: the floor's record (minute 6) is before a horizon at 6.5 and not before one at 5.5")
	}

	// Not just below the floor: refused, nothing stored.
	if _, err := db.IngestBelow(a.log[3]); record.ReasonOf(err) != record.ReasonPrevMismatch {
		t.Fatalf("IngestBelow(seq 4) with the floor at 6: %v, want prev mismatch", err)
	}
	checkNoRecord(t, db, a.log[3].ID)
	// Another record signed at seq 5 (the author's fork, or any record a
	// peer holds of it): not the prev of seq 6, refused.
	fork := a.sign(5, a.log[3].ID, withText("other"))
	if _, err := db.IngestBelow(fork); record.ReasonOf(err) != record.ReasonPrevMismatch {
		t.Fatalf("IngestBelow(a fork at seq 5): %v, want prev mismatch", err)
	}
	checkNoRecord(t, db, fork.ID)
	for i := 4; i >= 0; i-- {
		if res, err := db.IngestBelow(a.log[i]); err != nil || res.Outcome != store.Added {
			t.Fatalf("IngestBelow(seq %d) = %+v, %v", i+1, res, err)
		}
	}
	if h := head(t, db, a.id); h.Floor != 0 || h.Contig != 10 {
		t.Fatalf("backfilled to seq 1: Floor %d Contig %d, want 0 and 10", h.Floor, h.Contig)
	}
	if got := len(allSlots(t, db, a.id)); got != 10 {
		t.Fatalf("%d slots, want 10", got)
	}
	// A log held from seq 1 takes no start and no record below.
	b := newAuthor(t, 2)
	mustIngest(t, db, b.post("1"), added)
	b.post("2")
	if _, err := db.IngestStart(b.log[1]); err != nil {
		t.Fatal(err)
	}
	if h := head(t, db, b.id); h.Floor != 0 || h.Contig != 2 {
		t.Fatalf("IngestStart on a log held from seq 1: Floor %d Contig %d", h.Floor, h.Contig)
	}
}

// A stub below a floor is taken only with the author's retraction of
// exactly that record: a peer cannot make a node drop a record inside its
// horizon by serving a stub for it.
func TestStubBelowFloorNeedsRetraction(t *testing.T) {
	db := openDB(t, store.Config{})
	a := newAuthor(t, 1)
	p1, p2, p3 := a.post("1"), a.post("2"), a.post("3")
	r := a.next(retracting(p2))
	if _, err := db.IngestStart(p3); err != nil {
		t.Fatal(err)
	}
	// No retraction held: a stub for p2 is refused.
	if ok, err := db.IngestStub(a.id, 2, p2.ID); err != nil || ok {
		t.Fatalf("IngestStub without the retraction = %v, %v; want refused", ok, err)
	}
	mustIngest(t, db, r, added)
	if ok, err := db.IngestStub(a.id, 2, p1.ID); err != nil || ok {
		t.Fatalf("IngestStub naming another record = %v, %v; want refused", ok, err)
	}
	if ok, err := db.IngestStub(a.id, 2, p2.ID); err != nil || !ok {
		t.Fatalf("IngestStub with the retraction = %v, %v; want stored", ok, err)
	}
	if h := head(t, db, a.id); h.Floor != 2 || h.FloorCreated != 0 || h.BackfillDone(minute(100)) {
		t.Fatalf("after the stub: %+v; want floor 2, its time unknown, backfill not done", h)
	}
	// Below a purged slot there is no prev to check against: the record
	// is taken on its author's signature and seq.
	if _, err := db.IngestBelow(p1); err != nil {
		t.Fatal(err)
	}
	if h := head(t, db, a.id); h.Floor != 0 || h.Contig != 4 {
		t.Fatalf("after seq 1: %+v", h)
	}
	checkFeed(t, db, p3, p1)
}

// HorizonStart and SlotsBelow: what a responder serves a newcomer.
func TestHorizonStartAndSlotsBelow(t *testing.T) {
	db := openDB(t, store.Config{})
	a := newAuthor(t, 1)
	for range 10 {
		mustIngest(t, db, a.post("p"), added)
	}
	for _, c := range []struct {
		name    string
		horizon int64
		want    uint64
	}{
		{"all older", minute(100), 10},
		{"mid-log", minute(6.5), 6},
		{"none older", minute(0.5), 0},
		{"only seq 1 older", minute(1.5), 0}, // seq 1: serve from the start
	} {
		if got, err := db.HorizonStart(a.id, c.horizon, 100); err != nil || got != c.want {
			t.Errorf("%s: HorizonStart = %d, %v; want %d", c.name, got, err, c.want)
		}
	}
	// A walk of 3 slots that finds no record older than the horizon: it
	// starts at the lowest read, and the requester backfills the rest.
	if got, err := db.HorizonStart(a.id, minute(1.5), 3); err != nil || got != 8 {
		t.Errorf("HorizonStart(seq 1 older, limit 3) = %d, %v; want 8", got, err)
	}
	// An ancient horizon: seq 1 is inside it, so the log is served whole
	// from seq 1, without a walk.
	if got, err := db.HorizonStart(a.id, 1, 3); err != nil || got != 0 {
		t.Errorf("HorizonStart(ancient, limit 3) = %d, %v; want 0", got, err)
	}
	slots, err := db.SlotsBelow(a.id, 8, minute(4.5), 100, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	var seqs []uint64
	for _, s := range slots {
		seqs = append(seqs, s.Seq)
	}
	if len(seqs) != 4 || seqs[0] != 7 || seqs[3] != 4 {
		t.Fatalf("SlotsBelow(8, horizon 4.5) = %v, want 7 6 5 4 (4 is the first before the horizon)", seqs)
	}
	if slots, _ := db.SlotsBelow(a.id, 8, minute(4.5), 2, 1<<20); len(slots) != 2 {
		t.Fatalf("SlotsBelow with maxCount 2: %d slots", len(slots))
	}
}

// PruneBefore purges feed posts older than the cutoff, keeping their IDs
// (every log still verifies), the newest post of each log before the
// cutoff, and every post of the authors keep names (agency logs).
func TestPruneBefore(t *testing.T) {
	db := openDB(t, store.Config{})
	a, ag := newAuthor(t, 1), newAuthor(t, 2)
	for range 10 {
		mustIngest(t, db, a.post("p"), added)
		mustIngest(t, db, ag.post("agency"), added)
	}
	keep := func(p peer.ID) bool { return p == ag.id }
	n, more, err := db.PruneBefore(minute(6.5), keep, 2)
	if err != nil || n != 2 || !more {
		t.Fatalf("PruneBefore(batch 2) = %d, %v, %v; want 2, more", n, more, err)
	}
	total := n
	for more {
		if n, more, err = db.PruneBefore(minute(6.5), keep, 2); err != nil {
			t.Fatal(err)
		}
		total += n
	}
	if total != 5 {
		t.Fatalf("pruned %d posts, want 5 (seqs 1–5; seq 6 is the newest before the cutoff)", total)
	}
	for i, s := range a.log {
		_, err := db.Record(s.ID)
		if purged := i < 5; purged != errors.Is(err, store.ErrNotFound) {
			t.Errorf("seq %d: Record err %v, want purged %v", i+1, err, purged)
		}
	}
	for _, s := range ag.log {
		checkRecord(t, db, s)
	}
	slots := allSlots(t, db, a.id)
	for i, sl := range slots {
		if sl.ID != a.log[i].ID {
			t.Fatalf("slot %d holds %.12s, want %.12s: the chain no longer verifies", i+1, sl.ID, a.log[i].ID)
		}
	}
	if h := head(t, db, a.id); h.Contig != 10 {
		t.Fatalf("head after pruning: %+v", h)
	}
	if got := len(feedIDs(t, db)); got != 15 {
		t.Fatalf("feed has %d posts, want 15", got)
	}
	// Again: nothing more to do.
	if n, _, err := db.PruneBefore(minute(6.5), keep, 100); err != nil || n != 0 {
		t.Fatalf("second PruneBefore = %d, %v", n, err)
	}
	// What a responder serves a newcomer still starts at seq 6 and proves
	// the start old enough.
	if got, _ := db.HorizonStart(a.id, minute(6.5), 100); got != 6 {
		t.Fatalf("HorizonStart after pruning = %d, want 6", got)
	}
}
