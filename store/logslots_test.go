package store_test

import (
	"errors"
	"testing"

	"github.com/porchlight-mesh/porchlight/record"
	"github.com/porchlight-mesh/porchlight/store"
)

// LogSlots walks the slots held in a range, skipping holes and second
// versions, with purged slots as ID only; by point reads for a short
// range, by an iterator for a long one.
func TestLogSlots(t *testing.T) {
	db := openDB(t, store.Config{})
	a, other := newAuthor(t, 1), newAuthor(t, 2)
	for range 20 {
		a.post("p")
	}
	a.next(retracting(a.log[2]))                     // seq 21 purges seq 3
	fork := a.sign(5, a.log[3].ID, withText("fork")) // a second seq 5
	for i, s := range a.log {
		if i == 9 { // seq 10 missing
			continue
		}
		if _, err := db.Ingest(s); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.Ingest(fork); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Ingest(other.post("x")); err != nil {
		t.Fatal(err)
	}
	walk := func(from, to uint64) []store.Slot {
		var got []store.Slot
		if err := db.LogSlots(a.id, from, to, func(sl store.Slot) error {
			got = append(got, store.Slot{Seq: sl.Seq, ID: sl.ID, Raw: append([]byte(nil), sl.Raw...)})
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return got
	}
	for _, r := range []struct{ from, to uint64 }{{1, 100}, {1, 4}, {2, 12}, {8, 11}, {21, 21}, {22, 30}, {5, 4}} {
		got := walk(r.from, r.to)
		var want []uint64
		for seq := r.from; seq <= min(r.to, 21); seq++ {
			if seq != 10 {
				want = append(want, seq)
			}
		}
		if len(got) != len(want) {
			t.Fatalf("LogSlots(%d, %d) = %d slots, want %d", r.from, r.to, len(got), len(want))
		}
		for i, sl := range got {
			s := a.log[sl.Seq-1]
			switch {
			case sl.Seq != want[i] || sl.ID != s.ID:
				t.Fatalf("LogSlots(%d, %d)[%d] = seq %d %.8s, want seq %d %.8s", r.from, r.to, i, sl.Seq, sl.ID, want[i], s.ID)
			case sl.Seq == 3 && sl.Raw != nil:
				t.Fatal("the purged slot has content")
			case sl.Seq != 3 && record.IDOf(sl.Raw) != s.ID:
				t.Fatalf("slot %d's content is not its record", sl.Seq)
			}
		}
	}
	n := 0
	if err := db.LogSlots(a.id, 1, 100, func(store.Slot) error { n++; return store.ErrStop }); err != nil || n != 1 {
		t.Fatalf("ErrStop: %d slots, err %v", n, err)
	}
	boom := errors.New("boom")
	if err := db.LogSlots(a.id, 1, 2, func(store.Slot) error { return boom }); !errors.Is(err, boom) {
		t.Fatalf("error from f = %v", err)
	}
}
