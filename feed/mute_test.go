package feed_test

import (
	"context"
	"crypto/rand"
	"errors"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/porchlight-mesh/porchlight/clips"
	"github.com/porchlight-mesh/porchlight/feed"
	"github.com/porchlight-mesh/porchlight/record"
	"github.com/porchlight-mesh/porchlight/record/pb"
	"github.com/porchlight-mesh/porchlight/store"
)

// ingestAll stores a neighbor's records, signed one after the other, as
// the mesh does once they pass.
func ingestAll(t *testing.T, db *store.DB, w *writer, recs ...*record.Signed) {
	t.Helper()
	for _, s := range recs {
		if _, err := db.Ingest(w.commit(s)); err != nil {
			t.Fatal(err)
		}
	}
}

func authors(ps []feed.Post) map[peer.ID]int {
	m := map[peer.ID]int{}
	for _, p := range ps {
		m[p.Author]++
	}
	return m
}

func TestMuteHidesAnAuthorsPostsAndReplies(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	mine, err := f.svc.Post(ctx, feed.NewPost{Text: "Block party Saturday"})
	if err != nil {
		t.Fatal(err)
	}
	// Newer than mine: t0 is a fixed day, and mine was written now.
	t0 := time.Now()
	rude, loud := newWriter(t), newWriter(t)
	ingestAll(t, f.log.db, rude, rude.post(t, t0))
	ingestAll(t, f.log.db, rude, rude.next(t, t0.Add(time.Second), func(e *pb.Entry) {
		e.Body = &pb.Entry_Post{Post: &pb.Post{Kind: "general", Text: "nobody wants a party", ReplyTo: mine.ID[:]}}
	}))
	// More posts of a muted author than List reads at a time, all newer.
	for i := range 250 {
		ingestAll(t, f.log.db, loud, loud.post(t, t0.Add(time.Minute+time.Duration(i)*time.Millisecond)))
	}
	if got := authors(f.list(t)); got[loud.id] != 10 {
		t.Fatalf("before muting, the 10 newest are %v, want the loud author's", got)
	}

	for _, w := range []*writer{rude, loud} {
		if err := f.svc.Mute(w.id); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.svc.Mute(rude.id); err != nil { // twice is fine
		t.Fatal(err)
	}
	muted, err := f.svc.Muted()
	if err != nil {
		t.Fatal(err)
	}
	want := []peer.ID{rude.id, loud.id}
	slices.Sort(want)
	slices.Sort(muted)
	if !slices.Equal(muted, want) {
		t.Fatalf("Muted = %v, want %v", muted, want)
	}
	ps := f.list(t)
	if len(ps) != 1 || ps[0].ID != mine.ID {
		t.Fatalf("feed with both muted = %v, want only this home's post", authors(ps))
	}
	all, err := f.svc.List(300, feed.IncludeMuted())
	if err != nil {
		t.Fatal(err)
	}
	if got := authors(all); got[rude.id] != 2 || got[loud.id] != 250 || got[f.log.id] != 1 {
		t.Fatalf("List(IncludeMuted) = %v, want every post", got)
	}

	if err := f.svc.Unmute(rude.id); err != nil {
		t.Fatal(err)
	}
	if got := authors(f.list(t)); got[rude.id] != 2 || got[loud.id] != 0 || got[f.log.id] != 1 {
		t.Fatalf("after unmuting one = %v", got)
	}
	if muted, _ := f.svc.Muted(); len(muted) != 1 || muted[0] != loud.id {
		t.Fatalf("Muted after unmuting one = %v", muted)
	}
	if err := f.svc.Mute(f.log.id); err == nil {
		t.Fatal("a home muted itself")
	}
	if err := f.svc.Mute(""); err == nil {
		t.Fatal("muted an empty peer ID")
	}
	// Mute is kept in the records database, table U.
	if ok, err := f.log.db.Has(store.Mutes, []byte(loud.id)); err != nil || !ok {
		t.Fatalf("mute of %s not in table U: %v %v", loud.id, ok, err)
	}
}

func TestRemovedAuthorsPostsAreMarked(t *testing.T) {
	f := newFixture(t)
	gone := newWriter(t)
	ingestAll(t, f.log.db, gone, gone.post(t, t0))
	svc, err := feed.New(feed.Config{Log: f.log, Store: f.log.db, Removed: func(p peer.ID) (time.Time, bool) {
		return t0.Add(time.Hour), p == gone.id
	}})
	if err != nil {
		t.Fatal(err)
	}
	mine, err := svc.Post(context.Background(), feed.NewPost{Text: "hello"})
	if err != nil {
		t.Fatal(err)
	}
	if mine.AuthorRemoved {
		t.Fatal("this home's post is marked removed")
	}
	ps, err := svc.List(10)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		if p.AuthorRemoved != (p.Author == gone.id) {
			t.Errorf("post of %s: AuthorRemoved = %v", p.Author, p.AuthorRemoved)
		}
	}
	if len(ps) != 2 {
		t.Fatalf("%d posts, want 2", len(ps))
	}
}

// Post checks the limits before anything is shared or written, and says
// how long to wait.
func TestPostChecksTheLimitsFirst(t *testing.T) {
	now := t0
	clock := func() time.Time { return now }
	db, err := store.Open(store.Config{Dir: t.TempDir(), Neighborhood: nb, Logger: quiet, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	key, _, _ := crypto.GenerateEd25519Key(rand.Reader)
	id, _ := peer.IDFromPrivateKey(key)
	sharer := &memSharer{key: key, revoked: map[clips.GrantID]bool{}, held: map[record.ID]bool{}}
	newSvc := func(l feed.Limits) *feed.Service {
		svc, err := feed.New(feed.Config{Log: &storeLog{db: db, key: key, id: id}, Store: db, Sharer: sharer, Now: clock, Limiter: feed.NewLimiter(db, l)})
		if err != nil {
			t.Fatal(err)
		}
		return svc
	}
	svc := newSvc(feed.Limits{})
	ctx := context.Background()
	post := func() (feed.Post, error) {
		return svc.Post(ctx, feed.NewPost{Text: "hi", Clips: []record.ID{clipID(1)}})
	}
	refused := func(reason record.Reason, want string) {
		t.Helper()
		grants := len(sharer.grants)
		_, err := post()
		var inv *record.Invalid
		if !errors.As(err, &inv) || inv.Reason != reason || inv.Detail != want {
			t.Fatalf("Post = %v, want a %s refusal %q", err, reason, want)
		}
		if len(sharer.grants) != grants {
			t.Fatal("a post refused by the limits shared its clips")
		}
	}
	var posts []feed.Post
	for range 5 {
		p, err := post()
		if err != nil {
			t.Fatal(err)
		}
		posts = append(posts, p)
	}
	refused(record.ReasonRate, "you have posted 5 times in quick succession; wait 3 minutes")
	now = t0.Add(2*time.Minute + time.Second)
	refused(record.ReasonRate, "you have posted 5 times in quick succession; wait 1 minute")
	for i := 1; i <= 15; i++ {
		now = t0.Add(time.Duration(i) * 3 * time.Minute)
		if _, err := post(); err != nil {
			t.Fatalf("post %d: %v", 5+i, err)
		}
	}
	now = t0.Add(48 * time.Minute)
	refused(record.ReasonRate, "you have posted 20 times in the last hour; wait 12 minutes")
	now = t0.Add(time.Hour)
	if _, err := post(); err != nil {
		t.Fatal(err)
	}

	// The size limit, tightened to what the log holds.
	h, _ := db.Head(id)
	var used int64
	if err := db.LogSlots(id, 1, h.Max, func(sl store.Slot) error { used += int64(len(sl.Raw)); return nil }); err != nil {
		t.Fatal(err)
	}
	svc = newSvc(feed.Limits{MaxBytes: used + 100})
	now = now.Add(time.Hour)
	_, err = post()
	var inv *record.Invalid
	if !errors.As(err, &inv) || inv.Reason != record.ReasonSize || !regexpMatch(`^your posts would take \d+ kB, over the neighborhood's limit of \d+ kB per home; retract old posts to make room$`, inv.Detail) {
		t.Fatalf("Post over the size limit = %v", err)
	}
	// Retracting posts makes room.
	for _, p := range posts {
		if _, err := svc.Retract(p.ID); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := post(); err != nil {
		t.Fatalf("post after a retraction made room: %v", err)
	}
}

func regexpMatch(expr, s string) bool { return regexp.MustCompile(expr).MatchString(s) }
