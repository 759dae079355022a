package store_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
	"go.uber.org/goleak"

	"github.com/porchlight-mesh/porchlight/record"
	"github.com/porchlight-mesh/porchlight/record/pb"
	"github.com/porchlight-mesh/porchlight/store"
)

// Badger starts goroutines of its own; Close must stop every one of them.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestOpenConfig(t *testing.T) {
	tests := []struct {
		name    string
		cfg     store.Config
		wantErr string // a word the error must contain; "" for success
	}{
		{"zero config", store.Config{}, "Dir"},
		{"no dir", store.Config{Neighborhood: hood}, "Dir"},
		{"no neighborhood", store.Config{Dir: t.TempDir()}, "Neighborhood"},
		{"dir and neighborhood", store.Config{Dir: t.TempDir(), Neighborhood: hood}, ""},
		{"dir is a file", store.Config{Dir: "/dev/null", Neighborhood: hood}, "/dev/null"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.Logger = quiet
			db, err := store.Open(tt.cfg)
			if tt.wantErr != "" {
				if err == nil {
					db.Close()
					t.Fatal("Open succeeded")
				}
				if !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Open error %q does not mention %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if db.Neighborhood() != hood || db.Badger() == nil {
				t.Errorf("Neighborhood %q, Badger %v", db.Neighborhood(), db.Badger())
			}
			if err := db.Sync(); err != nil {
				t.Errorf("Sync: %v", err)
			}
		})
	}
}

func TestAppendOwn(t *testing.T) {
	dir := t.TempDir()
	me := newAuthor(t, 1)
	clock := base
	cfg := store.Config{Dir: dir, Neighborhood: hood, Logger: quiet, Now: func() time.Time {
		clock = clock.Add(time.Minute)
		return clock
	}}
	db, err := store.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var own []*record.Signed
	for i, body := range []func(*pb.Entry){withProfile("Ana"), withText("one"), withText("two")} {
		s, err := db.AppendOwn(me.key, body)
		if err != nil {
			t.Fatalf("AppendOwn %d: %v", i, err)
		}
		own = append(own, s)
	}
	for i, s := range own {
		seq := uint64(i + 1)
		if s.Seq() != seq || s.Author != me.id || s.Entry.GetNeighborhood() != hood {
			t.Errorf("record %d: seq %d author %s neighborhood %q", i, s.Seq(), s.Author, s.Entry.GetNeighborhood())
		}
		if want := base.Add(time.Duration(seq) * time.Minute); !s.Created().Equal(want) {
			t.Errorf("record %d created %v, want the injected clock's %v", i, s.Created(), want)
		}
		var prev record.ID
		if i > 0 {
			prev = own[i-1].ID
		}
		if s.Prev() != prev {
			t.Errorf("record %d prev %.12s, want %.12s", i, s.Prev(), prev)
		}
		if _, err := record.Open(s.Raw, clock); err != nil {
			t.Errorf("record %d does not verify: %v", i, err)
		}
	}
	checkHead(t, db, me.id, 3, 3, own[2].ID, false)

	// A refused body stores nothing and uses no seq.
	_, err = db.AppendOwn(me.key, withText(""))
	if record.ReasonOf(err) != record.ReasonEmpty {
		t.Fatalf("AppendOwn of an empty post: %v, want reason %s", err, record.ReasonEmpty)
	}
	checkHead(t, db, me.id, 3, 3, own[2].ID, false)

	if err := db.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := db.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}

	db = openDB(t, cfg)
	checkHead(t, db, me.id, 3, 3, own[2].ID, false)
	for _, s := range own {
		checkRecord(t, db, s)
	}
	checkFeed(t, db, own[2], own[1])
	if name, err := db.Name(me.id); err != nil || name != "Ana" {
		t.Errorf("Name = %q, %v; want Ana", name, err)
	}
	s, err := db.AppendOwn(me.key, withText("three"))
	if err != nil {
		t.Fatal(err)
	}
	if s.Seq() != 4 || s.Prev() != own[2].ID {
		t.Fatalf("after reopening: seq %d prev %.12s, want 4 %.12s", s.Seq(), s.Prev(), own[2].ID)
	}
	checkHead(t, db, me.id, 4, 4, s.ID, false)
}

// TestIngestLog walks one author's log through a node, in the order a mesh
// might deliver it. Each step depends on the ones before.
func TestIngestLog(t *testing.T) {
	const maxGap = 8
	db := openDB(t, store.Config{MaxGap: maxGap})
	b := newAuthor(t, 2)
	b1, b2, b3, b4 := b.post("1"), b.post("2"), b.post("3"), b.post("4")
	b4wrongPrev := b.sign(4, b2.ID, withText("4 after 2"))
	jump := b.sign(4+maxGap+1, b4.ID)
	farthest := b.sign(4+maxGap, b4.ID)
	otherHood := b.sign(5, b4.ID, inNeighborhood("oak-avenue"))

	steps := []struct {
		name        string
		rec         *record.Signed
		want        store.Result
		reason      record.Reason // for a refused record
		contig, max uint64
		headID      record.ID
	}{
		{"first record", b1, added, "", 1, 1, b1.ID},
		{"replay of the first record", b1, dup, "", 1, 1, b1.ID},
		{"seq 3 before 2 leaves a gap", b3, addedGap, "", 1, 3, b1.ID},
		{"replay of seq 3 during the gap", b3, dup, "", 1, 3, b1.ID},
		{"seq 2 fills the gap", b2, added, "", 3, 3, b3.ID},
		{"replay of an old record", b1, dup, "", 3, 3, b3.ID},
		{"seq 4 pointing back to seq 2", b4wrongPrev, store.Result{}, record.ReasonPrevMismatch, 3, 3, b3.ID},
		{"seq 4", b4, added, "", 4, 4, b4.ID},
		{"seq MaxGap+1 past the head", jump, store.Result{}, record.ReasonSeqJump, 4, 4, b4.ID},
		{"seq exactly MaxGap past the head", farthest, addedGap, "", 4, 4 + maxGap, b4.ID},
		{"record of another neighborhood", otherHood, store.Result{}, record.ReasonNeighborhood, 4, 4 + maxGap, b4.ID},
	}
	for _, st := range steps {
		res, err := db.Ingest(st.rec)
		if got := record.ReasonOf(err); got != st.reason || (err != nil && st.reason == "") {
			t.Fatalf("%s: Ingest error %v, want reason %q", st.name, err, st.reason)
		}
		if res != st.want {
			t.Fatalf("%s: Ingest = %+v, want %+v", st.name, res, st.want)
		}
		if st.reason != "" {
			checkNoRecord(t, db, st.rec.ID) // a refused record leaves no trace
		} else {
			checkRecord(t, db, st.rec)
		}
		checkHead(t, db, b.id, st.contig, st.max, st.headID, false)
	}

	var got []uint64
	for _, s := range allSlots(t, db, b.id) {
		got = append(got, s.Seq)
	}
	if want := []uint64{1, 2, 3, 4, 4 + maxGap}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("slots %v, want %v", got, want)
	}
}

// TestForkHalfFillsGap: a record at seq that the held seq+1 does not point
// back to is the half of a fork whose other half we lack. It is stored (a
// refusal would leave a hole sync can never fill), and when the other half
// arrives the author is flagged with both as proof.
func TestForkHalfFillsGap(t *testing.T) {
	db := openDB(t, store.Config{})
	b := newAuthor(t, 7)
	b1 := b.post("one")
	b2 := b.post("two")
	b3 := b.post("three")
	b2other := b.sign(2, b1.ID, withText("two, rewritten"))
	mustIngest(t, db, b1, added)
	mustIngest(t, db, b3, addedGap)
	mustIngest(t, db, b2other, added)
	checkHead(t, db, b.id, 3, 3, b3.ID, false)
	mustIngest(t, db, b2, store.Result{Outcome: store.Equivocation})
	checkHead(t, db, b.id, 3, 3, b3.ID, true)
	if _, proof, ok, err := db.Equivocation(b.id); err != nil || !ok || len(proof) != 2 {
		t.Fatalf("proof: %d envelopes, ok=%v, err=%v", len(proof), ok, err)
	}
}

func TestIngestDefaultMaxGap(t *testing.T) {
	db := openDB(t, store.Config{})
	c := newAuthor(t, 3)
	prev := record.IDOf([]byte("unknown"))
	_, err := db.Ingest(c.sign(10_001, prev))
	if record.ReasonOf(err) != record.ReasonSeqJump {
		t.Fatalf("seq 10,001 on an empty log: %v, want %s", err, record.ReasonSeqJump)
	}
	mustIngest(t, db, c.sign(10_000, prev), addedGap)
	checkHead(t, db, c.id, 0, 10_000, record.ID{}, false)
}

func TestEquivocation(t *testing.T) {
	dir := t.TempDir()
	db := openDB(t, store.Config{Dir: dir})
	b := newAuthor(t, 2)
	honest := newAuthor(t, 3)
	b1, b2 := b.post("1"), b.post("2")
	b2other := b.sign(2, b1.ID, withText("2, told differently"))
	mustIngest(t, db, honest.post("hi"), added)
	mustIngest(t, db, b1, added)
	mustIngest(t, db, b2, added)

	mustIngest(t, db, b2other, store.Result{Outcome: store.Equivocation})
	checkHead(t, db, b.id, 2, 2, b2.ID, true)
	mustIngest(t, db, b2other, dup)
	checkRecord(t, db, b2)
	checkRecord(t, db, b2other)

	seq, proof, ok, err := db.Equivocation(b.id)
	if err != nil || !ok || seq != 2 {
		t.Fatalf("Equivocation = %d, %v, %v; want seq 2", seq, ok, err)
	}
	if len(proof) != 2 || !bytes.Equal(proof[0], b2.Raw) || !bytes.Equal(proof[1], b2other.Raw) {
		t.Fatalf("proof has %d envelopes, want both versions of seq 2", len(proof))
	}
	for _, raw := range proof {
		if _, err := record.Open(raw, time.Now()); err != nil {
			t.Errorf("proof envelope does not verify: %v", err)
		}
	}
	if _, _, ok, err := db.Equivocation(honest.id); ok || err != nil {
		t.Errorf("Equivocation of an honest author: ok %v, err %v", ok, err)
	}

	// Peers catching up get both versions.
	slots := allSlots(t, db, b.id)
	if len(slots) != 3 || slots[1].ID != b2.ID || slots[2].Seq != 2 || slots[2].ID != b2other.ID || !bytes.Equal(slots[2].Raw, b2other.Raw) {
		t.Fatalf("Slots = %+v, want seq 1, 2 and the second version of 2", slots)
	}

	// A successor of the second version is accepted; the log goes on.
	b3 := b.sign(3, b2other.ID)
	mustIngest(t, db, b3, added)
	checkHead(t, db, b.id, 3, 3, b3.ID, true)

	heads, err := db.Heads()
	if err != nil {
		t.Fatal(err)
	}
	flagged := map[string]bool{}
	for _, h := range heads {
		flagged[h.Author.String()] = h.Flagged
	}
	if len(heads) != 2 || !flagged[b.id.String()] || flagged[honest.id.String()] {
		t.Errorf("Heads flags = %v", flagged)
	}

	// The flag and the proof survive a restart.
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = openDB(t, store.Config{Dir: dir})
	checkHead(t, db, b.id, 3, 3, b3.ID, true)
	if _, proof, ok, err := db.Equivocation(b.id); !ok || err != nil || len(proof) != 2 {
		t.Errorf("after reopening: Equivocation ok %v, %d envelopes, err %v", ok, len(proof), err)
	}
}

// TestRewrappedRecord checks that a relay cannot frame an honest author as
// an equivocator by re-encoding the envelope around a signed record (which
// keeps the signature valid but changes the ID).
func TestRewrappedRecord(t *testing.T) {
	db := openDB(t, store.Config{})
	a := newAuthor(t, 1)
	p := a.post("honest post")
	mustIngest(t, db, p, added)
	rewrapped := append(bytes.Clone(p.Raw), 0x4a, 0x01, 'x') // unknown field 9
	s, err := record.Open(rewrapped, time.Now())
	if err == nil {
		res, err := db.Ingest(s)
		t.Fatalf("Open accepted a re-wrapped envelope; Ingest = %+v, %v", res, err)
	}
	if record.ReasonOf(err) != record.ReasonMalformed {
		t.Fatalf("Open of a re-wrapped envelope: %v, want %s", err, record.ReasonMalformed)
	}
	checkHead(t, db, a.id, 1, 1, p.ID, false)
}

func TestRetractOwnPost(t *testing.T) {
	dir := t.TempDir()
	db := openDB(t, store.Config{Dir: dir})
	me := newAuthor(t, 1)
	p1, err := db.AppendOwn(me.key, withText("Lost: black umbrella"))
	if err != nil {
		t.Fatal(err)
	}
	// Posts of the same millisecond are listed in ID order: let the clock
	// pass p1's millisecond so that p2 is the newer (it takes at most 1 ms).
	for time.Now().UnixMilli() <= p1.Entry.GetCreated() {
		time.Sleep(100 * time.Microsecond)
	}
	p2, err := db.AppendOwn(me.key, withText("Street party Saturday"))
	if err != nil {
		t.Fatal(err)
	}
	checkFeed(t, db, p2, p1)
	r, err := db.AppendOwn(me.key, retracting(p1))
	if err != nil {
		t.Fatalf("retract own post: %v", err)
	}

	check := func(t *testing.T, db *store.DB) {
		t.Helper()
		checkFeed(t, db, p2)
		checkNoRecord(t, db, p1.ID)
		checkRecord(t, db, p2)
		checkRecord(t, db, r)
		checkHead(t, db, me.id, 3, 3, r.ID, false)
		slots := allSlots(t, db, me.id)
		want := []store.Slot{{Seq: 1, ID: p1.ID}, {Seq: 2, ID: p2.ID, Raw: p2.Raw}, {Seq: 3, ID: r.ID, Raw: r.Raw}}
		if len(slots) != len(want) {
			t.Fatalf("%d slots, want %d", len(slots), len(want))
		}
		for i := range want {
			if slots[i].Seq != want[i].Seq || slots[i].ID != want[i].ID || !bytes.Equal(slots[i].Raw, want[i].Raw) || (want[i].Raw == nil) != (slots[i].Raw == nil) {
				t.Errorf("slot %d = {%d %.12s %d bytes}, want {%d %.12s %d bytes}", i,
					slots[i].Seq, slots[i].ID, len(slots[i].Raw), want[i].Seq, want[i].ID, len(want[i].Raw))
			}
		}
	}
	check(t, db)

	// The purged post replayed by a peer is a duplicate, not a resurrection.
	mustIngest(t, db, p1, dup)
	check(t, db)

	// Retracting it again changes nothing; retracting a non-post is refused.
	if _, err := db.AppendOwn(me.key, retracting(p1)); err != nil {
		t.Fatalf("second retraction: %v", err)
	}
	if _, err := db.AppendOwn(me.key, retracting(r)); record.ReasonOf(err) != record.ReasonRetraction {
		t.Fatalf("retraction of a retraction: %v, want %s", err, record.ReasonRetraction)
	}
	checkFeed(t, db, p2)

	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = openDB(t, store.Config{Dir: dir})
	checkFeed(t, db, p2)
	checkNoRecord(t, db, p1.ID)
}

// TestRetractionOrders delivers a post, a later post and the retraction of
// the first in every order. Whatever the order, the node ends up in the same
// state: the first post purged, its hash kept.
func TestRetractionOrders(t *testing.T) {
	a := newAuthor(t, 1)
	p1, p2 := a.post("Lost: black umbrella"), a.post("Found it, thanks!")
	r := a.next(retracting(p1))
	tests := []struct {
		name  string
		order []*record.Signed
		want  []store.Result
	}{
		{"in order", []*record.Signed{p1, p2, r}, []store.Result{added, added, added}},
		{"retraction last but target second", []*record.Signed{p2, p1, r}, []store.Result{addedGap, added, added}},
		{"retraction before its target", []*record.Signed{p2, r, p1}, []store.Result{addedGap, addedGap, added}},
		{"retraction first", []*record.Signed{r, p1, p2}, []store.Result{addedGap, addedGap, added}},
		{"retraction first, target last", []*record.Signed{r, p2, p1}, []store.Result{addedGap, addedGap, added}},
		{"target, retraction, middle", []*record.Signed{p1, r, p2}, []store.Result{added, addedGap, added}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := openDB(t, store.Config{})
			for i, s := range tt.order {
				mustIngest(t, db, s, tt.want[i])
			}
			checkFeed(t, db, p2)
			checkNoRecord(t, db, p1.ID)
			checkHead(t, db, a.id, 3, 3, r.ID, false)
			if s := allSlots(t, db, a.id); len(s) != 3 || s[0].Raw != nil || s[0].ID != p1.ID {
				t.Fatalf("slot 1 = %+v, want purged with ID %.12s", s[0], p1.ID)
			}
			mustIngest(t, db, p1, dup)
			checkFeed(t, db, p2)
		})
	}
}

// TestRetractOther: a retraction only ever purges a post of its own author's
// log at the seq it names. One that names anything else is stored (it holds
// its place in the author's chain, so logs stay whole and identical on every
// node whatever the arrival order) but purges nothing, and says why.
func TestRetractOther(t *testing.T) {
	victim := newAuthor(t, 1)
	v1 := victim.post("Block watch meeting Tuesday")
	ignored := func(r record.Reason) store.Result { return store.Result{Outcome: store.Added, Ignored: r} }

	t.Run("target stored", func(t *testing.T) {
		db := openDB(t, store.Config{})
		m := newAuthor(t, 2)
		m1 := m.post("hello")
		mustIngest(t, db, v1, added)
		mustIngest(t, db, m1, added)
		steal := m.sign(2, m1.ID, retracting(v1)) // names the victim's seq and hash
		mustIngest(t, db, steal, ignored(record.ReasonRetractOther))
		checkFeed(t, db, m1, v1)
		checkRecord(t, db, v1)
		checkRecord(t, db, m1)
		checkHead(t, db, m.id, 2, 2, steal.ID, false)

		// A retraction of one's own seq with another record's hash is the same.
		m3 := m.sign(3, steal.ID, withText("second"))
		mustIngest(t, db, m3, added)
		wrongHash := m.sign(4, m3.ID, func(e *pb.Entry) {
			e.Body = &pb.Entry_Retraction{Retraction: &pb.Retraction{TargetSeq: 1, TargetHash: m3.ID[:]}}
		})
		mustIngest(t, db, wrongHash, ignored(record.ReasonRetractOther))
		checkFeed(t, db, m3, m1, v1)
	})

	t.Run("target not stored yet", func(t *testing.T) {
		// The node cannot judge the retraction until mallory's seq 1 arrives,
		// but a retraction only ever touches its own author's log.
		db := openDB(t, store.Config{})
		mallory := newAuthor(t, 2)
		m1 := mallory.sign(1, record.ID{}, withText("hello"))
		steal := mallory.sign(2, m1.ID, retracting(v1))
		mustIngest(t, db, v1, added)
		mustIngest(t, db, steal, addedGap)
		mustIngest(t, db, m1, added)
		checkFeed(t, db, m1, v1)
		checkRecord(t, db, v1)
		checkRecord(t, db, m1)
	})

	t.Run("profile, in order and not", func(t *testing.T) {
		m := newAuthor(t, 2)
		prof := m.next(withProfile("M"))
		r := m.sign(2, prof.ID, retracting(prof))
		for _, order := range [][]*record.Signed{{prof, r}, {r, prof}} {
			db := openDB(t, store.Config{})
			for _, s := range order {
				if _, err := db.Ingest(s); err != nil {
					t.Fatal(err)
				}
			}
			checkRecord(t, db, prof)
			if name, _ := db.Name(m.id); name != "M" {
				t.Fatalf("name after a retracted profile = %q, want M", name)
			}
			checkHead(t, db, m.id, 2, 2, r.ID, false)
		}
	})
}

func TestIngestStub(t *testing.T) {
	a := newAuthor(t, 1)
	p1, p2 := a.post("Lost: black umbrella"), a.post("Found it")
	r := a.next(retracting(p1))

	t.Run("without a retraction", func(t *testing.T) {
		db := openDB(t, store.Config{})
		ok, err := db.IngestStub(a.id, 1, p1.ID)
		if err != nil || ok {
			t.Fatalf("IngestStub with no retraction = %v, %v; want refused", ok, err)
		}
		checkHead(t, db, a.id, 0, 0, record.ID{}, false)
		if s := allSlots(t, db, a.id); len(s) != 0 {
			t.Fatalf("stub stored: %+v", s)
		}
	})

	t.Run("with the retraction", func(t *testing.T) {
		db := openDB(t, store.Config{})
		mustIngest(t, db, r, addedGap)
		mustIngest(t, db, p2, addedGap)
		checkHead(t, db, a.id, 0, 3, record.ID{}, false)

		refused := []struct {
			name string
			seq  uint64
			id   record.ID
		}{
			{"wrong hash", 1, p2.ID},
			{"zero hash", 1, record.ID{}},
			{"seq the retraction does not name", 2, p2.ID},
			{"seq beyond the log", 4, p1.ID},
		}
		for _, tt := range refused {
			if ok, err := db.IngestStub(a.id, tt.seq, tt.id); ok || err != nil {
				t.Fatalf("IngestStub %s = %v, %v; want refused", tt.name, ok, err)
			}
		}
		if ok, err := db.IngestStub(newAuthor(t, 9).id, 1, p1.ID); ok || err != nil {
			t.Fatalf("IngestStub for another author = %v, %v; want refused", ok, err)
		}
		checkHead(t, db, a.id, 0, 3, record.ID{}, false)

		ok, err := db.IngestStub(a.id, 1, p1.ID)
		if err != nil || !ok {
			t.Fatalf("IngestStub with the retraction = %v, %v; want accepted", ok, err)
		}
		checkHead(t, db, a.id, 3, 3, r.ID, false)
		if s := allSlots(t, db, a.id); len(s) != 3 || s[0].Raw != nil || s[0].ID != p1.ID {
			t.Fatalf("slot 1 = %+v, want the stub", s[0])
		}
		if ok, err := db.IngestStub(a.id, 1, p1.ID); ok || err != nil {
			t.Fatalf("second IngestStub = %v, %v; want refused (slot filled)", ok, err)
		}
		mustIngest(t, db, p1, dup)
		checkNoRecord(t, db, p1.ID)
		checkFeed(t, db, p2)
	})

	t.Run("target already purged", func(t *testing.T) {
		db := openDB(t, store.Config{})
		for _, s := range []*record.Signed{p1, p2, r} {
			mustIngest(t, db, s, added)
		}
		if ok, err := db.IngestStub(a.id, 1, p1.ID); ok || err != nil {
			t.Fatalf("IngestStub over a stored slot = %v, %v; want refused", ok, err)
		}
	})
}

func TestFeed(t *testing.T) {
	db := openDB(t, store.Config{})
	a, b := newAuthor(t, 1), newAuthor(t, 2)
	at := func(min int) func(*pb.Entry) { return createdAt(base.Add(time.Duration(min) * time.Minute)) }
	// Interleaved in time across two logs; profiles and retractions are not posts.
	a1 := a.next(withText("a1"), at(1))
	aProf := a.next(withProfile("A"), at(2))
	a3 := a.next(withText("a3"), at(5))
	a4 := a.next(withText("a4"), at(7))
	b1 := b.next(withText("b1"), at(3))
	b2 := b.next(withText("b2"), at(4))
	b3 := b.next(withText("b3 (retracted)"), at(6))
	b4 := b.next(withText("b4"), at(8))
	b5 := b.next(retracting(b3), at(9))
	// Delivered out of order.
	for _, s := range []*record.Signed{b4, a3, b1, a4, aProf, b3, a1, b2, b5} {
		if _, err := db.Ingest(s); err != nil {
			t.Fatal(err)
		}
	}
	all := []*record.Signed{b4, a4, a3, b2, b1, a1}
	checkFeed(t, db, all...)

	tests := []struct {
		name   string
		limit  int
		before time.Time
		want   []*record.Signed
	}{
		{"first page", 2, time.Time{}, all[:2]},
		{"everything", 100, time.Time{}, all},
		{"exact limit", len(all), time.Time{}, all},
		{"zero limit", 0, time.Time{}, nil},
		{"before the newest", 100, base.Add(8 * time.Minute), all[1:]},
		{"before a retracted post's time", 3, base.Add(6 * time.Minute), []*record.Signed{a3, b2, b1}},
		{"before a time between posts", 100, base.Add(4*time.Minute + time.Second), []*record.Signed{b2, b1, a1}},
		{"before the oldest", 100, base.Add(time.Minute), nil},
		{"before everything", 100, base, nil},
		{"before the future", 100, base.AddDate(1, 0, 0), all},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var before int64
			if !tt.before.IsZero() {
				before = tt.before.UnixMilli()
			}
			got := feedPage(t, db, tt.limit, store.Cursor{Created: before})
			if !equalIDs(ids(got...), ids(tt.want...)) {
				t.Fatalf("Feed(%d, %d) = %.12s, want %.12s", tt.limit, before, ids(got...), ids(tt.want...))
			}
			for i, s := range got {
				if !bytes.Equal(s.Raw, tt.want[i].Raw) {
					t.Errorf("post %d: content differs", i)
				}
			}
		})
	}

	t.Run("paging", func(t *testing.T) {
		for size := 1; size <= len(all)+1; size++ {
			var got []*record.Signed
			var before store.Cursor
			for pages := 0; ; pages++ {
				page := feedPage(t, db, size, before)
				if len(page) == 0 || pages > len(all) {
					break
				}
				got = append(got, page...)
				before = store.CursorAt(page[len(page)-1])
			}
			if !equalIDs(ids(got...), ids(all...)) {
				t.Fatalf("pages of %d = %.12s, want %.12s", size, ids(got...), ids(all...))
			}
		}
	})
}

// TestFeedPagingSameMillisecond pages through posts that share a created
// time (any author may choose its created time, so they can be made to).
func TestFeedPagingSameMillisecond(t *testing.T) {
	db := openDB(t, store.Config{})
	var want []*record.Signed
	for seed := byte(1); seed <= 3; seed++ {
		s := newAuthor(t, seed).next(withText("same millisecond"), createdAt(base))
		mustIngest(t, db, s, added)
		want = append(want, s)
	}
	var got []*record.Signed
	var before store.Cursor
	for range want {
		page, err := db.Feed(1, before)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		got = append(got, page...)
		before = store.CursorAt(page[0])
	}
	if len(got) != len(want) {
		t.Fatalf("paging one at a time listed %d of %d posts", len(got), len(want))
	}
}

func TestName(t *testing.T) {
	a := newAuthor(t, 1)
	p1 := a.next(withProfile("Ana"))
	post := a.post("hi")
	p3 := a.next(withProfile("Ana at number 12"))
	tests := []struct {
		name  string
		order []*record.Signed
		want  []string // Name after each record
	}{
		{"in order", []*record.Signed{p1, post, p3}, []string{"Ana", "Ana", "Ana at number 12"}},
		{"newest profile first", []*record.Signed{p3, p1, post}, []string{"Ana at number 12", "Ana at number 12", "Ana at number 12"}},
		{"post only", []*record.Signed{post}, []string{""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := openDB(t, store.Config{})
			if name, err := db.Name(a.id); name != "" || err != nil {
				t.Fatalf("Name of an unknown author = %q, %v", name, err)
			}
			for i, s := range tt.order {
				if _, err := db.Ingest(s); err != nil {
					t.Fatal(err)
				}
				if name, err := db.Name(a.id); name != tt.want[i] || err != nil {
					t.Fatalf("after record %d: Name = %q, %v; want %q", s.Seq(), name, err, tt.want[i])
				}
			}
		})
	}

	t.Run("own profile", func(t *testing.T) {
		db := openDB(t, store.Config{})
		me := newAuthor(t, 2)
		for _, name := range []string{"B", "", "Bea 🌻"} {
			if _, err := db.AppendOwn(me.key, withProfile(name)); err != nil {
				t.Fatal(err)
			}
			if got, err := db.Name(me.id); got != name || err != nil {
				t.Fatalf("Name = %q, %v; want %q", got, err, name)
			}
		}
	})
}

func TestSlots(t *testing.T) {
	db := openDB(t, store.Config{})
	a := newAuthor(t, 1)
	for i := range 5 {
		mustIngest(t, db, a.post(strings.Repeat("x", 10*(i+1))), added)
	}
	cost := func(seqs ...int) int { // the byte budget that fits exactly these slots
		n := 0
		for _, s := range seqs {
			n += len(a.log[s-1].Raw) + 48
		}
		return n
	}
	const big = 1 << 30
	tests := []struct {
		name     string
		from     uint64
		maxCount int
		maxBytes int
		want     []uint64
		more     bool
	}{
		{"all", 1, 10, big, []uint64{1, 2, 3, 4, 5}, false},
		{"from 0", 0, 10, big, []uint64{1, 2, 3, 4, 5}, false},
		{"count bound", 1, 2, big, []uint64{1, 2}, true},
		{"count exactly the rest", 1, 5, big, []uint64{1, 2, 3, 4, 5}, false},
		{"from the middle", 4, 10, big, []uint64{4, 5}, false},
		{"from the middle, count bound", 2, 3, big, []uint64{2, 3, 4}, true},
		{"beyond the head", 6, 10, big, nil, false},
		{"one byte returns one slot", 1, 10, 1, []uint64{1}, true},
		{"bytes for exactly two", 1, 10, cost(1, 2), []uint64{1, 2}, true},
		{"bytes for two and a bit", 1, 10, cost(1, 2) + 1, []uint64{1, 2, 3}, true},
		{"bytes for exactly the rest", 3, 10, cost(3, 4, 5), []uint64{3, 4, 5}, false},
		{"zero count", 1, 0, big, nil, true},
		{"zero bytes", 1, 10, 0, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			slots, more, err := db.Slots(a.id, tt.from, tt.maxCount, tt.maxBytes)
			if err != nil {
				t.Fatal(err)
			}
			var got []uint64
			for _, s := range slots {
				got = append(got, s.Seq)
				want := a.log[s.Seq-1]
				if s.ID != want.ID || !bytes.Equal(s.Raw, want.Raw) {
					t.Errorf("slot %d does not hold the record", s.Seq)
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) || more != tt.more {
				t.Fatalf("Slots(from %d, %d, %d bytes) = %v more %v, want %v more %v",
					tt.from, tt.maxCount, tt.maxBytes, got, more, tt.want, tt.more)
			}
		})
	}
	if slots, more, err := db.Slots(newAuthor(t, 2).id, 1, 10, big); len(slots) != 0 || more || err != nil {
		t.Errorf("Slots of an unknown author = %v, %v, %v", slots, more, err)
	}
}

// TestConcurrent ingests several logs at once, backwards, while the node
// appends its own records and readers page the feed. Run it with -race.
func TestConcurrent(t *testing.T) {
	db := openDB(t, store.Config{})
	const authors, perAuthor = 4, 25
	logs := make([]*author, authors)
	for i := range logs {
		logs[i] = newAuthor(t, byte(10+i))
		for j := range perAuthor {
			logs[i].post(fmt.Sprintf("post %d", j))
		}
	}
	me := newAuthor(t, 1)
	var wg sync.WaitGroup
	done := make(chan struct{})
	for _, a := range logs {
		wg.Go(func() {
			for i := len(a.log) - 1; i >= 0; i-- {
				if _, err := db.Ingest(a.log[i]); err != nil {
					t.Errorf("Ingest: %v", err)
					return
				}
			}
		})
	}
	wg.Go(func() {
		for i := range perAuthor {
			if _, err := db.AppendOwn(me.key, withText(fmt.Sprintf("own %d", i))); err != nil {
				t.Errorf("AppendOwn: %v", err)
				return
			}
		}
	})
	var readers sync.WaitGroup
	readers.Go(func() {
		for {
			select {
			case <-done:
				return
			default:
			}
			if _, err := db.Feed(20, store.Cursor{}); err != nil {
				t.Errorf("Feed: %v", err)
				return
			}
			if _, err := db.Heads(); err != nil {
				t.Errorf("Heads: %v", err)
				return
			}
		}
	})
	wg.Wait()
	close(done)
	readers.Wait()

	heads, err := db.Heads()
	if err != nil {
		t.Fatal(err)
	}
	if len(heads) != authors+1 {
		t.Fatalf("%d heads, want %d", len(heads), authors+1)
	}
	for _, a := range logs {
		checkHead(t, db, a.id, perAuthor, perAuthor, a.log[perAuthor-1].ID, false)
	}
	if h, err := db.Head(me.id); err != nil || h.Contig != perAuthor {
		t.Fatalf("own head %+v, %v", h, err)
	}
	if got := feedIDs(t, db); len(got) != (authors+1)*perAuthor {
		t.Fatalf("feed has %d posts, want %d", len(got), (authors+1)*perAuthor)
	}
}

func TestRecordNotFound(t *testing.T) {
	db := openDB(t, store.Config{})
	checkNoRecord(t, db, record.IDOf([]byte("never seen")))
	_, err := db.Record(record.ID{})
	if !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Record(zero) = %v", err)
	}
}

// TestCleanStart: a new database and one closed cleanly start clean; one
// whose process died without Close does not.
func TestCleanStart(t *testing.T) {
	dir := t.TempDir()
	db, err := store.Open(store.Config{Dir: dir, Neighborhood: "maple-st", Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if !db.CleanStart() {
		t.Fatal("a new database does not start clean")
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db, err = store.Open(store.Config{Dir: dir, Neighborhood: "maple-st", Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if !db.CleanStart() {
		t.Fatal("a cleanly closed database does not start clean")
	}
	// Simulate a crash: the process goes away without Close. Badger's own
	// lock is released by closing it here, but the marker is not written.
	if err := db.Badger().Close(); err != nil {
		t.Fatal(err)
	}
	db, err = store.Open(store.Config{Dir: dir, Neighborhood: "maple-st", Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if db.CleanStart() {
		t.Fatal("a database that was not closed cleanly starts clean")
	}
}

// A feed entry written before entries held the author and seq (empty
// value) is still read, through the record index.
func TestFeedReadsOldEntries(t *testing.T) {
	db := openDB(t, store.Config{})
	a := newAuthor(t, 1)
	p1 := a.next(withText("p1"), createdAt(base.Add(time.Minute)))
	p2 := a.next(withText("p2"), createdAt(base.Add(2*time.Minute)))
	for _, s := range []*record.Signed{p1, p2} {
		if _, err := db.Ingest(s); err != nil {
			t.Fatal(err)
		}
	}
	// Rewrite p1's feed entry as an older version of the store wrote it.
	err := db.Badger().Update(func(txn *badger.Txn) error {
		k := binary.BigEndian.AppendUint64([]byte{'f'}, uint64(p1.Entry.GetCreated()))
		k = append(k, p1.ID[:]...)
		if _, err := txn.Get(k); err != nil {
			return err
		}
		return txn.Set(k, nil)
	})
	if err != nil {
		t.Fatal(err)
	}
	checkFeed(t, db, p2, p1)
}

// TestHeadsAfterFlags: paging through the heads, every head carries its
// own equivocation flag, whichever authors around it are flagged (the
// flags are read by a second iterator in step with the heads).
func TestHeadsAfterFlags(t *testing.T) {
	db := openDB(t, store.Config{Dir: t.TempDir()})
	want := map[string]bool{}
	for i := range 30 {
		a := newAuthor(t, byte(100+i))
		p1 := a.post("1")
		mustIngest(t, db, p1, added)
		mustIngest(t, db, a.post("2"), added)
		if i%3 == 0 || i == 29 {
			mustIngest(t, db, a.sign(2, p1.ID, withText("2, told differently")), store.Result{Outcome: store.Equivocation})
		}
		want[string(a.id)] = i%3 == 0 || i == 29
	}
	for _, limit := range []int{1, 4, 7, 100} {
		var after store.Head
		seen := 0
		for {
			heads, err := db.HeadsAfter(after.Author, limit)
			if err != nil {
				t.Fatal(err)
			}
			for _, h := range heads {
				seen++
				if h.Flagged != want[string(h.Author)] {
					t.Errorf("limit %d: %s flagged %v, want %v", limit, h.Author, h.Flagged, want[string(h.Author)])
				}
				if h.Contig != 2 || h.Max != 2 || h.ID == (record.ID{}) {
					t.Errorf("limit %d: head of %s = %+v", limit, h.Author, h)
				}
			}
			if len(heads) < limit {
				break
			}
			after = heads[len(heads)-1]
		}
		if seen != len(want) {
			t.Errorf("limit %d: paged through %d heads, want %d", limit, seen, len(want))
		}
	}
}

// TestOpenCacheSizes: the memtable and cache sizes a simulation may set
// (mesh/scalesim) reach Badger, zero keeps a node's defaults, and a store
// with the smallest of them flushes and reopens with every record.
func TestOpenCacheSizes(t *testing.T) {
	tests := []struct {
		name                     string
		memTable, block, index   int64
		wantMem, wantBlock, want int64 // Badger's MemTableSize, BlockCacheSize, IndexCacheSize
	}{
		{"defaults", 0, 0, 0, 8 << 20, 16 << 20, 8 << 20},
		{"small", 64 << 10, 1 << 20, -1, 64 << 10, 1 << 20, 0},
		{"larger index cache", 0, 0, 32 << 20, 8 << 20, 16 << 20, 32 << 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := store.Config{Dir: dir, Neighborhood: hood, Logger: quiet,
				MemTableSize: tt.memTable, BlockCacheSize: tt.block, IndexCacheSize: tt.index}
			db := openDB(t, cfg)
			opts := db.Badger().Opts()
			if opts.MemTableSize != tt.wantMem || opts.BlockCacheSize != tt.wantBlock || opts.IndexCacheSize != tt.want {
				t.Fatalf("Badger memtable %d, block cache %d, index cache %d; want %d, %d, %d",
					opts.MemTableSize, opts.BlockCacheSize, opts.IndexCacheSize, tt.wantMem, tt.wantBlock, tt.want)
			}
			if tt.memTable == 0 {
				return
			}
			// More than a memtable's worth of posts: at least one flush.
			me := newAuthor(t, 1)
			var last *record.Signed
			const posts = 50 // 2 KB each: 100 KB
			for i := range posts {
				s, err := db.AppendOwn(me.key, withText(fmt.Sprintf("post %d: %s", i, strings.Repeat("a package at the door ", 90))))
				if err != nil {
					t.Fatalf("AppendOwn %d: %v", i, err)
				}
				last = s
			}
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			db = openDB(t, cfg)
			checkHead(t, db, me.id, posts, posts, last.ID, false)
			checkRecord(t, db, last)
		})
	}
}
