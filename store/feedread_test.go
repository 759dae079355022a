package store_test

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/porchlight-mesh/porchlight/record"
	"github.com/porchlight-mesh/porchlight/store"
	"github.com/porchlight-mesh/porchlight/store/storetest"
)

func feedKey(s *record.Signed) []byte {
	k := binary.BigEndian.AppendUint64([]byte{'f'}, uint64(s.Entry.GetCreated()))
	return append(k, s.ID[:]...)
}

// authorSeq is a feed index value of before version 3 (and the start of
// one of version 3): A S.
func authorSeq(s *record.Signed) []byte {
	v := append([]byte{byte(len(s.Author))}, s.Author...)
	return binary.BigEndian.AppendUint64(v, s.Seq())
}

// feedValues returns every feed index entry's value, by key.
func feedValues(t *testing.T, db *store.DB) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	err := db.Badger().View(func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.Prefix = []byte{'f'}
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			v, err := it.Item().ValueCopy(nil)
			if err != nil {
				return err
			}
			out[string(it.Item().KeyCopy(nil))] = v
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// checkFeedIndexV3 checks that every feed index entry holds its post (A S
// and more).
func checkFeedIndexV3(t *testing.T, db *store.DB, n int) {
	t.Helper()
	vals := feedValues(t, db)
	if len(vals) != n {
		t.Errorf("%d feed index entries, want %d", len(vals), n)
	}
	for k, v := range vals {
		if len(v) == 0 || len(v) <= 1+int(v[0])+8 {
			t.Errorf("feed index entry %x holds %x, not A S and the post", k, v)
		}
	}
}

// oldFeedIndex writes the feed index entries of p1 as a database of before
// 2026-11-28 held them (empty), of p2 as version 2 did (A S), and one of
// version 2 for gone, a retracted post, as a crash could have left it
// (stale: the feed never showed it). It returns gone's key.
func oldFeedIndex(t *testing.T, db *store.DB, p1, p2, gone *record.Signed) []byte {
	t.Helper()
	err := db.Badger().Update(func(txn *badger.Txn) error {
		for _, s := range []*record.Signed{p1, p2} {
			if _, err := txn.Get(feedKey(s)); err != nil {
				return fmt.Errorf("the entry of %.12s: %w", s.ID, err)
			}
		}
		if err := txn.Set(feedKey(p1), nil); err != nil {
			return err
		}
		if err := txn.Set(feedKey(p2), authorSeq(p2)); err != nil {
			return err
		}
		return txn.Set(feedKey(gone), authorSeq(gone))
	})
	if err != nil {
		t.Fatal(err)
	}
	return feedKey(gone)
}

// TestFeedPostsReadsOldEntries: FeedPosts reads an entry of an older
// layout through the log slot, and skips one whose post is gone.
func TestFeedPostsReadsOldEntries(t *testing.T) {
	db := openDB(t, store.Config{})
	a, b := newAuthor(t, 1), newAuthor(t, 2)
	p1 := a.next(withText("p1"), createdAt(base.Add(time.Minute)))
	p2 := b.next(withText("p2"), createdAt(base.Add(2*time.Minute)))
	p3 := a.next(withText("p3"), createdAt(base.Add(3*time.Minute)))
	gone := b.next(withText("gone"), createdAt(base.Add(4*time.Minute)))
	for _, s := range []*record.Signed{p1, p2, p3, gone, b.next(retracting(gone), createdAt(base.Add(5*time.Minute)))} {
		mustIngest(t, db, s, added)
	}
	oldFeedIndex(t, db, p1, p2, gone)
	checkFeed(t, db, p3, p2, p1) // Feed and FeedPosts agree (feedPage)
}

// TestMigrateFeedIndex: the step to version 3 rewrites every feed index
// entry to hold its post, whichever older form it had, removes an entry
// whose post is gone, and leaves the same database the second time.
func TestMigrateFeedIndex(t *testing.T) {
	dir := t.TempDir()
	db := openDB(t, store.Config{Dir: dir})
	a, b := newAuthor(t, 1), newAuthor(t, 2)
	p1 := a.next(withText("p1"), createdAt(base.Add(time.Minute)))
	p2 := b.next(withText("p2"), createdAt(base.Add(2*time.Minute)))
	p3 := a.next(withText("p3"), createdAt(base.Add(3*time.Minute)))
	gone := b.next(withText("gone"), createdAt(base.Add(4*time.Minute)))
	elsewhere := newAuthor(t, 3).next(withText("another street's"), inNeighborhood("oak-st"))
	for _, s := range []*record.Signed{p1, p2, p3, gone, b.next(retracting(gone), createdAt(base.Add(5*time.Minute)))} {
		mustIngest(t, db, s, added)
	}
	// An agency's post of another neighborhood, stored in its log but not
	// in the feed (Config.Elsewhere): the step must not add it.
	if err := db.Badger().Update(func(txn *badger.Txn) error {
		return txn.Set(append(append([]byte{'l', byte(len(elsewhere.Author))}, elsewhere.Author...), binary.BigEndian.AppendUint64(nil, 1)...),
			append([]byte{0}, elsewhere.Raw...))
	}); err != nil {
		t.Fatal(err)
	}
	staleKey := oldFeedIndex(t, db, p1, p2, gone)
	if err := db.Badger().Update(func(txn *badger.Txn) error { return txn.Set([]byte{'v'}, []byte("2")) }); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	var log bytes.Buffer
	db = openDB(t, store.Config{Dir: dir, Logger: slog.New(slog.NewTextHandler(&log, nil))})
	if !strings.Contains(log.String(), "from=2 to=3") {
		t.Errorf("no migration from 2 to 3 logged:\n%s", log.String())
	}
	if v := version(t, db); v != "3" {
		t.Errorf("version %q after the migration, want 3", v)
	}
	checkFeedIndexV3(t, db, 3)
	if _, ok := feedValues(t, db)[string(staleKey)]; ok {
		t.Error("the stale entry was kept")
	}
	checkFeed(t, db, p3, p2, p1)
	before := feedValues(t, db)

	if err := store.MigrateTo3(db); err != nil {
		t.Fatalf("the step, run again: %v", err)
	}
	after := feedValues(t, db)
	if len(after) != len(before) {
		t.Fatalf("the second run left %d entries, the first %d", len(after), len(before))
	}
	for k, v := range before {
		if !bytes.Equal(after[k], v) {
			t.Errorf("the second run changed entry %x", k)
		}
	}
	checkFeed(t, db, p3, p2, p1)
}

// TestMigrateFeedIndexOfRelease: the version-2 data directory a release
// made (testdata/v2.tar.gz) gets a feed index of version 3 with its two
// posts.
func TestMigrateFeedIndexOfRelease(t *testing.T) {
	f := storetest.Extract(t, fixtureV2)
	db := openFixture(t, f, f.Peer(t, "issuer"))
	checkFeedIndexV3(t, db, 2)
	fps, err := db.FeedPosts(10, store.Cursor{})
	if err != nil || len(fps) != 2 {
		t.Fatalf("FeedPosts = %d posts, %v; want 2", len(fps), err)
	}
	texts := map[string]bool{}
	for _, fp := range fps {
		texts[fp.Post.GetText()] = true
		if fp.Author != f.Peer(t, "self") {
			t.Errorf("post %.12s by %s, want this home", fp.ID, fp.Author)
		}
	}
	if !texts["Lost grey cat near the park"] || !texts["Package thief on camera"] {
		t.Errorf("posts %v, want the fixture's two", texts)
	}
}

func TestCursorString(t *testing.T) {
	c := store.Cursor{Created: base.UnixMilli(), ID: record.ID{1, 2, 3, 31: 9}}
	got, err := store.ParseCursor(c.String())
	if err != nil || got != c {
		t.Fatalf("ParseCursor(%q) = %+v, %v; want %+v", c.String(), got, err, c)
	}
	if s := (store.Cursor{}).String(); s != "" {
		t.Errorf("the zero cursor is %q, want empty", s)
	}
	if got, err := store.ParseCursor(""); err != nil || got != (store.Cursor{}) {
		t.Errorf(`ParseCursor("") = %+v, %v; want the zero cursor`, got, err)
	}
	neg := binary.BigEndian.AppendUint64(nil, 1<<63)
	for _, bad := range []string{
		"x", "not a cursor!", c.String() + "A", c.String()[1:],
		base64.StdEncoding.EncodeToString(make([]byte, 40)), // padded
		base64.RawURLEncoding.EncodeToString(make([]byte, 39)),
		base64.RawURLEncoding.EncodeToString(append(neg, make([]byte, 32)...)),
	} {
		if _, err := store.ParseCursor(bad); !errors.Is(err, store.ErrBadCursor) {
			t.Errorf("ParseCursor(%q) = %v, want ErrBadCursor", bad, err)
		}
	}
}

// checkAuthor checks Author (cached) against Name and Head (not cached).
func checkAuthor(t *testing.T, db *store.DB, a peer.ID, what string) {
	t.Helper()
	got, err := db.Author(a)
	if err != nil {
		t.Fatal(err)
	}
	name, err := db.Name(a)
	if err != nil {
		t.Fatal(err)
	}
	h, err := db.Head(a)
	if err != nil {
		t.Fatal(err)
	}
	if want := (store.AuthorInfo{Name: name, Flagged: h.Flagged}); got != want {
		t.Fatalf("%s: Author = %+v, want %+v", what, got, want)
	}
}

// TestAuthorCache: Author, which is cached, follows every write that
// changes an author's name or flag: a profile received in or out of order,
// an own profile, an equivocation.
func TestAuthorCache(t *testing.T) {
	db := openDB(t, store.Config{})
	a, me := newAuthor(t, 1), newAuthor(t, 2)
	checkAuthor(t, db, a.id, "unknown author")
	p1 := a.next(withProfile("Ana"))
	post := a.post("hi")
	p3 := a.next(withProfile("Ana at number 12"))
	p4 := a.post("again")
	for _, s := range []*record.Signed{post, p3, p1} {
		checkAuthor(t, db, a.id, "before seq "+fmt.Sprint(s.Seq()))
		if res, err := db.Ingest(s); err != nil || res.Outcome != store.Added {
			t.Fatalf("Ingest seq %d = %+v, %v", s.Seq(), res, err)
		}
		checkAuthor(t, db, a.id, "after seq "+fmt.Sprint(s.Seq()))
	}
	if ai, _ := db.Author(a.id); ai.Name != "Ana at number 12" {
		t.Errorf("name %q, want the newest profile's", ai.Name)
	}
	mustIngest(t, db, a.sign(4, p3.ID, withText("told differently")), added)
	checkAuthor(t, db, a.id, "before the equivocation")
	mustIngest(t, db, p4, store.Result{Outcome: store.Equivocation})
	checkAuthor(t, db, a.id, "after the equivocation")
	if ai, _ := db.Author(a.id); !ai.Flagged {
		t.Error("an equivocating author is not flagged")
	}
	for _, name := range []string{"Bea", "Bea 🌻"} {
		checkAuthor(t, db, me.id, "own, before "+name)
		if _, err := db.AppendOwn(me.key, withProfile(name)); err != nil {
			t.Fatal(err)
		}
		checkAuthor(t, db, me.id, "own, after "+name)
	}
}

// TestAuthorCacheConcurrent: readers of Author racing a writer of
// profiles never leave a stale name in the cache.
func TestAuthorCacheConcurrent(t *testing.T) {
	db := openDB(t, store.Config{})
	authors := []*author{newAuthor(t, 1), newAuthor(t, 2), newAuthor(t, 3)}
	var wg sync.WaitGroup
	done := make(chan struct{})
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				for _, a := range authors {
					if _, err := db.Author(a.id); err != nil {
						t.Error(err)
						return
					}
				}
			}
		}()
	}
	for i := range 60 {
		a := authors[i%len(authors)]
		mustIngest(t, db, a.next(withProfile(fmt.Sprintf("name %d", i))), added)
	}
	close(done)
	wg.Wait()
	for _, a := range authors {
		checkAuthor(t, db, a.id, "after the race")
	}
}
