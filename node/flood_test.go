package node_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/porchlight-mesh/porchlight/client"
	"github.com/porchlight-mesh/porchlight/feed"
	"github.com/porchlight-mesh/porchlight/member"
	"github.com/porchlight-mesh/porchlight/mesh"
	"github.com/porchlight-mesh/porchlight/node"
	"github.com/porchlight-mesh/porchlight/record"
	"github.com/porchlight-mesh/porchlight/record/pb"
	"github.com/porchlight-mesh/porchlight/requests"
	"github.com/porchlight-mesh/porchlight/store"
)

// floodPosts is what the modified node writes: the issue's "1,000 valid
// posts in a minute".
const (
	floodPosts  = 1000
	floodSpread = time.Minute
	// floodPace is the real time between two of its writes: the flood
	// lasts about 10 s of the test, while the honest posts are measured.
	floodPace = 10 * time.Millisecond
	// honestRounds: each honest home may write its profile and then 4
	// posts in a burst (feed.DefaultLimits: a burst of 5, then one per 3
	// minutes), so 2 posts in the quiet phase and 2 during the flood.
	honestRounds = 2
	// latencyFloor is added to twice the quiet p99 in the assertion. The
	// quiet p99 on loopback is a few milliseconds, so "within 2x" alone
	// would fail on one scheduler hiccup, fsync stall or GC pause of a
	// shared 2-core machine (tens of ms, in either phase). 50 ms is still
	// far below what a user notices and far below what a flood that got
	// through costs (seconds: validation queues full, posts held behind
	// sync rounds).
	latencyFloor = 50 * time.Millisecond
)

// TestFloodingMemberIsLimited: a member whose node is modified to ignore
// the per-author limits writes 1,000 validly signed, seq-chained posts
// with created times spread over one minute, and gossips and serves them.
// Every other home stores exactly the limit's worth of them (the same
// prefix of the flooder's log, on every home), the flooder loses peer
// score, and honest posts keep flowing: their delivery p99 during the
// flood stays within twice the quiet p99 of the same run (plus a small
// floor, see latencyFloor).
func TestFloodingMemberIsLimited(t *testing.T) {
	s := newStreet(t)
	names := []string{"a", "b", "c", "d"}
	dirs := map[string]string{}
	var honest []*node.Node
	var addrs []string
	run := func(name string) {
		n := start(t, dirs[name], addrs...)
		t.Cleanup(func() { n.Close() })
		honest = append(honest, n)
		addrs = append(addrs, n.Mesh().Addrs()[0].String())
	}
	dirs["a"] = s.found("12 Maple St")
	run("a")
	for i, name := range names[1:] {
		dirs[name], _ = s.join(fmt.Sprintf("%d Maple St", 14+2*i), invite(t, dirs["a"], 1))
		run(name)
	}
	// The flooder is admitted through b (a, then b invited), like any
	// member.
	fdir, res := s.join("666 Maple St", invite(t, dirs["b"], 1))
	if !res.Admitted {
		t.Fatalf("the flooder's join = %+v", res)
	}
	f := startModified(t, fdir, addrs)

	ids := []peer.ID{f.id}
	for _, n := range honest {
		ids = append(ids, n.ID())
	}
	pollUntil(t, 20*time.Second, "every home a neighbor of every other, the flooder included, and holding their profiles", func() bool {
		for i, n := range honest {
			if !n.Mesh().IsNeighbor(f.id) || !f.m.IsNeighbor(n.ID()) {
				return false
			}
			for j, o := range honest {
				if i != j && !n.Mesh().IsNeighbor(o.ID()) {
					return false
				}
			}
			for _, id := range ids {
				if h, err := n.Store().Head(id); err != nil || h.Max < 1 {
					return false
				}
			}
		}
		return true
	})

	arr := watchArrivals(t, dirs, names)
	post := func(phase string, round int) []time.Duration {
		var lat []time.Duration
		for i, n := range honest {
			text := fmt.Sprintf("%s post %d of %s", phase, round, names[i])
			t0 := time.Now()
			p, err := n.Feed().Post(context.Background(), feed.NewPost{Text: text})
			if err != nil {
				t.Fatalf("%s: honest post %q: %v", names[i], text, err)
			}
			for j := range honest {
				if j == i {
					continue
				}
				at := arr.wait(t, names[j], p.ID, 10*time.Second)
				lat = append(lat, at.Sub(t0))
			}
		}
		return lat
	}

	var quiet []time.Duration
	for r := range honestRounds {
		quiet = append(quiet, post("quiet", r)...)
	}

	// The flood. The honest rounds are spread over it: each starts once
	// the flooder has written a further share of its posts.
	before := make([]meshStats, len(honest))
	for i, n := range honest {
		before[i] = statsOf(n.Mesh())
	}
	floodStart := time.Now()
	var written atomic.Int64
	floodErr := make(chan error, 1)
	go func() { floodErr <- f.flood(floodStart, &written) }()
	var flooding []time.Duration
	for r := range honestRounds {
		want := int64(floodPosts * (r + 1) / (honestRounds + 1))
		pollUntil(t, 30*time.Second, fmt.Sprintf("the flooder's %d-th post", want), func() bool { return written.Load() >= want })
		flooding = append(flooding, post("flood", r)...)
	}
	if err := <-floodErr; err != nil {
		t.Fatalf("the modified node's flood stopped after %d posts: %v", written.Load(), err)
	}
	t.Logf("the flooder wrote %d posts in %v", written.Load(), time.Since(floodStart).Round(time.Millisecond))

	// The bound: the longest prefix of the flooder's log (its profile,
	// then the posts) that the limits let through, computed here from
	// feed.DefaultLimits and the created times it signed.
	created, kinds := f.log(t)
	prefix := limitedPrefix(feed.DefaultLimits, created)
	bound := 0
	for _, post := range kinds[:prefix] {
		if post {
			bound++
		}
	}
	t.Logf("the flooder's log: %d records; the limits let through the first %d (%d posts)", len(created), prefix, bound)
	if bound >= floodPosts || bound > feed.DefaultLimits.Burst {
		t.Fatalf("bound %d: the flooder's created times do not span one minute as meant", bound)
	}

	counts := make([]int, len(honest))
	pollUntil(t, 20*time.Second, fmt.Sprintf("every home holding exactly %d of the flooder's posts", bound), func() bool {
		same := true
		for i, n := range honest {
			counts[i] = postsOf(t, n.Store(), f.id)
			if counts[i] > bound {
				t.Fatalf("%s stores %d of the flooder's posts, over the limit's %d", names[i], counts[i], bound)
			}
			same = same && counts[i] == bound
		}
		return same
	})
	var refused float64
	for _, n := range honest {
		refused += n.Mesh().Rejected(string(record.ReasonRate))
	}
	if refused == 0 {
		t.Errorf("no home refused a flooder's post for %s", record.ReasonRate)
	}

	// Every home disconnects the flooder: mesh.FloodStrikes records over
	// the limits from their author's own node within a minute (its
	// gossipsub score falls too, but most of a flood arrives by sync).
	pollUntil(t, 10*time.Second, "every home disconnecting the flooder", func() bool {
		for _, n := range honest {
			if n.Mesh().Host().Network().Connectedness(f.id) == network.Connected {
				return false
			}
		}
		return true
	})
	for i, n := range honest {
		sc, ok := n.Mesh().PeerScore(f.id)
		t.Logf("%s: flooder's score %.1f (scored %v), connected %v; during the flood: %s", names[i], sc, ok,
			n.Mesh().Host().Network().Connectedness(f.id) == network.Connected, statsOf(n.Mesh()).minus(before[i]))
	}

	q, fl := p99(quiet), p99(flooding)
	t.Logf("honest delivery: quiet p99 %v (median %v, %d samples), during the flood p99 %v (median %v, %d samples)",
		q, median(quiet), len(quiet), fl, median(flooding), len(flooding))
	if limit := 2*q + latencyFloor; fl > limit {
		if raceEnabled {
			t.Logf("during the flood p99 %v is over 2 x quiet p99 + %v = %v (not failed under -race)", fl, latencyFloor, limit)
		} else {
			t.Errorf("during the flood p99 %v is over 2 x quiet p99 + %v = %v", fl, latencyFloor, limit)
		}
	}
}

// modified is the flooding member's node: the node's mesh, membership and
// request rules wired as node.Start wires them, but without the per-author
// limits (the "modified node" of the issue). It needs no hook in the
// production code: the limits are the node's rules, and this node simply
// leaves them out.
type modified struct {
	id  peer.ID
	key crypto.PrivKey
	db  *store.DB
	m   *mesh.Mesh
}

func startModified(t *testing.T, dir string, peers []string) *modified {
	t.Helper()
	cfg, err := node.LoadConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	key, err := node.LoadKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	charter, err := record.ParseID(cfg.Charter)
	if err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(store.Config{Dir: filepath.Join(dir, node.DBDir), Neighborhood: cfg.Neighborhood, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	svc, err := member.New(member.Config{Store: db, Charter: charter, Key: key, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	reqs, err := requests.New(requests.Config{Store: db, Trusted: cfg.Issuers, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	m, err := mesh.New(mesh.Config{
		Key: key, Store: db, Name: cfg.Name, Rules: reqs, Membership: memberView{svc},
		ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}, StaticPeers: peers, Logger: quiet,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return &modified{id: m.ID(), key: key, db: db, m: m}
}

// flood writes floodPosts posts through the mesh (signed, stored, gossiped
// and served by sync like any own record), one every floodPace, with
// created times spread evenly over floodSpread from start. written counts
// them.
func (f *modified) flood(start time.Time, written *atomic.Int64) error {
	tick := time.NewTicker(floodPace)
	defer tick.Stop()
	step := floodSpread.Milliseconds() / floodPosts
	for i := range floodPosts {
		created := start.UnixMilli() + int64(i)*step
		_, err := f.m.Append(func(e *pb.Entry) {
			e.Created = created
			e.Body = &pb.Entry_Post{Post: &pb.Post{Kind: feed.DefaultKind, Text: fmt.Sprintf("flood %d", i)}}
		})
		if err != nil {
			return err
		}
		written.Add(1)
		<-tick.C
	}
	return nil
}

// log returns the created times of the flooder's feed records in log
// order, and which are posts (the others: its profile).
func (f *modified) log(t *testing.T) (created []int64, post []bool) {
	t.Helper()
	err := f.db.LogSlots(f.id, 1, math.MaxUint32, func(sl store.Slot) error {
		s, err := record.DecodeTrusted(sl.Raw)
		if err != nil {
			return err
		}
		switch s.Entry.GetBody().(type) {
		case *pb.Entry_Post:
			post = append(post, true)
		case *pb.Entry_Profile:
			post = append(post, false)
		default:
			return fmt.Errorf("seq %d: not a feed record", sl.Seq)
		}
		created = append(created, s.Entry.GetCreated())
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return created, post
}

// memberView is the mesh's view of the membership, as the node wires it
// (without the agency standing: the flooder trusts no agency).
type memberView struct{ svc *member.Service }

func (v memberView) Owns(raw []byte) bool { return v.svc.Owns(raw) }

func (v memberView) IngestDoc(raw []byte) (bool, error) {
	added, err := v.svc.IngestDoc(raw)
	if errors.Is(err, member.ErrUnknown) {
		return false, fmt.Errorf("%w: %v", mesh.ErrHeld, err)
	}
	return added, err
}

func (v memberView) DocIDs() ([]record.ID, error) { return v.svc.DocIDs() }

func (v memberView) DocsNotIn(have map[record.ID]bool) ([][]byte, error) {
	return v.svc.DocsNotIn(have)
}

func (v memberView) Standing(p peer.ID) mesh.Standing {
	if v.svc.IsMember(p) {
		return mesh.Member
	}
	return mesh.Stranger
}

func (v memberView) Proof() [][]byte { return v.svc.Proof() }

func (memberView) Join(context.Context, peer.ID) error { return nil }

// limitedPrefix is how many of an author's feed records (created times in
// log order, Unix ms) pass the limits l: the records of a log are judged
// in order and each after the ones before it, so the first refused one
// holds back all that follow, on every home. It restates the rules of
// package feed (its doc): a record's time is its created time, or the
// previous record's if later; a burst of l.Burst records, refilled at one
// per hour/l.PostsPerHour (rounded up to the millisecond); at most
// l.PostsPerHour records in any rolling hour.
func limitedPrefix(l feed.Limits, created []int64) int {
	hour := time.Hour.Milliseconds()
	interval := (hour + int64(l.PostsPerHour) - 1) / int64(l.PostsPerHour)
	var last, next int64 // next: when the burst allowance is next full enough (GCRA)
	var times []int64
	for i, c := range created {
		t := max(c, last)
		if t < next-int64(l.Burst-1)*interval {
			return i
		}
		if n := len(times); n >= l.PostsPerHour && times[n-l.PostsPerHour] > t-hour {
			return i
		}
		next = max(t, next) + interval
		times = append(times, t)
		last = t
	}
	return len(created)
}

// postsOf counts the posts of author a that db stores.
func postsOf(t *testing.T, db *store.DB, a peer.ID) int {
	t.Helper()
	n := 0
	err := db.LogSlots(a, 1, math.MaxUint32, func(sl store.Slot) error {
		if sl.Raw == nil {
			return nil
		}
		s, err := record.DecodeTrusted(sl.Raw)
		if err != nil {
			return err
		}
		if s.Entry.GetPost() != nil {
			n++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// arrivals records when each home's event stream announced each post.
type arrivals struct {
	mu sync.Mutex
	at map[string]map[string]time.Time // home -> post ID -> first announced
}

// watchArrivals opens the event streams of the homes; they are read until
// the test ends.
func watchArrivals(t *testing.T, dirs map[string]string, names []string) *arrivals {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	a := &arrivals{at: map[string]map[string]time.Time{}}
	for _, name := range names {
		c, err := client.FromDataDir(dirs[name])
		if err != nil {
			t.Fatal(err)
		}
		ev, err := c.Events(ctx)
		if err != nil {
			t.Fatal(err)
		}
		a.at[name] = map[string]time.Time{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer ev.Close()
			for {
				e, err := ev.Next()
				if err != nil {
					return
				}
				now := time.Now()
				if e.Type != "post" {
					continue
				}
				var d struct{ ID string }
				if json.Unmarshal(e.Data, &d) != nil {
					continue
				}
				a.mu.Lock()
				if _, ok := a.at[name][d.ID]; !ok {
					a.at[name][d.ID] = now
				}
				a.mu.Unlock()
			}
		}()
	}
	return a
}

// wait returns when home announced post id, failing after timeout.
func (a *arrivals) wait(t *testing.T, home string, id record.ID, timeout time.Duration) time.Time {
	t.Helper()
	var at time.Time
	pollUntil(t, timeout, fmt.Sprintf("%s announcing post %s", home, id), func() bool {
		a.mu.Lock()
		defer a.mu.Unlock()
		var ok bool
		at, ok = a.at[home][id.String()]
		return ok
	})
	return at
}

// p99 is the nearest-rank 99th percentile.
func p99(d []time.Duration) time.Duration { return percentile(d, 0.99) }

func median(d []time.Duration) time.Duration { return percentile(d, 0.5) }

func percentile(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[max(int(math.Ceil(p*float64(len(s))))-1, 0)]
}

// meshStats are the counters of a mesh that say what a flood cost it.
type meshStats struct{ rate, held, budget, pulls float64 }

func statsOf(m *mesh.Mesh) meshStats {
	return meshStats{
		rate:   m.Rejected(string(record.ReasonRate)),
		held:   m.Rejected(string(record.ReasonHeld)),
		budget: m.Rejected(mesh.ReasonPeerRateLimited),
		pulls:  m.SyncRounds("client", "ok"),
	}
}

func (s meshStats) minus(o meshStats) meshStats {
	return meshStats{s.rate - o.rate, s.held - o.held, s.budget - o.budget, s.pulls - o.pulls}
}

func (s meshStats) String() string {
	return fmt.Sprintf("%.0f records refused for %s, %.0f held, %.0f gossip messages over the peer budget, %.0f sync rounds pulled",
		s.rate, record.ReasonRate, s.held, s.budget, s.pulls)
}
