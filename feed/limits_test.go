package feed_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/porchlight-mesh/porchlight/feed"
	"github.com/porchlight-mesh/porchlight/mesh"
	"github.com/porchlight-mesh/porchlight/record"
	"github.com/porchlight-mesh/porchlight/record/pb"
	"github.com/porchlight-mesh/porchlight/store"
)

const nb = "maple-st"

// t0 is the start of the tests' logs.
var t0 = time.Date(2026, 12, 3, 8, 0, 0, 0, time.UTC)

func openDB(t testing.TB, dir string) *store.DB {
	t.Helper()
	db, err := store.Open(store.Config{Dir: dir, Neighborhood: nb, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// writer signs one author's log, record by record, with a real key.
type writer struct {
	key  crypto.PrivKey
	id   peer.ID
	seq  uint64
	prev record.ID
}

func newWriter(t testing.TB) *writer {
	t.Helper()
	key, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := peer.IDFromPrivateKey(key)
	return &writer{key: key, id: id}
}

// next signs the record after the last one committed, without committing
// it: a record that is refused leaves its seq free.
func (w *writer) next(t testing.TB, created time.Time, body func(*pb.Entry)) *record.Signed {
	t.Helper()
	e := &pb.Entry{Author: []byte(w.id), Seq: w.seq + 1, Created: created.UnixMilli(), Neighborhood: nb}
	if w.seq > 0 {
		e.Prev = w.prev[:]
	}
	body(e)
	s, err := record.SealAt(e, w.key, created)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// commit makes s the last record of the log.
func (w *writer) commit(s *record.Signed) *record.Signed {
	w.seq, w.prev = s.Seq(), s.ID
	return s
}

func (w *writer) post(t testing.TB, created time.Time) *record.Signed {
	return w.next(t, created, func(e *pb.Entry) {
		e.Body = &pb.Entry_Post{Post: &pb.Post{Kind: "general", Text: fmt.Sprintf("post %d", w.seq+1)}}
	})
}

// sized signs a post whose envelope is exactly size bytes (at most about
// 16 KB), its bulk in text and in the (unchecked) clip grant field.
func (w *writer) sized(t testing.TB, created time.Time, size int) *record.Signed {
	t.Helper()
	text := "x"
	if size > 9000 {
		text = strings.Repeat("\U0001F3E0", record.MaxPostText) // 4 bytes each
	}
	n := max(size-len(text)-200, 0)
	for range 8 {
		s := w.next(t, created, func(e *pb.Entry) {
			e.Body = &pb.Entry_Post{Post: &pb.Post{Kind: "general", Text: text, ClipGrant: make([]byte, n)}}
		})
		if d := size - len(s.Raw); d == 0 {
			return s
		} else {
			n += d
		}
	}
	t.Fatalf("cannot sign a post of exactly %d bytes", size)
	return nil
}

func (w *writer) profile(t testing.TB, created time.Time, name string) *record.Signed {
	return w.next(t, created, func(e *pb.Entry) { e.Body = &pb.Entry_Profile{Profile: &pb.Profile{Name: name}} })
}

func (w *writer) retract(t testing.TB, created time.Time, target *record.Signed) *record.Signed {
	return w.next(t, created, func(e *pb.Entry) {
		e.Body = &pb.Entry_Retraction{Retraction: &pb.Retraction{TargetSeq: target.Seq(), TargetHash: target.ID[:]}}
	})
}

// node is a store with its limiter, receiving records as the mesh does:
// judged, then stored if accepted.
type node struct {
	db *store.DB
	l  *feed.Limiter
}

func newNode(t testing.TB, lim feed.Limits) *node {
	db := openDB(t, t.TempDir())
	return &node{db: db, l: feed.NewLimiter(db, lim)}
}

func (n *node) offer(t testing.TB, s *record.Signed) error {
	t.Helper()
	if err := n.l.CheckEntry(s); err != nil {
		return err
	}
	if _, err := n.db.Ingest(s); err != nil {
		t.Fatalf("ingest seq %d: %v", s.Seq(), err)
	}
	return nil
}

// accept offers s and commits it; it must pass.
func (n *node) accept(t testing.TB, w *writer, s *record.Signed) *record.Signed {
	t.Helper()
	if err := n.offer(t, s); err != nil {
		t.Fatalf("seq %d (created %s) refused: %v", s.Seq(), s.Created().UTC().Format(time.TimeOnly), err)
	}
	return w.commit(s)
}

// refused checks that s is refused for reason, with a message containing
// want.
func (n *node) refused(t testing.TB, s *record.Signed, reason record.Reason, want string) {
	t.Helper()
	err := n.offer(t, s)
	var inv *record.Invalid
	if !errors.As(err, &inv) || inv.Reason != reason || !strings.Contains(inv.Detail, want) {
		t.Fatalf("seq %d: got %v, want a %s refusal saying %q", s.Seq(), err, reason, want)
	}
}

func TestLimitsTighten(t *testing.T) {
	d := feed.DefaultLimits
	for _, tt := range []struct {
		name      string
		l, other  feed.Limits
		want      feed.Limits
		wantLimit feed.Limits
	}{
		{"zero is the default", feed.Limits{}, feed.Limits{}, d, d},
		{"a charter tightens each field", d, feed.Limits{PostsPerHour: 10, Burst: 2, MaxBytes: 1_000_000}, feed.Limits{10, 2, 1_000_000}, feed.Limits{10, 2, 1_000_000}},
		{"a charter cannot loosen", d, feed.Limits{PostsPerHour: 100, Burst: 50, MaxBytes: 1 << 40}, d, d},
		{"zero fields of the charter keep ours", d, feed.Limits{Burst: 3}, feed.Limits{20, 3, 10_000_000}, feed.Limits{20, 3, 10_000_000}},
		{"negative is unset", feed.Limits{PostsPerHour: -1}, feed.Limits{MaxBytes: -5}, d, d},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.l.Tighten(tt.other)
			if got != tt.want {
				t.Fatalf("Tighten = %+v, want %+v", got, tt.want)
			}
			if l := feed.NewLimiter(nil, got).Limits(); l != tt.wantLimit {
				t.Fatalf("Limits() = %+v, want %+v", l, tt.wantLimit)
			}
		})
	}
	if l := feed.NewLimiter(nil, feed.Limits{}).Limits(); l != d {
		t.Fatalf("NewLimiter(zero).Limits() = %+v, want the default", l)
	}
}

// The rate limits with the default limits (20 posts per rolling hour, a
// burst of 5), at and past each bound.
func TestLimiterRate(t *testing.T) {
	const every = 3 * time.Minute // the sustained rate: 20 per hour
	at := func(m time.Duration) time.Time { return t0.Add(m) }

	t.Run("the 20th post in an hour passes, the 21st fails", func(t *testing.T) {
		n, w := newNode(t, feed.Limits{}), newWriter(t)
		for range 5 {
			n.accept(t, w, w.post(t, t0))
		}
		for i := 1; i <= 15; i++ { // 20 posts by t0+45m
			n.accept(t, w, w.post(t, at(time.Duration(i)*every)))
		}
		n.refused(t, w.post(t, at(48*time.Minute)), record.ReasonRate, "author exceeded 20 posts per hour")
		n.refused(t, w.post(t, at(60*time.Minute-time.Millisecond)), record.ReasonRate, "20 posts per hour")
		// The five of t0 leave the rolling hour at t0+1h.
		n.accept(t, w, w.post(t, at(60*time.Minute)))
	})

	t.Run("a burst of 5 back to back passes, the 6th fails", func(t *testing.T) {
		n, w := newNode(t, feed.Limits{}), newWriter(t)
		for range 5 {
			n.accept(t, w, w.post(t, t0))
		}
		n.refused(t, w.post(t, t0), record.ReasonRate, "author exceeded a burst of 5 posts")
		n.refused(t, w.post(t, at(every-time.Millisecond)), record.ReasonRate, "burst of 5")
		n.accept(t, w, w.post(t, at(every)))
		n.refused(t, w.post(t, at(every)), record.ReasonRate, "burst of 5")
	})

	t.Run("a profile change counts as a post", func(t *testing.T) {
		n, w := newNode(t, feed.Limits{}), newWriter(t)
		n.accept(t, w, w.profile(t, t0, "12 Maple St"))
		for range 4 {
			n.accept(t, w, w.post(t, t0))
		}
		n.refused(t, w.profile(t, t0, "14 Maple St"), record.ReasonRate, "burst of 5")
	})

	t.Run("backdated times cannot beat the rate", func(t *testing.T) {
		n, w := newNode(t, feed.Limits{}), newWriter(t)
		for range 5 {
			n.accept(t, w, w.post(t, t0))
		}
		n.refused(t, w.post(t, at(-2*time.Hour)), record.ReasonRate, "burst of 5")
		n.refused(t, w.post(t, at(-365*24*time.Hour)), record.ReasonRate, "burst of 5")
		for i := 1; i <= 15; i++ {
			n.accept(t, w, w.post(t, at(time.Duration(i)*every)))
		}
		// Backdated into an hour that held no posts: it is still the 21st
		// of the hour that ends at the last post.
		n.refused(t, w.post(t, at(-3*time.Hour)), record.ReasonRate, "20 posts per hour")
		// A backdated post after a gap counts at the time of the post
		// before it, so it cannot open room for more posts before that.
		n.accept(t, w, w.post(t, at(2*time.Hour)))
		for range 4 {
			n.accept(t, w, w.post(t, at(-time.Hour)))
		}
		n.refused(t, w.post(t, at(-time.Hour)), record.ReasonRate, "burst of 5")
	})

	t.Run("retractions are not rate-limited and do not give the rate back", func(t *testing.T) {
		n, w := newNode(t, feed.Limits{}), newWriter(t)
		var posts []*record.Signed
		for range 5 {
			posts = append(posts, n.accept(t, w, w.post(t, t0)))
		}
		for _, p := range posts {
			n.accept(t, w, w.retract(t, t0, p))
		}
		n.refused(t, w.post(t, t0), record.ReasonRate, "burst of 5")
		// Cold: a new Limiter reads the purged posts from the log alone.
		cold := &node{db: n.db, l: feed.NewLimiter(n.db, feed.Limits{})}
		cold.refused(t, w.post(t, t0), record.ReasonRate, "burst of 5")
		cold.accept(t, w, w.post(t, at(every)))
	})

	t.Run("a charter's tighter limits", func(t *testing.T) {
		n, w := newNode(t, feed.DefaultLimits.Tighten(feed.Limits{PostsPerHour: 4, Burst: 2})), newWriter(t)
		n.accept(t, w, w.post(t, t0))
		n.accept(t, w, w.post(t, t0))
		n.refused(t, w.post(t, t0), record.ReasonRate, "burst of 2")
		n.accept(t, w, w.post(t, at(15*time.Minute)))
		n.accept(t, w, w.post(t, at(30*time.Minute)))
		n.refused(t, w.post(t, at(45*time.Minute)), record.ReasonRate, "4 posts per hour")
		n.accept(t, w, w.post(t, at(60*time.Minute)))
	})
}

// The size limit with the default 10 MB: 625 posts of 16,000 bytes fill
// it exactly.
func TestLimiterSize(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 10 MB")
	}
	const size = 16_000
	n, w := newNode(t, feed.Limits{}), newWriter(t)
	var first *record.Signed
	for i := range 624 {
		s := n.accept(t, w, w.sized(t, t0.Add(time.Duration(i)*3*time.Minute), size))
		if i == 0 {
			first = s
		}
	}
	at := t0.Add(624 * 3 * time.Minute)
	n.refused(t, w.sized(t, at, size+1), record.ReasonSize, "would take 10000001 bytes, over the limit of 10000000")
	n.accept(t, w, w.sized(t, at, size)) // exactly 10,000,000
	at = at.Add(3 * time.Minute)
	n.refused(t, w.post(t, at), record.ReasonSize, "over the limit of 10000000")

	// Retracting the first post frees its 16,000 bytes; the retraction
	// takes some of them.
	r := n.accept(t, w, w.retract(t, at, first))
	room := size - len(r.Raw)
	n.refused(t, w.sized(t, at, room+1), record.ReasonSize, "would take 10000001 bytes")
	// A Limiter with a cold cache (a restart) reaches the same verdicts.
	cold := &node{db: n.db, l: feed.NewLimiter(n.db, feed.Limits{})}
	cold.refused(t, w.sized(t, at, room+1), record.ReasonSize, "would take 10000001 bytes")
	n.accept(t, w, w.sized(t, at, room))
	at = at.Add(3 * time.Minute)
	n.refused(t, w.post(t, at), record.ReasonSize, "over the limit")
	cold.refused(t, w.post(t, at), record.ReasonSize, "over the limit")
}

// A record already stored passes (gossip and sync deliver duplicates),
// and a record whose log has a hole below it is held, not refused.
func TestLimiterDuplicateAndHeld(t *testing.T) {
	n, w := newNode(t, feed.Limits{}), newWriter(t)
	var posts []*record.Signed
	for range 5 {
		posts = append(posts, n.accept(t, w, w.post(t, t0)))
	}
	for _, p := range posts {
		if err := n.l.CheckEntry(p); err != nil {
			t.Fatalf("a stored record: %v", err)
		}
	}
	other := newNode(t, feed.Limits{})
	if err := other.offer(t, posts[4]); !errors.Is(err, mesh.ErrHeld) {
		t.Fatalf("a post past a hole: %v, want ErrHeld", err)
	}
	for _, p := range posts {
		if err := other.offer(t, p); err != nil {
			t.Fatal(err)
		}
	}
	// Records of other kinds pass: they are not feed records.
	req := &record.Signed{Author: w.id, Entry: &pb.Entry{Author: []byte(w.id), Seq: 99, Body: &pb.Entry_Request{Request: &pb.Request{}}}}
	if err := n.l.CheckEntry(req); err != nil {
		t.Fatalf("a request: %v", err)
	}
}

// outcome is what became of each record offered to a node.
type outcome map[record.ID]string

func (n *node) outcome(t testing.TB, logs [][]*record.Signed, errs map[record.ID]error) outcome {
	t.Helper()
	o := outcome{}
	for _, log := range logs {
		for _, s := range log {
			switch err := errs[s.ID]; {
			case err == nil:
				o[s.ID] = "stored"
			case errors.Is(err, mesh.ErrHeld):
				o[s.ID] = "held"
			default:
				o[s.ID] = "refused " + string(record.ReasonOf(err))
			}
		}
	}
	return o
}

// deliver offers every record, in order, again and again while some are
// held and others get stored (the mesh syncs when it holds a record); it
// returns the last error of each.
func (n *node) deliver(t testing.TB, recs []*record.Signed) map[record.ID]error {
	t.Helper()
	errs := map[record.ID]error{}
	pending := recs
	for progress := true; progress && len(pending) > 0; {
		progress = false
		var again []*record.Signed
		for _, s := range pending {
			err := n.offer(t, s)
			errs[s.ID] = err
			switch {
			case err == nil:
				progress = true
			case errors.Is(err, mesh.ErrHeld):
				again = append(again, s)
			}
		}
		pending = again
	}
	return errs
}

// slots lists the IDs in a log as stored (purged slots included).
func slots(t testing.TB, db *store.DB, a peer.ID) []record.ID {
	t.Helper()
	var ids []record.ID
	if err := db.LogSlots(a, 1, record.MaxSeq, func(sl store.Slot) error {
		ids = append(ids, sl.ID)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return ids
}

// The verdict on a log does not depend on how its records arrive: in
// order (sync), shuffled (gossip), newest first, across a restart, or by
// catch-up from a node that purged a retracted post (which then arrives
// as a stub after its retraction).
func TestLimiterVerdictIndependentOfArrival(t *testing.T) {
	lim := feed.DefaultLimits.Tighten(feed.Limits{MaxBytes: 6_000})
	m := time.Minute

	// Author a is refused for its rate at seq 8 (its 6th rated record of
	// t0, backdated), b for its size at seq 6. Both retract posts on the
	// way, and what follows a refused record stays held everywhere.
	a := newWriter(t)
	var la []*record.Signed
	add := func(w *writer, l *[]*record.Signed, s *record.Signed) *record.Signed {
		*l = append(*l, w.commit(s))
		return s
	}
	add(a, &la, a.profile(t, t0, "12 Maple St"))
	p1 := add(a, &la, a.post(t, t0))
	p2 := add(a, &la, a.post(t, t0))
	add(a, &la, a.post(t, t0))
	add(a, &la, a.retract(t, t0, p2))
	add(a, &la, a.post(t, t0)) // the 5th rated record of t0: the burst
	add(a, &la, a.retract(t, t0, p1))
	add(a, &la, a.post(t, t0.Add(-time.Hour))) // backdated: counts at t0
	add(a, &la, a.post(t, t0.Add(30*m)))

	b := newWriter(t)
	var lb []*record.Signed
	b1 := add(b, &lb, b.sized(t, t0, 1500))
	add(b, &lb, b.sized(t, t0.Add(10*m), 1500))
	add(b, &lb, b.sized(t, t0.Add(20*m), 1500))
	add(b, &lb, b.retract(t, t0.Add(21*m), b1))
	add(b, &lb, b.sized(t, t0.Add(30*m), 1500))
	add(b, &lb, b.sized(t, t0.Add(40*m), 1500))
	add(b, &lb, b.sized(t, t0.Add(50*m), 1500))
	logs := [][]*record.Signed{la, lb}

	inOrder := func(t *testing.T) (*node, outcome) {
		n := newNode(t, lim)
		errs := n.deliver(t, append(append([]*record.Signed{}, la...), lb...))
		return n, n.outcome(t, logs, errs)
	}
	ref, want := inOrder(t)
	for _, s := range la[:7] {
		if want[s.ID] != "stored" {
			t.Fatalf("a's seq %d: %s, want stored", s.Seq(), want[s.ID])
		}
	}
	if got := want[la[7].ID]; got != "refused rate_limit" {
		t.Fatalf("a's seq 8 (a 6th post in a burst of 5): %s, want refused rate_limit", got)
	}
	if got := want[la[8].ID]; got != "held" {
		t.Fatalf("a's seq 9 after the refused one: %s, want held", got)
	}
	if got := want[lb[4].ID]; got != "stored" {
		t.Fatalf("b's post after its retraction: %s, want stored (the retraction freed room)", got)
	}
	if got := want[lb[5].ID]; got != "refused size_limit" {
		t.Fatalf("b's seq 6: %s, want refused size_limit", got)
	}
	if got := want[lb[6].ID]; got != "held" {
		t.Fatalf("b's seq 7: %s, want held", got)
	}

	same := func(t *testing.T, n *node, got outcome) {
		t.Helper()
		for _, log := range logs {
			for _, s := range log {
				if got[s.ID] != want[s.ID] {
					t.Errorf("%.8s seq %d: %s, in order %s", s.Author, s.Seq(), got[s.ID], want[s.ID])
				}
			}
		}
		for _, w := range []*writer{a, b} {
			if g, r := slots(t, n.db, w.id), slots(t, ref.db, w.id); fmt.Sprint(g) != fmt.Sprint(r) {
				t.Errorf("%.8s's log differs from the in-order node's:\n%x\n%x", w.id, g, r)
			}
		}
	}

	for seed := range uint64(12) {
		t.Run(fmt.Sprintf("gossip order %d", seed), func(t *testing.T) {
			recs := append(append([]*record.Signed{}, la...), lb...)
			rng := mrand.New(mrand.NewPCG(seed, 13))
			rng.Shuffle(len(recs), func(i, j int) { recs[i], recs[j] = recs[j], recs[i] })
			n := newNode(t, lim)
			errs := n.deliver(t, recs)
			same(t, n, n.outcome(t, logs, errs))
		})
	}
	t.Run("newest first", func(t *testing.T) {
		var recs []*record.Signed
		for i := len(la) - 1; i >= 0; i-- {
			recs = append(recs, la[i])
		}
		for i := len(lb) - 1; i >= 0; i-- {
			recs = append(recs, lb[i])
		}
		n := newNode(t, lim)
		errs := n.deliver(t, recs)
		same(t, n, n.outcome(t, logs, errs))
	})
	t.Run("restart half way (cold cache)", func(t *testing.T) {
		dir := t.TempDir()
		db := openDB(t, dir)
		n := &node{db: db, l: feed.NewLimiter(db, lim)}
		errs := n.deliver(t, append(append([]*record.Signed{}, la[:6]...), lb[:3]...))
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		db = openDB(t, dir)
		n = &node{db: db, l: feed.NewLimiter(db, lim)}
		for id, err := range n.deliver(t, append(append([]*record.Signed{}, la...), lb...)) {
			errs[id] = err
		}
		same(t, n, n.outcome(t, logs, errs))
	})
	t.Run("catch-up with stubs from a node that purged", func(t *testing.T) {
		n := newNode(t, lim)
		// As mesh's sync applies a response: the records the responder
		// serves, in log order, then the stubs of purged slots; round
		// after round while it brings news.
		for round := 0; ; round++ {
			added := 0
			var stubs []store.Slot
			for _, w := range []*writer{a, b} {
				ss, _, err := ref.db.Slots(w.id, 1, 1000, 1<<30)
				if err != nil {
					t.Fatal(err)
				}
				for _, sl := range ss {
					if sl.Raw == nil {
						stubs = append(stubs, sl)
						continue
					}
					s, err := record.Open(sl.Raw, t0.Add(time.Hour))
					if err != nil {
						t.Fatal(err)
					}
					if h, _ := n.db.Head(w.id); s.Seq() <= h.Contig {
						continue
					}
					if n.offer(t, s) == nil {
						added++
					}
				}
				for _, st := range stubs {
					if ok, err := n.db.IngestStub(w.id, st.Seq, st.ID); err != nil {
						t.Fatal(err)
					} else if ok {
						added++
					}
				}
				stubs = nil
			}
			if added == 0 {
				break
			}
			if round > 10 {
				t.Fatal("catch-up does not converge")
			}
		}
		for _, w := range []*writer{a, b} {
			if g, r := slots(t, n.db, w.id), slots(t, ref.db, w.id); fmt.Sprint(g) != fmt.Sprint(r) {
				t.Errorf("%.8s's log differs from the responder's:\n%x\n%x", w.id, g, r)
			}
		}
		// And it judges what comes next as the responder does.
		cold := feed.NewLimiter(n.db, lim)
		for _, s := range []*record.Signed{la[7], lb[5], a.post(t, t0.Add(2*time.Hour))} {
			if g, r := cold.CheckEntry(s), ref.l.CheckEntry(s); fmt.Sprint(g) != fmt.Sprint(r) {
				t.Errorf("seq %d: caught-up node says %v, responder %v", s.Seq(), g, r)
			}
		}
	})
}

// BenchmarkLimiterCheck is the cost of judging one received post of an
// author whose log of 1,000 records is stored and cached (the common case:
// the record after the last one judged); compare BenchmarkEd25519Verify,
// which every received record costs first.
func BenchmarkLimiterCheck(b *testing.B) {
	n, w := newNode(b, feed.Limits{}), newWriter(b)
	for i := range 1000 {
		n.accept(b, w, w.post(b, t0.Add(time.Duration(i)*3*time.Minute)))
	}
	s := w.post(b, t0.Add(1000*3*time.Minute))
	if err := n.l.CheckEntry(s); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := n.l.CheckEntry(s); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLimiterCheckNext is the cost of judging each record of a log
// in turn, as a neighbor's posts arrive: each check reads and folds the
// record before it, stored since the last check. The log (1,000 records,
// then one per iteration) is signed and stored before the timer starts,
// so each check ends when it finds its own slot held, before the verdict
// (a few comparisons); run it with a fixed count (-benchtime=20000x).
func BenchmarkLimiterCheckNext(b *testing.B) {
	n, w := newNode(b, feed.Limits{}), newWriter(b)
	var recs []*record.Signed
	for i := range 1000 + b.N {
		s := w.commit(w.post(b, t0.Add(time.Duration(i)*3*time.Minute)))
		if _, err := n.db.Ingest(s); err != nil {
			b.Fatal(err)
		}
		recs = append(recs, s)
	}
	if err := n.l.CheckEntry(recs[999]); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if err := n.l.CheckEntry(recs[1000+i]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLimiterCheckCold is the first check after a restart: the
// author's state is rebuilt from its stored log of 1,000 records.
func BenchmarkLimiterCheckCold(b *testing.B) {
	n, w := newNode(b, feed.Limits{}), newWriter(b)
	for i := range 1000 {
		n.accept(b, w, w.post(b, t0.Add(time.Duration(i)*3*time.Minute)))
	}
	s := w.post(b, t0.Add(1000*3*time.Minute))
	b.ReportAllocs()
	for b.Loop() {
		if err := feed.NewLimiter(n.db, feed.Limits{}).CheckEntry(s); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEd25519Verify is one Ed25519 verification of a message as long
// as the post BenchmarkLimiterCheck judges.
func BenchmarkEd25519Verify(b *testing.B) {
	w := newWriter(b)
	msg := w.post(b, t0).Raw
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	sig := ed25519.Sign(priv, msg)
	for b.Loop() {
		if !ed25519.Verify(pub, msg, sig) {
			b.Fatal("bad signature")
		}
	}
}

// CheckEntry is called from gossip validators and sync at once: several
// authors' logs, and duplicates, judged concurrently reach the verdicts
// of one at a time.
func TestLimiterConcurrent(t *testing.T) {
	n := newNode(t, feed.Limits{})
	var logs [][]*record.Signed
	for range 4 {
		w := newWriter(t)
		var l []*record.Signed
		for i := range 30 {
			l = append(l, w.commit(w.post(t, t0.Add(time.Duration(i)*3*time.Minute))))
		}
		logs = append(logs, l)
	}
	errs := make(chan error, 8)
	for i, l := range logs {
		go func() {
			for _, s := range l {
				if err := n.l.CheckEntry(s); err != nil {
					errs <- fmt.Errorf("log %d seq %d: %w", i, s.Seq(), err)
					return
				}
				if _, err := n.db.Ingest(s); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
		go func() { // duplicates and records not yet judgeable
			for j := len(l) - 1; j >= 0; j-- {
				if err := n.l.CheckEntry(l[j]); err != nil && !errors.Is(err, mesh.ErrHeld) {
					errs <- fmt.Errorf("log %d seq %d again: %w", i, l[j].Seq(), err)
					return
				}
			}
			errs <- nil
		}()
	}
	for range 2 * len(logs) {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	for _, l := range logs {
		if got := len(slots(t, n.db, l[0].Author)); got != len(l) {
			t.Fatalf("%d of %d records stored", got, len(l))
		}
	}
}
