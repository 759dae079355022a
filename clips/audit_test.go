package clips_test

import (
	"testing"
	"time"

	"github.com/porchlight-mesh/porchlight/clips"
	"github.com/porchlight-mesh/porchlight/record"
	"github.com/porchlight-mesh/porchlight/store"
)

func TestAuditListNewestFirst(t *testing.T) {
	a, err := clips.NewAudit(openRecords(t))
	if err != nil {
		t.Fatal(err)
	}
	_, p := edKey(t, 2)
	clip := record.ID{1, 2, 3}
	for i := range 5 {
		e := clips.Entry{Time: t0.Add(time.Duration(i) * time.Second), Peer: p, Clip: clip, Served: i%2 == 0, Bytes: int64(i)}
		if !e.Served {
			e.Reason = clips.ErrNotGrantee.Error()
		}
		if err := a.Record(e); err != nil {
			t.Fatal(err)
		}
	}
	// Two attempts in the same instant keep both entries.
	if err := a.Record(clips.Entry{Time: t0, Peer: p}); err != nil {
		t.Fatal(err)
	}
	got, err := a.List(0)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 6 {
		t.Fatalf("List: %d entries, want 6", len(got))
	}
	for i, e := range got[:4] {
		want := int64(4 - i)
		if e.Bytes != want || !e.Time.Equal(t0.Add(time.Duration(want)*time.Second)) {
			t.Errorf("entry %d: bytes %d at %s, want %d at %s", i, e.Bytes, e.Time, want, t0.Add(time.Duration(want)*time.Second))
		}
		if e.Peer != p || e.Clip != clip || e.Served != (want%2 == 0) {
			t.Errorf("entry %d = %+v", i, e)
		}
		if !e.Served && e.Reason != clips.ErrNotGrantee.Error() {
			t.Errorf("entry %d: reason %q", i, e.Reason)
		}
	}
	// The two at t0 come last, in either order.
	for _, e := range got[4:] {
		if !e.Time.Equal(t0) {
			t.Errorf("last entries: %+v, want both at %s", got[4:], t0)
		}
	}
	if got, err := a.List(2); err != nil || len(got) != 2 || got[0].Bytes != 4 {
		t.Errorf("List(2) = %d entries (%v), want the 2 newest", len(got), err)
	}
}

// TestAuditSurvivesReopen: entries are on disk when Record returns.
func TestAuditSurvivesReopen(t *testing.T) {
	dir := t.TempDir()
	_, p := edKey(t, 3)
	for round := range 2 {
		db, err := store.Open(store.Config{Dir: dir, Neighborhood: "elm-street", Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		a, err := clips.NewAudit(db)
		if err != nil {
			t.Fatal(err)
		}
		if round == 0 {
			if err := a.Record(clips.Entry{Time: t0, Peer: p, Reason: "grant was revoked by its owner"}); err != nil {
				t.Fatal(err)
			}
		} else {
			got, err := a.List(10)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 || got[0].Peer != p || got[0].Reason != "grant was revoked by its owner" || !got[0].Time.Equal(t0) {
				t.Errorf("after reopening: %+v", got)
			}
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestNewAuditNeedsDB(t *testing.T) {
	if _, err := clips.NewAudit(nil); err == nil {
		t.Error("NewAudit(nil) succeeded")
	}
}
