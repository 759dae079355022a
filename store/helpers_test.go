package store_test

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"google.golang.org/protobuf/proto"

	"github.com/porchlight-mesh/porchlight/record"
	"github.com/porchlight-mesh/porchlight/record/pb"
	"github.com/porchlight-mesh/porchlight/store"
)

const hood = "elm-street"

// base is when the test logs start. It is in the past so that record.Seal,
// which checks against the real clock, accepts every test record.
var base = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// openDB opens a store in a fresh directory unless cfg names one, and closes
// it when the test ends.
func openDB(t testing.TB, cfg store.Config) *store.DB {
	t.Helper()
	if cfg.Dir == "" {
		cfg.Dir = t.TempDir()
	}
	if cfg.Neighborhood == "" {
		cfg.Neighborhood = hood
	}
	if cfg.Logger == nil {
		cfg.Logger = quiet
	}
	db, err := store.Open(cfg)
	if err != nil {
		t.Fatalf("store.Open: %v", err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return db
}

// author is a test peer that signs its own log. Its records are built with
// record.Seal, so they pass record.Open; what makes them interesting is how
// they relate to each other.
type author struct {
	t   testing.TB
	key crypto.PrivKey
	id  peer.ID
	log []*record.Signed // the records next has built, log[i] at seq i+1
}

func newAuthor(t testing.TB, seed byte) *author {
	t.Helper()
	key, _, err := crypto.GenerateEd25519Key(bytes.NewReader(bytes.Repeat([]byte{seed}, 32)))
	if err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return &author{t: t, key: key, id: id}
}

// sign seals a record at seq with the given prev (ignored at seq 1); by
// default a post created seq minutes after base.
func (a *author) sign(seq uint64, prev record.ID, mods ...func(*pb.Entry)) *record.Signed {
	a.t.Helper()
	e := &pb.Entry{
		Author:       []byte(a.id),
		Seq:          seq,
		Created:      base.Add(time.Duration(seq) * time.Minute).UnixMilli(),
		Neighborhood: hood,
		Body:         &pb.Entry_Post{Post: &pb.Post{Kind: "general", Text: "post"}},
	}
	if seq > 1 {
		e.Prev = prev[:]
	}
	for _, m := range mods {
		m(e)
	}
	s, err := record.Seal(e, a.key)
	if err != nil {
		a.t.Fatalf("seal seq %d: %v", seq, err)
	}
	return s
}

// next signs the next record of a's log.
func (a *author) next(mods ...func(*pb.Entry)) *record.Signed {
	a.t.Helper()
	var prev record.ID
	if n := len(a.log); n > 0 {
		prev = a.log[n-1].ID
	}
	s := a.sign(uint64(len(a.log)+1), prev, mods...)
	a.log = append(a.log, s)
	return s
}

func (a *author) post(text string) *record.Signed { return a.next(withText(text)) }

func withText(text string) func(*pb.Entry) {
	return func(e *pb.Entry) { e.Body = &pb.Entry_Post{Post: &pb.Post{Kind: "general", Text: text}} }
}

func withProfile(name string) func(*pb.Entry) {
	return func(e *pb.Entry) { e.Body = &pb.Entry_Profile{Profile: &pb.Profile{Name: name}} }
}

// retracting makes the record a retraction of target (which may be anyone's).
func retracting(target *record.Signed) func(*pb.Entry) {
	return func(e *pb.Entry) {
		e.Body = &pb.Entry_Retraction{Retraction: &pb.Retraction{TargetSeq: target.Seq(), TargetHash: target.ID[:]}}
	}
}

func createdAt(t time.Time) func(*pb.Entry) {
	return func(e *pb.Entry) { e.Created = t.UnixMilli() }
}

func inNeighborhood(n string) func(*pb.Entry) {
	return func(e *pb.Entry) { e.Neighborhood = n }
}

func mustIngest(t testing.TB, db *store.DB, s *record.Signed, want store.Result) {
	t.Helper()
	got, err := db.Ingest(s)
	if err != nil {
		t.Fatalf("Ingest seq %d of %s: %v", s.Seq(), s.Author, err)
	}
	if got != want {
		t.Fatalf("Ingest seq %d of %s = %+v, want %+v", s.Seq(), s.Author, got, want)
	}
}

var (
	added    = store.Result{Outcome: store.Added}
	addedGap = store.Result{Outcome: store.Added, Gap: true}
	dup      = store.Result{Outcome: store.Duplicate}
)

func checkHead(t testing.TB, db *store.DB, a peer.ID, contig, max uint64, id record.ID, flagged bool) {
	t.Helper()
	h, err := db.Head(a)
	if err != nil {
		t.Fatalf("Head: %v", err)
	}
	want := store.Head{Author: a, Contig: contig, Max: max, ID: id, Flagged: flagged}
	if h != want {
		t.Fatalf("Head = {Contig:%d Max:%d ID:%.12s Flagged:%v}, want {Contig:%d Max:%d ID:%.12s Flagged:%v}",
			h.Contig, h.Max, h.ID, h.Flagged, contig, max, id, flagged)
	}
}

// checkRecord checks that db serves s by its ID.
func checkRecord(t testing.TB, db *store.DB, s *record.Signed) {
	t.Helper()
	got, err := db.Record(s.ID)
	if err != nil {
		t.Fatalf("Record(%.12s): %v", s.ID, err)
	}
	if got.ID != s.ID || !bytes.Equal(got.Raw, s.Raw) || got.Author != s.Author {
		t.Fatalf("Record(%.12s) returned a different record", s.ID)
	}
}

func checkNoRecord(t testing.TB, db *store.DB, id record.ID) {
	t.Helper()
	if got, err := db.Record(id); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Record(%.12s) = %v, %v; want ErrNotFound", id, got, err)
	}
}

// feedIDs returns the IDs of the whole feed, newest first.
func feedIDs(t testing.TB, db *store.DB) []record.ID {
	t.Helper()
	return ids(feedPage(t, db, 1000, store.Cursor{})...)
}

// feedPage is db.Feed(limit, before), checked against db.FeedPosts: the
// same posts, each as its record says.
func feedPage(t testing.TB, db *store.DB, limit int, before store.Cursor) []*record.Signed {
	t.Helper()
	recs, err := db.Feed(limit, before)
	if err != nil {
		t.Fatalf("Feed: %v", err)
	}
	fps, err := db.FeedPosts(limit, before)
	if err != nil {
		t.Fatalf("FeedPosts: %v", err)
	}
	if len(fps) != len(recs) {
		t.Fatalf("FeedPosts(%d, %v) listed %d posts, Feed %d", limit, before, len(fps), len(recs))
	}
	for i, r := range recs {
		fp := fps[i]
		if fp.ID != r.ID || fp.Author != r.Author || fp.Seq != r.Seq() || fp.Created != r.Entry.GetCreated() ||
			!proto.Equal(fp.Post, r.Entry.GetPost()) || fp.Cursor() != store.CursorAt(r) {
			t.Fatalf("FeedPosts post %d = %+v, want record %.12s (seq %d of %s)", i, fp, r.ID, r.Seq(), r.Author)
		}
	}
	return recs
}

func ids(recs ...*record.Signed) []record.ID {
	out := []record.ID{}
	for _, r := range recs {
		out = append(out, r.ID)
	}
	return out
}

func equalIDs(a, b []record.ID) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func checkFeed(t testing.TB, db *store.DB, want ...*record.Signed) {
	t.Helper()
	if got := feedIDs(t, db); !equalIDs(got, ids(want...)) {
		t.Fatalf("Feed = %.12s, want %.12s", got, ids(want...))
	}
}

func allSlots(t testing.TB, db *store.DB, a peer.ID) []store.Slot {
	t.Helper()
	slots, more, err := db.Slots(a, 1, 1000, 1<<30)
	if err != nil {
		t.Fatalf("Slots: %v", err)
	}
	if more {
		t.Fatal("Slots: more with unbounded limits")
	}
	return slots
}
