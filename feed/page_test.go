package feed_test

import (
	"testing"
	"time"

	"github.com/porchlight-mesh/porchlight/feed"
	"github.com/porchlight-mesh/porchlight/record"
	"github.com/porchlight-mesh/porchlight/store"
)

// TestPageBefore pages through the feed by Next, with a muted author's
// posts among the others (some pages read past them), and each page's
// Next is the position of its last post; the last page has none.
func TestPageBefore(t *testing.T) {
	f := newFixture(t)
	a, b, muted := newWriter(t), newWriter(t), newWriter(t)
	var want []record.ID // newest first
	for i := range 30 {
		at := t0.Add(time.Duration(i) * time.Minute)
		pa, pm := a.post(t, at), muted.post(t, at.Add(time.Second))
		ingestAll(t, f.log.db, a, pa)
		ingestAll(t, f.log.db, muted, pm)
		want = append([]record.ID{pa.ID}, want...)
		if i%3 == 0 {
			pb := b.post(t, at.Add(2*time.Second))
			ingestAll(t, f.log.db, b, pb)
			want = append([]record.ID{pb.ID}, want...)
		}
	}
	if err := f.svc.Mute(muted.id); err != nil {
		t.Fatal(err)
	}
	for _, size := range []int{1, 7, len(want), len(want) + 1} {
		var got []record.ID
		var before store.Cursor
		for pages := 0; ; pages++ {
			if pages > len(want)+1 {
				t.Fatalf("size %d: more than %d pages", size, len(want)+1)
			}
			p, err := f.svc.Page(size, feed.Before(before))
			if err != nil {
				t.Fatal(err)
			}
			for _, post := range p.Posts {
				if post.Author == muted.id {
					t.Fatalf("size %d: a muted author's post", size)
				}
				got = append(got, post.ID)
			}
			if p.Next == (store.Cursor{}) {
				if len(p.Posts) == size {
					t.Fatalf("size %d: a full page without Next", size)
				}
				break
			}
			if len(p.Posts) != size || p.Next != p.Posts[len(p.Posts)-1].Cursor() {
				t.Fatalf("size %d: %d posts, Next %+v", size, len(p.Posts), p.Next)
			}
			before = p.Next
		}
		if len(got) != len(want) {
			t.Fatalf("size %d: paged through %d posts, want %d", size, len(got), len(want))
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("size %d: post %d is %.12s, want %.12s", size, i, got[i], want[i])
			}
		}
	}
}

// TestPageFollowsProfilesAndRetractions: what a page shows of an author
// (cached by the store) follows a new profile, and a retracted post
// leaves the page at once.
func TestPageFollowsProfilesAndRetractions(t *testing.T) {
	f := newFixture(t)
	w := newWriter(t)
	ingestAll(t, f.log.db, w, w.profile(t, t0, "Ana"))
	p1 := w.post(t, t0)
	ingestAll(t, f.log.db, w, p1)
	ingestAll(t, f.log.db, w, w.post(t, t0.Add(time.Minute)))
	name := func() string {
		t.Helper()
		ps := f.list(t)
		if len(ps) == 0 {
			t.Fatal("empty feed")
		}
		return ps[0].AuthorName
	}
	if n := name(); n != "Ana" {
		t.Fatalf("name %q, want Ana", n)
	}
	ingestAll(t, f.log.db, w, w.profile(t, t0.Add(2*time.Minute), "Ana at number 12"))
	if n := name(); n != "Ana at number 12" {
		t.Fatalf("name %q after a new profile, want the new one", n)
	}
	ingestAll(t, f.log.db, w, w.retract(t, t0.Add(3*time.Minute), p1))
	for _, p := range f.list(t) {
		if p.ID == p1.ID {
			t.Fatal("a retracted post is still listed")
		}
	}
}
