package clips_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/porchlight-mesh/porchlight/clips"
	"github.com/porchlight-mesh/porchlight/record"
	"github.com/porchlight-mesh/porchlight/store/storetest"
)

// homeClips imports days×perDay small clips into s, alternating between
// cameras, perDay a day for days days before now, and returns their IDs by
// start, newest first. Two importers run at once, as a camera folder and
// an upload would.
func homeClips(t testing.TB, s *clips.Store, days, perDay int, now time.Time, cameras ...string) []string {
	t.Helper()
	type item struct {
		start time.Time
		id    string
	}
	n := days * perDay
	out := make([]item, n)
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for w := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += 2 {
				day, k := i/perDay, i%perDay
				start := now.Add(-time.Duration(day)*24*time.Hour - time.Duration(k)*(24*time.Hour/time.Duration(perDay)) - time.Minute)
				m, err := s.Import(context.Background(), bytes.NewReader(randBytes(uint64(i)+1000, 1000)), clips.ImportMeta{
					Camera: cameras[i%len(cameras)], Start: start, End: start.Add(20 * time.Second), MediaType: "video/mp4"})
				if err != nil {
					errs <- err
					return
				}
				out[i] = item{start, m.ClipID().String()}
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
	slices.SortStableFunc(out, func(a, b item) int { return b.start.Compare(a.start) })
	ids := make([]string, n)
	for i, it := range out {
		ids[i] = it.id
	}
	return ids
}

// pageAll pages through q, failing on a page larger than q.Limit.
func pageAll(t testing.TB, s *clips.Store, q clips.Query) []clips.Listed {
	t.Helper()
	var out []clips.Listed
	for pages := 0; ; pages++ {
		p, err := s.Page(q)
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Clips) > q.Limit || (p.Next != "" && len(p.Clips) != q.Limit) {
			t.Fatalf("page %d has %d clips (limit %d, next %q)", pages, len(p.Clips), q.Limit, p.Next)
		}
		out = append(out, p.Clips...)
		if p.Next == "" {
			return out
		}
		q.Cursor = p.Next
		if pages > 1000 {
			t.Fatal("the listing does not end")
		}
	}
}

func ids(ls []clips.Listed) []string {
	out := make([]string, len(ls))
	for i, l := range ls {
		out[i] = l.ClipID().String()
	}
	return out
}

// TestPageCursorAndFilters: pages of any size, followed by their cursors,
// list every clip once, newest first; the camera, time range and owner
// filters keep exactly the clips they name; a bad cursor is refused.
func TestPageCursorAndFilters(t *testing.T) {
	s := newStore(t, 1, clips.Config{})
	now := time.Now().Truncate(time.Second)
	want := homeClips(t, s, 3, 8, now, "front-door", "driveway")

	for _, limit := range []int{1, 5, 8, 24, 500} {
		got := pageAll(t, s, clips.Query{Limit: limit})
		if !slices.Equal(ids(got), want) {
			t.Fatalf("limit %d: listed %d clips in another order or with duplicates", limit, len(got))
		}
	}
	first, err := s.Page(clips.Query{})
	if err != nil || len(first.Clips) != 24 || first.Next != "" {
		t.Fatalf("the zero Query: %d clips, next %q (%v)", len(first.Clips), first.Next, err)
	}
	if c := first.Clips[0]; c.Held || c.Expires.Before(now.Add(29*24*time.Hour)) {
		t.Errorf("a fresh clip listed held=%v, expiring %v", c.Held, c.Expires)
	}

	cam := pageAll(t, s, clips.Query{Limit: 5, Camera: "driveway"})
	if len(cam) != 12 {
		t.Errorf("driveway: %d clips, want 12", len(cam))
	}
	for _, c := range cam {
		if c.M.GetCamera() != "driveway" {
			t.Errorf("camera filter let %q through", c.M.GetCamera())
		}
	}

	// Yesterday, as a day filter: [now-48h, now-24h) holds the 8 clips of day 1.
	since, until := now.Add(-48*time.Hour), now.Add(-24*time.Hour)
	day := pageAll(t, s, clips.Query{Limit: 3, Since: since, Until: until})
	if !slices.Equal(ids(day), want[8:16]) {
		t.Errorf("day 1: %d clips, want the 8 of that day", len(day))
	}
	for _, c := range day {
		if st := c.Start(); st.Before(since) || !st.Before(until) {
			t.Errorf("clip of %v outside [%v, %v)", st, since, until)
		}
	}
	both := pageAll(t, s, clips.Query{Limit: 2, Since: since, Until: until, Camera: "front-door"})
	if len(both) != 4 {
		t.Errorf("day 1, front door: %d clips, want 4", len(both))
	}

	// A clip received from another home is listed, and left out by Owner.
	key, other := edKey(t, 9)
	data := randBytes(77, 3000)
	mf := manifestFor(other, data, clips.MinChunkSize)
	mf.Start = now.Add(-time.Hour).UnixMilli()
	mf.End = mf.Start + 10_000
	theirs, err := clips.SealManifest(mf, key)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.PutVerified(context.Background(), theirs, chunksOf(data, clips.MinChunkSize)); err != nil {
		t.Fatal(err)
	}
	if got := pageAll(t, s, clips.Query{Limit: 10}); len(got) != 25 {
		t.Errorf("with a received clip: %d listed, want 25", len(got))
	}
	own := pageAll(t, s, clips.Query{Limit: 10, Owner: s.Owner()})
	if !slices.Equal(ids(own), want) {
		t.Errorf("own clips: %d listed, want the 24 imported here", len(own))
	}
	if got := pageAll(t, s, clips.Query{Limit: 10, Owner: other}); len(got) != 1 || got[0].ClipID() != theirs.ClipID() {
		t.Errorf("the other owner's clips: %v", ids(got))
	}

	cams, err := s.Cameras(s.Owner())
	if err != nil || len(cams) != 2 || cams[0] != (clips.CameraCount{Camera: "driveway", Clips: 12}) || cams[1] != (clips.CameraCount{Camera: "front-door", Clips: 12}) {
		t.Errorf("Cameras = %+v (%v)", cams, err)
	}

	for _, bad := range []string{"x", "!!!", "AAAA"} {
		if _, err := s.Page(clips.Query{Cursor: bad}); !errors.Is(err, clips.ErrBadCursor) {
			t.Errorf("cursor %q: %v, want ErrBadCursor", bad, err)
		}
	}
	if _, err := s.Page(clips.Query{Limit: clips.MaxPageSize + 1}); err == nil {
		t.Error("a page larger than MaxPageSize was allowed")
	}
}

// TestPageFollowsHoldAndRelease: the index entry carries the manifest's
// expiry, so a held clip lists as held, a released one expiring, and a
// clip released after its retention is gone from the listing too.
func TestPageFollowsHoldAndRelease(t *testing.T) {
	clk := &clock{now: time.Now()}
	db := openBadger(t)
	s := newStore(t, 1, clips.Config{DB: db, Now: clk.Now, Retention: time.Hour})
	m := importBytes(t, s, randBytes(5, 2000))
	ctx := context.Background()
	if err := s.Hold(ctx, m.ClipID()); err != nil {
		t.Fatal(err)
	}
	p, err := s.Page(clips.Query{})
	if err != nil || len(p.Clips) != 1 || !p.Clips[0].Held || !p.Clips[0].Expires.IsZero() {
		t.Fatalf("held: %+v (%v)", p.Clips, err)
	}
	if e := expiries(t, db, 'T'); len(e) != 1 || e[0] != 0 {
		t.Errorf("held clip's index entry expires at %v", e)
	}
	clk.Add(2 * time.Hour)
	if err := s.Release(ctx, m.ClipID()); err != nil {
		t.Fatal(err)
	}
	if p, err := s.Page(clips.Query{}); err != nil || len(p.Clips) != 0 {
		t.Errorf("after a release past retention: %d listed (%v)", len(p.Clips), err)
	}
	if n := countKeys(t, db, 'T'); n != 0 {
		t.Errorf("%d index entries left", n)
	}
}

// TestTimeIndexMigration: a clip database of schema version 1 (no time
// index) gets one when opened, for every clip, with each manifest's
// expiry: from the data directory of the December release, and from a
// version-1 database of many clips.
func TestTimeIndexMigration(t *testing.T) {
	t.Run("december release", func(t *testing.T) {
		f := storetest.Extract(t, storetest.Archive(storetest.V2))
		db, err := clips.OpenDB(filepath.Join(f.Dir, "data", "clips"), quiet)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if v := clipVersion(t, db); v != "2" {
			t.Errorf("version %q after open, want 2", v)
		}
		s := newStore(t, 1, clips.Config{DB: db})
		p, err := s.Page(clips.Query{})
		if err != nil || len(p.Clips) != 1 || p.Clips[0].ClipID().String() != f.Fact(t, "clip") {
			t.Fatalf("listing of the migrated database: %v (%v)", ids(p.Clips), err)
		}
	})
	t.Run("version 1 with 60 clips", func(t *testing.T) {
		dir := t.TempDir()
		db, err := clips.OpenDB(dir, quiet)
		if err != nil {
			t.Fatal(err)
		}
		s := newStore(t, 1, clips.Config{DB: db})
		want := homeClips(t, s, 3, 20, time.Now(), "porch", "garden", "gate")
		heldID := want[7]
		hid, err := record.ParseID(heldID)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Hold(context.Background(), hid); err != nil {
			t.Fatal(err)
		}
		// Back to version 1: no index, version key 1.
		err = db.Badger().Update(func(txn *badger.Txn) error {
			opts := badger.DefaultIteratorOptions
			opts.Prefix = []byte{'T'}
			it := txn.NewIterator(opts)
			var keys [][]byte
			for it.Rewind(); it.Valid(); it.Next() {
				keys = append(keys, it.Item().KeyCopy(nil))
			}
			it.Close()
			for _, k := range keys {
				if err := txn.Delete(k); err != nil {
					return err
				}
			}
			return txn.Set([]byte{'v'}, []byte("1"))
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		if db, err = clips.OpenDB(dir, quiet); err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if v := clipVersion(t, db); v != fmt.Sprint(clips.DBVersion) {
			t.Errorf("version %q after the migration", v)
		}
		s = newStore(t, 1, clips.Config{DB: db})
		got := pageAll(t, s, clips.Query{Limit: 7})
		if !slices.Equal(ids(got), want) {
			t.Fatalf("after the migration: %d clips listed, want %d in order", len(got), len(want))
		}
		for _, c := range got {
			if (c.ClipID().String() == heldID) != c.Held {
				t.Errorf("clip %s: held %v after the migration", c.ClipID(), c.Held)
			}
		}
		if e := expiries(t, db, 'T'); len(e) != 60 || slices.Min(e) != 0 || slices.Max(e) == 0 {
			t.Errorf("index expiries after the migration: %d entries, min %d", len(e), slices.Min(e))
		}
	})
}

// TestCountOverlapping: a clip counts when it overlaps [from, to] by as
// little as its first or last millisecond; one without an end counts by
// its start.
func TestCountOverlapping(t *testing.T) {
	s := newStore(t, 1, clips.Config{})
	from, to := t0, t0.Add(time.Hour)
	for i, c := range []struct {
		name       string
		start, end time.Time
		counts     bool
	}{
		{"ends as the window opens", from.Add(-time.Minute), from, true},
		{"ends before", from.Add(-time.Minute), from.Add(-time.Millisecond), false},
		{"starts as the window closes", to, to.Add(time.Minute), true},
		{"starts after", to.Add(time.Millisecond), to.Add(time.Minute), false},
		{"spans it", from.Add(-time.Hour), to.Add(time.Hour), true},
		{"inside, no end", from.Add(time.Minute), time.Time{}, true},
		{"before, no end", from.Add(-time.Minute), time.Time{}, false},
	} {
		if _, err := s.Import(context.Background(), bytes.NewReader(randBytes(uint64(500+i), 900)), clips.ImportMeta{
			Camera: c.name, Start: c.start, End: c.end, MediaType: "video/mp4"}); err != nil {
			t.Fatal(err)
		}
	}
	n, err := s.CountOverlapping("", from, to)
	if err != nil || n != 4 {
		t.Errorf("CountOverlapping = %d (%v), want 4", n, err)
	}
	_, other := edKey(t, 9)
	if n, err := s.CountOverlapping(other, from, to); err != nil || n != 0 {
		t.Errorf("another owner's: %d (%v)", n, err)
	}
}
