package scalesim_test

// The scenarios of issue 17, section 1, beyond post delivery: a request's
// delivery, catch-up of homes that were offline, a partition's heal and
// churn. Each runs real homes (mesh.Mesh with the requests package's Rules,
// as a node wires them, Badger stores on disk) on the simulated network of
// scalesim_test.go, in simulated time. See docs/benchmarks.md, "Scale
// simulation (issue 17)", "### scenarios, 2026-12-03 evening".

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/marcopolo/simnet"

	"github.com/porchlight-mesh/porchlight/geo"
	"github.com/porchlight-mesh/porchlight/mesh"
	"github.com/porchlight-mesh/porchlight/record"
	"github.com/porchlight-mesh/porchlight/record/pb"
	"github.com/porchlight-mesh/porchlight/requests"
	"github.com/porchlight-mesh/porchlight/store"
)

// Scenario parameters (docs/benchmarks.md).
const (
	// syncInterval is the mesh's default SyncInterval; the goals of
	// catch-up and heal are two of them.
	syncInterval = 30 * time.Second
	// busyHour is an hour of a busy street's posting: 500 homes × 5
	// posts a day ≈ 100 posts an hour, written while 10 % of the homes
	// are offline (compressed: see timings.catchUpEvery).
	busyHour = 100
	// churnPerMinute is the share of homes that leave a minute, each
	// offline for churnAway.
	churnPerMinute = 0.05
	churnAway      = time.Minute
	// agencyDegree: the agency's node connects to this many homes.
	agencyDegree = 3
)

// timings are the simulated durations of the scenarios: the normal test
// run's are shorter, to keep its CPU time down (the harness costs about
// 0.16 CPU-seconds per simulated second of 100 idle homes).
type timings struct {
	// catchUpEvery is the time between two of the busyHour posts: the
	// hour, compressed.
	catchUpEvery time.Duration
	// partitionFor is how long the halves are apart: longer than QUIC's
	// idle timeout (30 s), so every connection across dies and the
	// address book's redials back off (30 s, doubling).
	partitionFor time.Duration
	// churnFor is how long homes leave and rejoin.
	churnFor time.Duration
	// postEvery is the posting rate while apart and during the churn.
	postEvery time.Duration
}

var (
	short = timings{catchUpEvery: time.Second, partitionFor: 90 * time.Second, churnFor: 2 * time.Minute, postEvery: 2 * time.Second}
	full  = timings{catchUpEvery: 2 * time.Second, partitionFor: 3 * time.Minute, churnFor: 5 * time.Minute, postEvery: 2 * time.Second}
)

// TestScenarios runs the scenarios with short timings: at 100 homes
// with PORCHLIGHT_LONG=1 (the table in docs/benchmarks.md; about 3.5
// CPU-minutes), at 40 homes in the normal test run, so that the package
// stays well inside go test's 10 minutes on a busy 2-core CI machine
// beside TestHundredHomes.
func TestScenarios(t *testing.T) {
	homes := 40
	if os.Getenv("PORCHLIGHT_LONG") == "1" {
		homes = 100
	}
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) { runScenario(t, sc, homes, short) })
	}
}

// TestScenariosThreeHundred runs them at 300 homes with the full
// timings.
func TestScenariosThreeHundred(t *testing.T) {
	long(t)
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) { runScenario(t, sc, 300, full) })
	}
}

// TestScenariosThousand runs the scenarios named in SCALESIM_SCENARIOS
// (comma-separated; default catch-up and partition, the two with a time
// goal) at 1,000 homes of a formed street (SCALESIM_FORMED: every home
// holds every profile before the connections open; see
// TestThousandHomesFormed), with the short timings.
func TestScenariosThousand(t *testing.T) {
	long(t)
	t.Setenv("SCALESIM_FORMED", "1")
	names := "catch-up,partition"
	if v := os.Getenv("SCALESIM_SCENARIOS"); v != "" {
		names = v
	}
	for _, sc := range scenarios {
		if slices.Contains(strings.Split(names, ","), sc.name) {
			t.Run(sc.name, func(t *testing.T) { runScenario(t, sc, 1000, short) })
		}
	}
}

// scenario is one of the measurements; run returns its rows.
type scenario struct {
	name string
	run  func(t *testing.T, s *sim) []row
}

var scenarios = []scenario{
	{"request", requestScenario},
	{"catch-up", catchUpScenario},
	{"partition", partitionScenario},
	{"churn", churnScenario},
}

// row is one line of the scenarios' table.
type row struct {
	name                string
	delivered, expected int
	p50, p99, max       time.Duration // simulated
	// recovery is the catch-up or heal time (simulated); what says which.
	recovery time.Duration
	what     string
	// goal is the recovery time the issue asks for (0: none).
	goal time.Duration
}

func runScenario(t *testing.T, sc scenario, homes int, tm timings) {
	if v := os.Getenv("SCALESIM_PARTITION"); v != "" {
		// How long the halves stay apart, for runs that look at the
		// redials' backoff (docs/benchmarks.md).
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("SCALESIM_PARTITION: %v", err)
		}
		tm.partitionFor = d
	}
	start := time.Now()
	cpu0 := cpuTime()
	var rows []row
	synctest.Test(t, func(t *testing.T) {
		s := newSim(t, homes, tm)
		defer s.close()
		s.settle()
		rows = sc.run(t, s)
	})
	elapsed, cpu := time.Since(start), cpuTime()-cpu0
	load, _ := os.ReadFile("/proc/loadavg")
	for _, r := range rows {
		ratio := 0.0
		if r.expected > 0 {
			ratio = float64(r.delivered) / float64(r.expected)
		}
		t.Logf("| %d | %s | %d / %d | %.4f | %v | %v | %v | %s %v | %v | %v | %s |",
			homes, r.name, r.delivered, r.expected, ratio, r.p50.Round(100*time.Microsecond), r.p99.Round(100*time.Microsecond), r.max.Round(100*time.Microsecond),
			r.what, r.recovery.Round(time.Millisecond),
			elapsed.Round(time.Second), cpu.Round(time.Second), strings.Join(strings.Fields(string(load))[:3], " "))
		if r.delivered < r.expected {
			t.Errorf("%s: delivered %d of %d", r.name, r.delivered, r.expected)
		}
		if r.goal > 0 && r.recovery > r.goal {
			// Logged, not failed: a goal of the issue, explained in
			// docs/benchmarks.md when missed.
			t.Logf("%s: %s %v is over the goal of %v", r.name, r.what, r.recovery, r.goal)
		}
	}
}

// sim is a neighborhood of simulated homes (indexes 0..n-1) and, for the
// request scenario, an agency (index n), all trusting one issuer.
type sim struct {
	t      *testing.T
	tm     timings
	rng    *rand.Rand
	nw     *simnet.Simnet
	link   simnet.NodeBiDiLinkSettings
	homes  []*simHome
	extra  []*simHome // nodes that are not homes (the agency)
	edges  [][]int
	issuer crypto.PrivKey
	trust  peer.ID
	got    *arrivals
	// cut, if set, drops every packet between two nodes it names
	// (the partition).
	cut   atomic.Pointer[func(a, b int) bool]
	index map[string]int // IP address → node
	// formed: the street has formed (SCALESIM_FORMED); every home holds
	// every home's profile before the connections open.
	formed bool
}

// simHome is one node: its key and store outlive its mesh, which a
// scenario closes (the home goes offline) and starts again.
type simHome struct {
	i    int
	name string
	key  crypto.PrivKey
	db   *store.DB
	svc  *requests.Service
	m    *mesh.Mesh // nil while offline
	conn *simnet.SimConn
	// profile is the home's profile, written before its mesh first
	// started (formed streets only).
	profile *record.Signed
}

func newSim(t *testing.T, n int, tm timings) *sim {
	issuer, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	trust, _ := peer.IDFromPrivateKey(issuer)
	s := &sim{
		t:      t,
		tm:     tm,
		rng:    rand.New(rand.NewPCG(17, uint64(n))),
		nw:     &simnet.Simnet{LatencyFunc: simnet.StaticLatency(linkLatency), Logger: quiet},
		issuer: issuer,
		trust:  trust,
		got:    &arrivals{at: map[record.ID]map[int]time.Time{}},
		index:  map[string]int{},
		link: simnet.NodeBiDiLinkSettings{
			Downlink: simnet.LinkSettings{BitsPerSecond: 100 * mbps},
			Uplink:   simnet.LinkSettings{BitsPerSecond: 20 * mbps},
		},
	}
	for i := 0; i <= n; i++ {
		s.index[simnet.IntToPublicIPv4(i).String()] = i
	}
	s.nw.Start()
	s.formed = os.Getenv("SCALESIM_FORMED") == "1"
	for i := range n {
		s.homes = append(s.homes, s.newHome(i, fmt.Sprintf("home %d", i)))
	}
	if s.formed {
		dbs, profiles := make([]*store.DB, n), make([]*record.Signed, n)
		for i, h := range s.homes {
			dbs[i], profiles[i] = h.db, h.profile
		}
		seedProfiles(t, dbs, profiles, nil)
	}
	s.edges = topology(s.rng, n)
	return s
}

func (s *sim) newHome(i int, name string) *simHome {
	s.t.Helper()
	key, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		s.t.Fatal(err)
	}
	cfg := store.Config{Dir: s.t.TempDir(), Neighborhood: "elm-street", Logger: quiet, MemTableSize: memTable}
	if s.formed {
		// The post run's small caches: a thousand homes in one process.
		cfg.BlockCacheSize, cfg.IndexCacheSize = blockCache, -1
	}
	db, err := store.Open(cfg)
	if err != nil {
		s.t.Fatal(err)
	}
	h := &simHome{i: i, name: name, key: key, db: db}
	if s.formed {
		// Written before the mesh starts, as a home that has been on
		// the street a while holds it.
		if h.profile, err = writeProfile(db, key, name); err != nil {
			s.t.Fatal(err)
		}
	}
	s.start(h)
	return h
}

// start starts h's mesh on its key and store, as a node does: the
// requests package's Rules, trusting the issuer. Unlike the post-delivery
// run, the address book is on (NoPeerExchange false): under the open
// policy it asks nobody for peers but redials the neighbors the home was
// connected to itself, which is how a home that comes back, or a
// neighborhood that heals, reconnects.
func (s *sim) start(h *simHome) {
	s.t.Helper()
	svc, err := requests.New(requests.Config{Store: h.db, Trusted: []peer.ID{s.trust}, Logger: quiet})
	if err != nil {
		s.t.Fatal(err)
	}
	i := h.i
	logger := quiet
	if v := os.Getenv("SCALESIM_DEBUGHOME"); v == fmt.Sprint(i) {
		// One home's debug log, with simulated times: what its address
		// book dialled, its sync rounds.
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	m, err := mesh.New(mesh.Config{
		Key: h.key, Store: h.db, Name: h.name, Rules: svc,
		ListenAddrs:  []string{fmt.Sprintf("/ip4/%s/udp/8000/quic-v1", simnet.IntToPublicIPv4(i))},
		NoNATPortMap: true,
		Logger:       logger,
		OnRecord:     func(r *record.Signed) { s.got.add(i, r) },
		HostOptions: []libp2p.Option{
			s.simQUIC(i, &h.conn),
			libp2p.DisableIdentifyAddressDiscovery(),
			noAutoNATServices,
		},
	})
	if err != nil {
		s.t.Fatal(err)
	}
	h.svc, h.m = svc, m
}

// stop takes h offline: its mesh closes (its neighbors see the
// connections close), its store stays.
func (s *sim) stop(h *simHome) {
	if h.m == nil {
		return
	}
	if err := h.m.Close(); err != nil {
		s.t.Errorf("close mesh of %s: %v", h.name, err)
	}
	h.m = nil
}

func (s *sim) close() {
	all := append(slices.Clone(s.homes), s.extra...)
	var wg sync.WaitGroup
	for _, h := range all {
		wg.Go(func() {
			s.stop(h)
			if err := h.db.Close(); err != nil {
				s.t.Errorf("close store: %v", err)
			}
		})
	}
	wg.Wait()
	s.nw.Close()
}

// settle connects the topology and waits for every handshake, then 10 s.
func (s *sim) settle() {
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	for i, e := range s.edges {
		for _, j := range e {
			if j < i {
				continue
			}
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				s.connect(s.homes[i], s.homes[j])
			}()
		}
	}
	wg.Wait()
	if s.t.Failed() {
		s.t.FailNow()
	}
	waitUntil(s.t, 60*time.Second, "handshakes", func() bool {
		for i, e := range s.edges {
			for _, j := range e {
				if !s.homes[i].m.IsNeighbor(s.homes[j].m.ID()) {
					return false
				}
			}
		}
		return true
	})
	time.Sleep(settle)
}

func (s *sim) connect(a, b *simHome) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.m.Connect(ctx, peer.AddrInfo{ID: b.m.ID(), Addrs: b.m.Host().Addrs()}); err != nil {
		s.t.Errorf("connect %s -> %s: %v", a.name, b.name, err)
	}
}

// post writes a post on home a and returns it with its time.
func (s *sim) post(k, a int) sentPost {
	h := s.homes[a]
	at := time.Now()
	r, err := h.m.Append(func(e *pb.Entry) {
		e.Body = &pb.Entry_Post{Post: &pb.Post{Kind: "general", Text: fmt.Sprintf("post %d from home %d: a package left at the door of number %d", k, a, s.rng.IntN(200))}}
	})
	if err != nil {
		s.t.Fatalf("post %d on home %d: %v", k, a, err)
	}
	return sentPost{id: r.ID, author: a, at: at}
}

type sentPost struct {
	id     record.ID
	author int
	at     time.Time
	// to are the homes that should receive it (nil: every other home).
	to []int
}

// holdsAll reports whether home i holds every post.
func (s *sim) holdsAll(i int, posts []sentPost) bool {
	for _, p := range posts {
		if !s.got.has(p.id, i) {
			return false
		}
	}
	return true
}

// await polls cond every 100 ms for at most timeout; it returns how long
// cond took to hold and whether it did.
func await(timeout time.Duration, cond func() bool) (time.Duration, bool) {
	start := time.Now()
	for !cond() {
		if time.Since(start) > timeout {
			return time.Since(start), false
		}
		time.Sleep(100 * time.Millisecond)
	}
	return time.Since(start), true
}

// deliveries fills r's counts and percentiles from the posts' arrivals
// at the homes each should reach.
func (s *sim) deliveries(r *row, posts []sentPost) {
	var lat []time.Duration
	for _, p := range posts {
		to := p.to
		if to == nil {
			for i := range s.homes {
				to = append(to, i)
			}
		}
		for _, i := range to {
			if i == p.author {
				continue
			}
			r.expected++
			if at, ok := s.got.when(p.id, i); ok {
				r.delivered++
				lat = append(lat, at.Sub(p.at))
			}
		}
	}
	r.p50, r.p99, r.max = percentiles(lat)
}

func percentiles(lat []time.Duration) (p50, p99, maxi time.Duration) {
	if len(lat) == 0 {
		return 0, 0, 0
	}
	slices.Sort(lat)
	return lat[len(lat)/2], lat[len(lat)*99/100], lat[len(lat)-1]
}

// requestScenario: an agency certified by the issuer the homes trust
// connects to agencyDegree homes and publishes its credential; once every
// home holds it, a first request (the agency's node joined a second ago,
// gossipsub has not yet grafted it), then, after settle, a second one (an
// agency that has been online a while); the time until every home holds
// each.
func requestScenario(t *testing.T, s *sim) []row {
	n := len(s.homes)
	ag := s.newHome(n, "Elm Street PD")
	s.extra = append(s.extra, ag)
	if err := ag.svc.SetAppender(ag.m); err != nil {
		t.Fatal(err)
	}
	for _, j := range s.rng.Perm(n)[:agencyDegree] {
		s.connect(ag, s.homes[j])
	}
	now := time.Now()
	jurisdiction, err := requests.ParseArea("circle:40.7128,-74.0060,5000")
	if err != nil {
		t.Fatal(err)
	}
	cred, err := requests.Certify(s.issuer, ag.m.ID(), "Elm Street PD", jurisdiction, now.Add(-time.Hour), now.Add(365*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if err := ag.m.PublishDoc(cred.Raw); err != nil {
		t.Fatal(err)
	}
	credTime, ok := await(2*syncInterval, func() bool {
		for _, h := range s.homes[:n] {
			if d, err := h.svc.Document(cred.ID); d == nil || err != nil {
				return false
			}
		}
		return true
	})
	if !ok {
		t.Fatalf("the credential did not reach every home in %v", credTime)
	}
	t.Logf("credential at every home %v after it was published (simulated)", credTime)

	request := func(name, kase string) row {
		at := time.Now()
		req, err := ag.svc.Create(requests.NewRequest{
			Case: kase, Incident: "package theft", Contact: "det. desk 555-0100",
			Area: requests.Area{Center: geo.Point{Lat: 40.7146, Lon: -74.0060}, Radius: 300},
			From: at.Add(-3 * time.Hour), To: at.Add(-time.Hour),
		})
		if err != nil {
			t.Fatal(err)
		}
		all, _ := await(2*syncInterval, func() bool {
			for i := range n {
				if !s.got.has(req.ID, i) {
					return false
				}
			}
			return true
		})
		r := row{name: name, what: "all homes", recovery: all}
		s.deliveries(&r, []sentPost{{id: req.ID, author: n, at: at, to: seq(n)}})
		return r
	}
	cold := request("request, agency just connected", "2026-1142")
	time.Sleep(settle)
	warm := request("request", "2026-1143")
	return []row{cold, warm}
}

// catchUpScenario: 10 % of homes go offline while an hour's worth of
// posts is written (compressed, see catchUpEvery), then come back; the
// time until each returning home holds every post.
func catchUpScenario(t *testing.T, s *sim) []row {
	n := len(s.homes)
	away := s.rng.Perm(n)[:n/10]
	offline := make([]bool, n)
	for _, i := range away {
		offline[i] = true
		s.stop(s.homes[i])
	}
	var online []int
	for i := range n {
		if !offline[i] {
			online = append(online, i)
		}
	}
	// Gossip needs a few heartbeats to mend the mesh around the gaps;
	// the posts start at once all the same, as they would.
	var posts []sentPost
	for k := range busyHour {
		p := s.post(k, online[s.rng.IntN(len(online))])
		p.to = online
		posts = append(posts, p)
		time.Sleep(s.tm.catchUpEvery)
	}
	// Every online home holds every post (by gossip) before the others
	// return, so that the catch-up measured is the returning homes'.
	if d, ok := await(2*syncInterval, func() bool {
		for _, i := range online {
			if !s.holdsAll(i, posts) {
				return false
			}
		}
		return true
	}); !ok {
		t.Errorf("online homes lack posts %v after the last", d)
	}
	back := time.Now()
	for _, i := range away {
		s.start(s.homes[i])
	}
	var catchUp []time.Duration
	done := map[int]bool{}
	await(4*syncInterval, func() bool {
		for _, i := range away {
			if !done[i] && s.holdsAll(i, posts) {
				done[i] = true
				catchUp = append(catchUp, time.Since(back))
			}
		}
		return len(done) == len(away)
	})
	r := row{name: "catch-up", what: "catch-up max", goal: 2 * syncInterval}
	s.deliveries(&r, posts)
	// The returning homes' deliveries: every post each.
	for _, i := range away {
		for _, p := range posts {
			r.expected++
			if s.got.has(p.id, i) {
				r.delivered++
			}
		}
	}
	c50, _, cmax := percentiles(catchUp)
	r.recovery = cmax
	if len(catchUp) < len(away) {
		r.recovery = 4 * syncInterval // did not finish: at least this
	}
	t.Logf("catch-up: %d of %d returning homes complete, p50 %v, max %v (simulated, from their restart)", len(catchUp), len(away), c50, cmax)
	return []row{r}
}

// partitionScenario: the homes split in two halves that cannot reach
// each other for partitionFor, while both post; then the network heals;
// the time until every home holds every post.
func partitionScenario(t *testing.T, s *sim) []row {
	n := len(s.homes)
	side := make([]int, n)
	var halves [2][]int
	for k, i := range s.rng.Perm(n) {
		side[i] = k % 2
		halves[k%2] = append(halves[k%2], i)
	}
	cut := func(a, b int) bool { return a < n && b < n && side[a] != side[b] }
	s.cut.Store(&cut)
	split := time.Now()
	var posts []sentPost
	for k := 0; time.Since(split) < s.tm.partitionFor; k++ {
		h := halves[k%2]
		p := s.post(k, h[s.rng.IntN(len(h))])
		p.to = h // measured within the side while apart
		posts = append(posts, p)
		time.Sleep(s.tm.postEvery)
	}
	var within row
	s.deliveries(&within, posts)
	t.Logf("while apart: %d of %d deliveries within the halves, p50 %v, p99 %v", within.delivered, within.expected, within.p50, within.p99)
	crossNow := func() int {
		c := 0
		for i, e := range s.edges {
			for _, j := range e {
				if i < j && side[i] != side[j] && s.homes[i].m.IsNeighbor(s.homes[j].m.ID()) {
					c++
				}
			}
		}
		return c
	}
	t.Logf("neighbors across the cut after %v apart: %d (of %d edges across)", s.tm.partitionFor, crossNow(), crossEdges(s.edges, side)/2)

	s.cut.Store(nil)
	heal := time.Now()
	var first time.Duration
	d, ok := await(4*syncInterval, func() bool {
		if first == 0 && crossNow() > 0 {
			first = time.Since(heal)
		}
		for i := range n {
			if !s.holdsAll(i, posts) {
				return false
			}
		}
		return true
	})
	if !ok {
		d = 4 * syncInterval
	}
	t.Logf("after the heal: first neighbors across the cut at %v, every home holds every post at %v, %d neighbor pairs across (simulated)", first, d, crossNow())
	// The pairs across reconnect by the address book's redials (their
	// QUIC connections died while apart): how many are back a little
	// over a minute after the heal.
	time.Sleep(time.Until(heal.Add(75 * time.Second)))
	t.Logf("75 s after the heal: %d of %d neighbor pairs across", crossNow(), crossEdges(s.edges, side)/2)
	// Latencies of the deliveries across the cut, from the heal.
	r := row{name: "partition (latency from the heal)", what: "heal", recovery: d, goal: 2 * syncInterval}
	var lat []time.Duration
	for _, p := range posts {
		for i := range n {
			if i == p.author {
				continue
			}
			r.expected++
			at, ok := s.got.when(p.id, i)
			if !ok {
				continue
			}
			r.delivered++
			if side[i] != side[p.author] {
				lat = append(lat, at.Sub(heal))
			}
		}
	}
	r.p50, r.p99, r.max = percentiles(lat)
	return []row{r}
}

func crossEdges(edges [][]int, side []int) int {
	c := 0
	for i, e := range edges {
		for _, j := range e {
			if side[i] != side[j] {
				c++
			}
		}
	}
	return c
}

// churnScenario: for churnFor, churnPerMinute of the homes a minute leave
// (their mesh closes) and each comes back churnAway later on its key and
// store, while posts go on; the delivery ratio to the homes online when
// each post was written, by the end (up to two sync intervals after the
// last home returned).
func churnScenario(t *testing.T, s *sim) []row {
	n := len(s.homes)
	leaveEvery := time.Duration(float64(time.Minute) / (churnPerMinute * float64(n)))
	type leave struct {
		i  int
		at time.Time
	}
	var gone []leave
	offline := make([]bool, n)
	onlineNow := func() []int {
		var out []int
		for i := range n {
			if !offline[i] {
				out = append(out, i)
			}
		}
		return out
	}
	start := time.Now()
	nextLeave, nextPost := start, start
	var posts []sentPost
	left := 0
	for time.Since(start) < s.tm.churnFor {
		now := time.Now()
		for len(gone) > 0 && now.Sub(gone[0].at) >= churnAway {
			s.start(s.homes[gone[0].i])
			offline[gone[0].i] = false
			gone = gone[1:]
		}
		if !now.Before(nextLeave) {
			on := onlineNow()
			i := on[s.rng.IntN(len(on))]
			s.stop(s.homes[i])
			offline[i] = true
			gone = append(gone, leave{i, now})
			left++
			nextLeave = nextLeave.Add(leaveEvery)
		}
		if !now.Before(nextPost) {
			on := onlineNow()
			p := s.post(len(posts), on[s.rng.IntN(len(on))])
			p.to = on
			posts = append(posts, p)
			nextPost = nextPost.Add(s.tm.postEvery)
		}
		time.Sleep(min(time.Until(nextLeave), time.Until(nextPost), 100*time.Millisecond))
	}
	for _, g := range gone {
		s.start(s.homes[g.i])
		offline[g.i] = false
	}
	// Every home, the ones that were away included, holds every post.
	d, ok := await(2*syncInterval, func() bool {
		for i := range n {
			if !s.holdsAll(i, posts) {
				return false
			}
		}
		return true
	})
	if !ok {
		t.Logf("churn: not every home holds every post %v after the last returned", d)
	}
	t.Logf("churn: %d leaves in %v (one every %v, each away %v), %d posts", left, s.tm.churnFor, leaveEvery, churnAway, len(posts))
	r := row{name: "churn", what: "every home holds every post, after the last return:", recovery: d}
	s.deliveries(&r, posts)
	return []row{r}
}

func seq(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

// simQUIC is the harness's simQUIC with the partition: node i's endpoint
// drops what it sends to a node s.cut separates it from. A
// restarted home gets a new endpoint on its old address.
func (s *sim) simQUIC(i int, conn **simnet.SimConn) libp2p.Option {
	return simQUIC(s.nw, s.link, conn, func(c *simnet.SimConn) net.PacketConn { return &cuttable{SimConn: c, s: s, from: i} })
}

// cuttable is a simulated endpoint whose packets to the other side of a
// partition are lost.
type cuttable struct {
	*simnet.SimConn
	s    *sim
	from int
}

func (c *cuttable) WriteTo(p []byte, addr net.Addr) (int, error) {
	if cut := c.s.cut.Load(); cut != nil {
		if ua, ok := addr.(*net.UDPAddr); ok {
			if to, ok := c.s.index[ua.IP.String()]; ok && (*cut)(c.from, to) {
				return len(p), nil
			}
		}
	}
	return c.SimConn.WriteTo(p, addr)
}
