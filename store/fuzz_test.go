package store_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/porchlight-mesh/porchlight/record"
	"github.com/porchlight-mesh/porchlight/store"
)

// fuzzNow is the verifier's clock for FuzzIngest; the seed records are
// created before it.
var fuzzNow = base.Add(24 * time.Hour)

// fuzzMaxGap is small so that inputs can reach the seq-jump rule.
const fuzzMaxGap = 16

// pack joins envelopes into one fuzz input, each prefixed by its length as
// a uvarint.
func pack(recs ...*record.Signed) []byte {
	var b []byte
	for _, r := range recs {
		b = binary.AppendUvarint(b, uint64(len(r.Raw)))
		b = append(b, r.Raw...)
	}
	return b
}

// unpack splits a fuzz input made by pack, keeping what parses.
func unpack(b []byte) [][]byte {
	var out [][]byte
	for len(b) > 0 && len(out) < 64 {
		n, k := binary.Uvarint(b)
		if k <= 0 || n > uint64(len(b)-k) {
			break
		}
		out = append(out, b[k:k+int(n)])
		b = b[k+int(n):]
	}
	return out
}

// fuzzSeeds are delivery sequences that reach every rule of Ingest.
func fuzzSeeds(t testing.TB) [][]byte {
	a, b := newAuthor(t, 1), newAuthor(t, 2)
	aProf := a.next(withProfile("Ana"))
	a2 := a.post("Lost: black umbrella")
	a3 := a.post("Street party Saturday")
	a4 := a.next(retracting(a2))
	a5 := a.next(withProfile("Ana at 12"))
	b1, b2 := b.post("1"), b.post("2")
	b2other := b.sign(2, b1.ID, withText("2, told differently"))
	b3 := b.sign(3, b2other.ID)
	bSteal := b.sign(4, b3.ID, retracting(a3))
	bJump := b.sign(3+fuzzMaxGap+1, b3.ID)
	bOak := b.sign(4, b3.ID, inNeighborhood("oak-avenue"))
	bWrongPrev := b.sign(4, b2.ID)
	return [][]byte{
		pack(aProf, a2, a3, a4, a5),
		pack(a5, a4, a3, a2, aProf),
		pack(a4, a2, a4, a2, a3, aProf),
		pack(b1, b2, b2other, b3, b2other, b3),
		pack(b3, b2other, b2, b1),
		pack(a3, b1, b2, b3, bSteal, bJump, bOak, bWrongPrev, aProf, a2),
		append(pack(a2), []byte("trailing garbage")...),
		{},
	}
}

// FuzzIngest delivers envelopes to a fresh store in arbitrary order. Nothing
// may panic; every refusal must be an *record.Invalid (a store in a temporary
// directory has no other reason to fail); and whatever was accepted must
// leave the logs, the feed and the index consistent. More seeds are in
// testdata/fuzz.
func FuzzIngest(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		db := openDB(t, store.Config{MaxGap: fuzzMaxGap})
		var accepted []*record.Signed
		for _, raw := range unpack(data) {
			s, err := record.Open(raw, fuzzNow)
			if err != nil {
				if record.ReasonOf(err) == "" {
					t.Fatalf("Open: %v is not an *Invalid", err)
				}
				continue
			}
			res, err := db.Ingest(s)
			if err != nil {
				if record.ReasonOf(err) == "" {
					t.Fatalf("Ingest seq %d: %v is not an *Invalid", s.Seq(), err)
				}
				continue
			}
			switch res.Outcome {
			case store.Added, store.Equivocation:
				accepted = append(accepted, s)
			case store.Duplicate:
			default:
				t.Fatalf("Ingest: outcome %v", res.Outcome)
			}
		}
		checkConsistent(t, db, accepted)

		// Accepting is idempotent.
		for _, s := range accepted {
			if res, err := db.Ingest(s); err != nil || res.Outcome != store.Duplicate {
				t.Fatalf("second Ingest of an accepted record = %+v, %v; want duplicate", res, err)
			}
		}
	})
}

// checkConsistent checks what must hold of a store, whatever it was fed.
func checkConsistent(t *testing.T, db *store.DB, accepted []*record.Signed) {
	t.Helper()
	arrival := map[record.ID]int{} // order in which records were accepted
	for i, s := range accepted {
		if _, ok := arrival[s.ID]; !ok {
			arrival[s.ID] = i
		}
	}
	heads, err := db.Heads()
	if err != nil {
		t.Fatalf("Heads: %v", err)
	}
	purged := map[record.ID]bool{}
	for _, h := range heads {
		slots := allSlots(t, db, h.Author)
		versions := map[uint64][]record.ID{} // every ID stored at a seq
		logSlot := map[uint64]store.Slot{}   // the first version at a seq
		for _, s := range slots {
			if s.Raw == nil {
				purged[s.ID] = true
			} else {
				checkSlot(t, h.Author, s)
			}
			if _, ok := logSlot[s.Seq]; !ok {
				logSlot[s.Seq] = s
			}
			versions[s.Seq] = append(versions[s.Seq], s.ID)
		}
		if h.Contig > h.Max {
			t.Fatalf("head of %s: contig %d > max %d", h.Author, h.Contig, h.Max)
		}
		for seq := uint64(1); seq <= h.Contig; seq++ {
			if _, ok := logSlot[seq]; !ok {
				t.Fatalf("head of %s says contiguous to %d, seq %d missing", h.Author, h.Contig, seq)
			}
		}
		if h.Contig > 0 && logSlot[h.Contig].ID != h.ID {
			t.Fatalf("head of %s: ID is not the record at contig %d", h.Author, h.Contig)
		}
		if _, ok := logSlot[h.Contig+1]; ok {
			t.Fatalf("head of %s: contig %d, but seq %d is present", h.Author, h.Contig, h.Contig+1)
		}
		if _, ok := logSlot[h.Max]; !ok && h.Max > 0 {
			t.Fatalf("head of %s: max %d is not stored", h.Author, h.Max)
		}
		for seq, s := range logSlot {
			if seq > h.Max {
				t.Fatalf("head of %s: max %d, but seq %d is present", h.Author, h.Max, seq)
			}
			if s.Raw == nil || seq == 1 || len(versions[seq-1]) == 0 {
				continue
			}
			prev := mustDecode(t, s.Raw).Prev()
			found, later := false, true
			for _, id := range versions[seq-1] {
				found = found || id == prev
				i, ok := arrival[id]
				later = later && ok && i > arrival[s.ID]
			}
			// Allowed only as ingest documents it: a record arriving at
			// seq-1 after a held seq that does not point back to it is
			// still stored (one half of a fork whose other half is
			// missing). A record whose predecessor was already there is
			// refused with prev_mismatch.
			if !found && !later {
				t.Fatalf("%s seq %d points back to %.12s, not to a stored seq %d", h.Author, seq, prev, seq-1)
			}
		}
		_, proof, flagged, err := db.Equivocation(h.Author)
		if err != nil {
			t.Fatalf("Equivocation: %v", err)
		}
		if flagged != h.Flagged {
			t.Fatalf("head of %s: flagged %v, Equivocation says %v", h.Author, h.Flagged, flagged)
		}
		if flagged && len(proof) < 1 {
			t.Fatalf("%s flagged without proof", h.Author)
		}
	}

	for _, s := range accepted {
		got, err := db.Record(s.ID)
		switch {
		case errors.Is(err, store.ErrNotFound) && purged[s.ID]:
		case err != nil:
			t.Fatalf("Record of an accepted record: %v", err)
		case !bytes.Equal(got.Raw, s.Raw):
			t.Fatal("Record returned different bytes")
		}
	}

	feed, err := db.Feed(1000, store.Cursor{})
	if err != nil {
		t.Fatalf("Feed: %v", err)
	}
	for i, s := range feed {
		if s.Entry.GetPost() == nil || s.Entry.GetNeighborhood() != db.Neighborhood() {
			t.Fatalf("feed item %d is not a post of this neighborhood", i)
		}
		if purged[s.ID] {
			t.Fatalf("feed lists retracted post %.12s", s.ID)
		}
		if i > 0 && s.Entry.GetCreated() > feed[i-1].Entry.GetCreated() {
			t.Fatal("feed is not newest first")
		}
		if _, err := db.Record(s.ID); err != nil {
			t.Fatalf("feed lists %.12s, Record: %v", s.ID, err)
		}
	}
}

func checkSlot(t *testing.T, a peer.ID, s store.Slot) {
	t.Helper()
	if record.IDOf(s.Raw) != s.ID {
		t.Fatalf("slot %d of %s: ID is not the hash of its envelope", s.Seq, a)
	}
	r := mustDecode(t, s.Raw)
	if r.Author != a || r.Seq() != s.Seq {
		t.Fatalf("slot %d of %s holds seq %d of %s", s.Seq, a, r.Seq(), r.Author)
	}
}

func mustDecode(t *testing.T, raw []byte) *record.Signed {
	t.Helper()
	r, err := record.DecodeTrusted(raw)
	if err != nil {
		t.Fatalf("stored envelope does not decode: %v", err)
	}
	return r
}

// FuzzIngestOrder delivers a fixed set of signed records (an honest author's
// log with a profile change and a retraction, an equivocating author, and an
// author trying to retract someone else's post) in the order, and with the
// repeats, that the input chooses, mixed with catch-up stubs. Besides the
// invariants of FuzzIngest, the honest author's log must end up the same
// whatever the order.
func FuzzIngestOrder(f *testing.F) {
	a, b, m := newAuthor(f, 1), newAuthor(f, 2), newAuthor(f, 3)
	aProf := a.next(withProfile("Ana"))
	a2 := a.post("Lost: black umbrella")
	a3 := a.post("Street party Saturday")
	a4 := a.next(retracting(a2))
	a5 := a.next(withProfile("Ana at 12"))
	b1, b2 := b.post("1"), b.post("2")
	b2other := b.sign(2, b1.ID, withText("2, told differently"))
	b3 := b.sign(3, b2other.ID)
	m1, m2, m3 := m.post("1"), m.post("2"), m.post("3")
	mSteal := m.sign(4, m3.ID, retracting(a3)) // names a3's seq and hash
	pool := []*record.Signed{aProf, a2, a3, a4, a5, b1, b2, b2other, b3, m1, m2, m3, mSteal}
	const (
		stubRetracted = iota + 100 // catch-up stub for a2, which a4 retracts
		stubLive                   // a stub for a3, which nobody retracted
	)

	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12})
	f.Add([]byte{12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0})
	f.Add([]byte{3, stubRetracted, 2, 1, 4, stubLive, 0})
	f.Add([]byte{7, 8, 6, 5, 12, 2, 9, 10, 11})

	f.Fuzz(func(t *testing.T, ops []byte) {
		if len(ops) > 64 {
			ops = ops[:64]
		}
		db := openDB(t, store.Config{})
		var accepted []*record.Signed
		for _, op := range ops {
			switch {
			case op == stubRetracted:
				if _, err := db.IngestStub(a.id, a2.Seq(), a2.ID); err != nil {
					t.Fatalf("IngestStub: %v", err)
				}
				continue
			case op == stubLive:
				if ok, err := db.IngestStub(a.id, a3.Seq(), a3.ID); ok || err != nil {
					t.Fatalf("IngestStub of a record nobody retracted = %v, %v", ok, err)
				}
				continue
			}
			s := pool[int(op)%len(pool)]
			res, err := db.Ingest(s)
			if err != nil {
				if record.ReasonOf(err) == "" {
					t.Fatalf("Ingest: %v is not an *Invalid", err)
				}
				continue
			}
			if res.Outcome != store.Duplicate {
				accepted = append(accepted, s)
			}
		}
		checkConsistent(t, db, accepted)

		// Catch up on the honest author's whole log.
		for _, s := range a.log {
			if _, err := db.Ingest(s); err != nil {
				t.Fatalf("honest record %d refused after %v: %v", s.Seq(), ops, err)
			}
		}
		checkHead(t, db, a.id, 5, 5, a5.ID, false)
		checkNoRecord(t, db, a2.ID)
		checkRecord(t, db, a3)
		if name, err := db.Name(a.id); err != nil || name != "Ana at 12" {
			t.Fatalf("Name = %q, %v after %v", name, err, ops)
		}
		var feedA []record.ID
		for _, id := range feedIDs(t, db) {
			if r, err := db.Record(id); err == nil && r.Author == a.id {
				feedA = append(feedA, id)
			}
		}
		if !equalIDs(feedA, ids(a3)) {
			t.Fatalf("feed of the honest author = %.12s after %v, want only %.12s", feedA, ops, a3.ID)
		}
	})
}
