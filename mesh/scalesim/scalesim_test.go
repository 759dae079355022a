package scalesim_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/transport/quicreuse"
	"github.com/marcopolo/simnet"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/quic-go/quic-go"
	"go.uber.org/fx"

	"github.com/porchlight-mesh/porchlight/mesh"
	"github.com/porchlight-mesh/porchlight/record"
	"github.com/porchlight-mesh/porchlight/record/pb"
	"github.com/porchlight-mesh/porchlight/store"
)

// Simulation parameters (docs/benchmarks.md, "Scale simulation (issue 17)").
const (
	// linkLatency is the one-way latency of every packet: a home's link
	// to its neighbor's, 20 ms.
	linkLatency = 20 * time.Millisecond
	// minDegree and maxDegree bound how many neighbors a home connects
	// to: the homes it discovered, not everyone.
	minDegree, maxDegree = 8, 12
	// postEvery is the simulated time between two posts.
	postEvery = 500 * time.Millisecond
	// settle is how long the mesh runs before the first post: handshakes,
	// gossipsub's mesh (1 s heartbeats), profiles (published within 3 s).
	settle = 10 * time.Second
	// drain is how long, at most, after the last post the simulation waits
	// for every home to hold every post: two sync intervals, so that a post
	// gossip missed arrives by sync.
	drain = 65 * time.Second
	mbps  = 1_000_000
	// memTable is each store's Badger memtable: 256 KiB instead of the
	// home default 8 MiB, whose arenas (two a store) were 84 % of the heap
	// of 100 simulated homes (about 10 of 12 MiB a home). With 1 MiB the
	// arena (1.3 MiB: Badger adds 15 % for a batch and the skiplist's
	// nodes) was still 38 % of a home's live heap, at 100 and at 300 homes.
	// A simulated home holds a profile of every home and a few posts:
	// about 100 KiB at 300 homes, so a store flushes its memtable to a
	// table on disk a few times at 1,000 homes, as a real one does.
	memTable = 256 << 10
	// blockCache is each store's Badger block cache, 1 MiB instead of
	// 16 MiB, and no index cache (store.Config.IndexCacheSize -1: a
	// simulated home's few tables keep their indexes in memory): each
	// cache costs about 0.4 MiB of fixed buffers and counters, whatever it
	// holds (ristretto's 32 Ki-entry set buffer, its metrics), and a
	// goroutine.
	blockCache = 1 << 20
)

var quiet = slog.New(slog.NewTextHandler(logOut(), &slog.HandlerOptions{Level: slog.LevelWarn}))

func logOut() io.Writer {
	if os.Getenv("SCALESIM_LOG") != "" {
		return os.Stderr
	}
	return io.Discard
}

func TestHundredHomes(t *testing.T) {
	r := run(t, 100, 20)
	if r.ratio < 1 {
		t.Errorf("delivery ratio %.4f, want 1", r.ratio)
	}
}

func TestThreeHundredHomes(t *testing.T) {
	long(t)
	run(t, 300, 20)
}

func TestFiveHundredHomes(t *testing.T) {
	long(t)
	run(t, 500, 20)
}

// TestHomes simulates SCALESIM_HOMES homes (a point of the curve
// between the named sizes).
func TestHomes(t *testing.T) {
	long(t)
	n, err := strconv.Atoi(os.Getenv("SCALESIM_HOMES"))
	if err != nil || n < 2 {
		t.Skip("set SCALESIM_HOMES to the number of homes")
	}
	run(t, n, 20)
}

func TestThousandHomes(t *testing.T) {
	long(t)
	run(t, 1000, 20)
}

// TestThousandHomesFormed simulates 1,000 homes of a street that has
// formed: every home holds every home's profile before the connections
// open (see formed), so the run measures the posting, not the street's
// formation, whose CPU grows as the square of the homes.
func TestThousandHomesFormed(t *testing.T) {
	long(t)
	t.Setenv("SCALESIM_FORMED", "1")
	run(t, 1000, 20)
}

func long(t *testing.T) {
	if os.Getenv("PORCHLIGHT_LONG") != "1" {
		t.Skip("opt-in: PORCHLIGHT_LONG=1")
	}
}

// result is what one simulation measured.
type result struct {
	homes, posts       int
	ratio              float64       // deliveries / (posts × other homes)
	p50, p99, max      time.Duration // publish to arrival, simulated
	degree             float64       // mean neighbors per home
	recordBytes        float64       // mean size of a post record
	bytesPerDelivery   float64       // wire bytes in the posting window / deliveries
	idleBytesPerSecond float64       // wire bytes a second with nobody posting, all homes
	realTime           time.Duration
	cpu                time.Duration // user+system CPU of the process
	heapPerHome        float64       // heap in use after settling / homes
	heapPostedPerHome  float64       // heap in use after the posting / homes
	rssPerHome         float64       // peak resident set / homes
	goroutinesPerHome  float64       // goroutines after settling / homes
	// cpuPerDelivery is the process's CPU in the posting window less
	// that of the idle window (as long), per delivered post per home.
	cpuPerDelivery time.Duration
	// idleCPUPerHome is the process's CPU a simulated second, nobody
	// posting, per home: the timers' cost.
	idleCPUPerHome time.Duration
}

// run simulates homes homes posting posts posts and logs one table row.
func run(t *testing.T, homes, posts int) result {
	start := realNow()
	cpu0 := cpuTime()
	var r result
	ph := newPhases(t, homes)
	defer ph.stop()
	synctest.Test(t, func(t *testing.T) { r = simulate(t, ph, homes, posts) })
	r.realTime = realNow().Sub(start)
	r.cpu = cpuTime() - cpu0
	r.rssPerHome = float64(ph.peakRSS.Load()) / float64(homes)
	t.Logf("| homes | mean degree | posts | delivery ratio | p50 | p99 | max | record | wire bytes per delivered post per home | idle traffic, all homes | heap per home, settled | heap per home, posted | peak RSS per home | goroutines per home | CPU per delivered post per home | idle CPU per home per simulated s | real time | CPU | load |")
	t.Logf("| %d | %.1f | %d | %.4f | %v | %v | %v | %.0f B | %.1f× | %.0f B/s | %.1f MiB | %.1f MiB | %.1f MiB | %.0f | %.0f µs | %.0f µs | %v | %v | %s |",
		r.homes, r.degree, r.posts, r.ratio, r.p50, r.p99, r.max, r.recordBytes,
		r.bytesPerDelivery/r.recordBytes, r.idleBytesPerSecond, r.heapPerHome/(1<<20),
		r.heapPostedPerHome/(1<<20), r.rssPerHome/(1<<20), r.goroutinesPerHome,
		float64(r.cpuPerDelivery)/float64(time.Microsecond), float64(r.idleCPUPerHome)/float64(time.Microsecond),
		r.realTime.Round(time.Second), r.cpu.Round(time.Second), loadAvg())
	if f := os.Getenv("SCALESIM_CSV"); f != "" {
		appendCSV(t, f, r)
	}
	return r
}

func loadAvg() string {
	load, _ := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(load)); len(f) >= 3 {
		return strings.Join(f[:3], " ")
	}
	return "?"
}

// writeHeapProfile writes the heap in use to file (SCALESIM_HEAPPROFILE:
// where the memory per home goes).
func writeHeapProfile(t *testing.T, file string) {
	runtime.GC()
	f, err := os.Create(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := pprof.WriteHeapProfile(f); err != nil {
		t.Fatal(err)
	}
}

// writeGoroutines writes the goroutines, counted by stack, to file
// (SCALESIM_GOROUTINES: what each home runs).
func writeGoroutines(t *testing.T, file string) {
	f, err := os.Create(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := pprof.Lookup("goroutine").WriteTo(f, 1); err != nil {
		t.Fatal(err)
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// home is one simulated node.
type home struct {
	m    *mesh.Mesh
	db   *store.DB
	conn *simnet.SimConn
	reg  *prometheus.Registry // the mesh's metrics
}

// counted are the mesh's counters the phases log, summed over the homes:
// where the CPU of a phase goes (sync rounds, what they bring, records
// verified).
var counted = map[string]string{
	"porchlight_sync_rounds_total":           "sync rounds",
	"porchlight_sync_records_received_total": "records by sync",
	"porchlight_records_validated_total":     "records validated",
}

// counters sums the counted metrics over the homes started so far.
func counters(hs []*home) map[string]float64 {
	sum := make(map[string]float64)
	for _, h := range hs {
		if h == nil || h.reg == nil {
			continue
		}
		mfs, err := h.reg.Gather()
		if err != nil {
			continue
		}
		for _, mf := range mfs {
			name, ok := counted[mf.GetName()]
			if !ok {
				continue
			}
			for _, m := range mf.GetMetric() {
				sum[name] += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}

// arrivals records when each node first stored each post or request.
type arrivals struct {
	mu sync.Mutex
	at map[record.ID]map[int]time.Time
}

func (a *arrivals) add(node int, s *record.Signed) {
	switch s.Entry.GetBody().(type) {
	case *pb.Entry_Post, *pb.Entry_Request:
	default:
		return
	}
	now := time.Now()
	a.mu.Lock()
	defer a.mu.Unlock()
	m := a.at[s.ID]
	if m == nil {
		m = make(map[int]time.Time)
		a.at[s.ID] = m
	}
	if _, ok := m[node]; !ok {
		m[node] = now
	}
}

func (a *arrivals) count(id record.ID) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.at[id])
}

func (a *arrivals) when(id record.ID, node int) (time.Time, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	at, ok := a.at[id][node]
	return at, ok
}

func (a *arrivals) has(id record.ID, node int) bool {
	_, ok := a.when(id, node)
	return ok
}

func simulate(t *testing.T, ph *phases, n, posts int) result {
	rng := rand.New(rand.NewPCG(17, uint64(n)))
	nw := &simnet.Simnet{LatencyFunc: simnet.StaticLatency(linkLatency), Logger: quiet}
	nw.Start()
	defer nw.Close()
	link := simnet.NodeBiDiLinkSettings{
		Downlink: simnet.LinkSettings{BitsPerSecond: 100 * mbps},
		Uplink:   simnet.LinkSettings{BitsPerSecond: 20 * mbps},
	}
	arr := &arrivals{at: make(map[record.ID]map[int]time.Time)}
	hs := make([]*home, n)
	ph.counters = func() map[string]float64 { return counters(hs) }
	defer func() {
		ph.begin("close", 0)
		closeAll(t, hs)
		ph.end()
	}()
	formed := os.Getenv("SCALESIM_FORMED") == "1"
	ph.begin("start", n)
	profiles := make([]*record.Signed, n)
	for i := range hs {
		hs[i], profiles[i] = startHome(t, nw, link, i, arr, formed)
		ph.step()
	}
	ph.end()
	if formed {
		ph.begin("formed", n)
		dbs := make([]*store.DB, n)
		for i, h := range hs {
			dbs[i] = h.db
		}
		seedProfiles(t, dbs, profiles, ph.step)
		ph.end()
	}

	edges := topology(rng, n)
	deg := 0.0
	for _, e := range edges {
		deg += float64(len(e))
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	ph.begin("connect", int(deg)/2)
	for i, e := range edges {
		for _, j := range e {
			if j < i {
				continue
			}
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				b := hs[j].m
				if err := hs[i].m.Connect(ctx, peer.AddrInfo{ID: b.ID(), Addrs: b.Host().Addrs()}); err != nil {
					t.Errorf("connect %d -> %d: %v", i, j, err)
				}
				ph.step()
			}()
		}
	}
	wg.Wait()
	ph.end()
	if t.Failed() {
		return result{}
	}
	// Every home has completed the handshake with each of its neighbors.
	ph.begin("handshakes", int(deg))
	waitUntil(t, 60*time.Second, "handshakes", func() bool {
		done := 0
		for i, e := range edges {
			for _, j := range e {
				if hs[i].m.IsNeighbor(hs[j].m.ID()) {
					done++
				}
			}
		}
		ph.progress(done)
		return done == int(deg)
	})
	ph.end()
	ph.begin("settle", 0)
	time.Sleep(settle)
	settled := ph.end()
	if f := os.Getenv("SCALESIM_HEAPPROFILE"); f != "" {
		writeHeapProfile(t, f)
	}
	if f := os.Getenv("SCALESIM_GOROUTINES"); f != "" {
		writeGoroutines(t, f)
	}

	// Background traffic, nobody posting, over as long as the posting.
	window := time.Duration(posts) * postEvery
	ph.begin("idle", 0)
	b0 := wireBytes(hs)
	time.Sleep(window)
	idle := wireBytes(hs) - b0
	idleCPU := ph.end().cpu

	ph.begin("posting", posts)
	b0 = wireBytes(hs)
	tune.posting(true)
	type sent struct {
		id     record.ID
		author int
		at     time.Time
		size   int
	}
	var out []sent
	for k := range posts {
		a := rng.IntN(n)
		at := time.Now()
		s, err := hs[a].m.Append(func(e *pb.Entry) {
			e.Body = &pb.Entry_Post{Post: &pb.Post{Kind: "general", Text: fmt.Sprintf("post %d from home %d: a package left at the door of number %d", k, a, rng.IntN(200))}}
		})
		if err != nil {
			t.Fatalf("post %d on home %d: %v", k, a, err)
		}
		out = append(out, sent{s.ID, a, at, len(s.Raw)})
		ph.step()
		time.Sleep(postEvery)
	}
	postingBytes := wireBytes(hs) - b0
	tune.posting(false)
	posted := ph.end()
	if f := os.Getenv("SCALESIM_HEAPPROFILE"); f != "" {
		writeHeapProfile(t, strings.TrimSuffix(f, ".pprof")+"-posted.pprof")
	}
	ph.begin("drain", 0)
	deadline := time.Now().Add(drain)
	for time.Now().Before(deadline) {
		all := true
		for _, p := range out {
			if arr.count(p.id) < n {
				all = false
				break
			}
		}
		if all {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	ph.end()

	r := result{homes: n, posts: posts, degree: deg / float64(n),
		heapPerHome:       float64(settled.heap) / float64(n),
		heapPostedPerHome: float64(posted.heap) / float64(n),
		goroutinesPerHome: float64(settled.goroutines) / float64(n),
		idleCPUPerHome:    time.Duration(float64(idleCPU) / window.Seconds() / float64(n)),
	}
	var lat []time.Duration
	delivered, size := 0, 0
	arr.mu.Lock()
	for _, p := range out {
		size += p.size
		for h, at := range arr.at[p.id] {
			if h == p.author {
				continue
			}
			delivered++
			lat = append(lat, at.Sub(p.at))
		}
	}
	arr.mu.Unlock()
	slices.Sort(lat)
	r.ratio = float64(delivered) / float64(posts*(n-1))
	if len(lat) > 0 {
		r.p50 = lat[len(lat)/2]
		r.p99 = lat[len(lat)*99/100]
		r.max = lat[len(lat)-1]
	}
	r.recordBytes = float64(size) / float64(posts)
	if delivered > 0 {
		r.bytesPerDelivery = float64(postingBytes-idle) / float64(delivered)
		r.cpuPerDelivery = (posted.cpu - idleCPU) / time.Duration(delivered)
	}
	r.idleBytesPerSecond = float64(idle) / window.Seconds()
	return r
}

// startHome starts home i: a Badger store on disk and a mesh whose host
// listens on the simulated network only.
//
// With formed, the home has written its profile before its mesh starts
// (as a home that has been on the street a while has), and startHome
// returns it.
func startHome(t *testing.T, nw *simnet.Simnet, link simnet.NodeBiDiLinkSettings, i int, arr *arrivals, formed bool) (*home, *record.Signed) {
	t.Helper()
	key, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(store.Config{Dir: t.TempDir(), Neighborhood: "elm-street", Logger: quiet, MemTableSize: memTable,
		BlockCacheSize: blockCache, IndexCacheSize: -1})
	if err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("home %d", i)
	var profile *record.Signed
	if formed {
		if profile, err = writeProfile(db, key, name); err != nil {
			db.Close()
			t.Fatal(err)
		}
	}
	h := &home{db: db, reg: prometheus.NewRegistry()}
	h.m, err = mesh.New(mesh.Config{
		Registerer: h.reg,
		Key:        key, Store: db, Name: name,
		ListenAddrs:    []string{fmt.Sprintf("/ip4/%s/udp/8000/quic-v1", simnet.IntToPublicIPv4(i))},
		NoNATPortMap:   true,
		NoPeerExchange: true,
		Logger:         quiet,
		OnRecord:       func(s *record.Signed) { arr.add(i, s) },
		PubSubOptions:  tune.options(i),
		HostOptions: []libp2p.Option{
			simQUIC(nw, link, &h.conn, nil),
			// Identify's address discovery stalls synctest (as in
			// go-libp2p's x/simlibp2p).
			libp2p.DisableIdentifyAddressDiscovery(),
			noAutoNATServices,
		},
	})
	if err != nil {
		db.Close()
		t.Fatal(err)
	}
	return h, profile
}

// writeProfile writes a home's profile to its store before its mesh
// starts, as a home that has been on the street a while holds it (a
// formed street, SCALESIM_FORMED): the mesh then writes none.
func writeProfile(db *store.DB, key crypto.PrivKey, name string) (*record.Signed, error) {
	return db.AppendOwnUnsynced(key, func(e *pb.Entry) {
		e.Body = &pb.Entry_Profile{Profile: &pb.Profile{Name: name}}
	}, nil)
}

// seedProfiles stores every home's profile (profiles[i] is dbs[i]'s own)
// in every other home's store, as the street's earlier syncs would have
// (SCALESIM_FORMED): the connections then open between homes that hold
// the same logs, whose first sync round finds them in sync. step, if not
// nil, is called for each home done.
func seedProfiles(t *testing.T, dbs []*store.DB, profiles []*record.Signed, step func()) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	for i, db := range dbs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			for j, p := range profiles {
				if j == i {
					continue
				}
				if _, err := db.Ingest(p); err != nil {
					t.Errorf("home %d: store home %d's profile: %v", i, j, err)
					return
				}
			}
			if step != nil {
				step()
			}
		}()
	}
	wg.Wait()
}

func closeAll(t *testing.T, hs []*home) {
	var wg sync.WaitGroup
	for _, h := range hs {
		if h == nil {
			continue
		}
		wg.Go(func() {
			if err := h.m.Close(); err != nil {
				t.Errorf("close mesh: %v", err)
			}
			if err := h.db.Close(); err != nil {
				t.Errorf("close store: %v", err)
			}
		})
	}
	wg.Wait()
}

func wireBytes(hs []*home) int64 {
	var b int64
	for _, h := range hs {
		if h.conn != nil {
			b += int64(h.conn.Stats().BytesSent)
		}
	}
	return b
}

// topology is a random neighborhood graph: every home gets between
// minDegree and maxDegree neighbors where the others allow, chosen at
// random.
func topology(rng *rand.Rand, n int) [][]int {
	adj := make([]map[int]bool, n)
	for i := range adj {
		adj[i] = make(map[int]bool)
	}
	want := make([]int, n)
	for i := range want {
		want[i] = minDegree + rng.IntN(maxDegree-minDegree+1)
		if want[i] > n-1 {
			want[i] = n - 1
		}
	}
	for _, i := range rng.Perm(n) {
		for tries := 0; len(adj[i]) < want[i] && tries < 20*n; tries++ {
			j := rng.IntN(n)
			if j == i || adj[i][j] || len(adj[j]) >= maxDegree {
				continue
			}
			adj[i][j], adj[j][i] = true, true
		}
	}
	out := make([][]int, n)
	for i, a := range adj {
		for j := range a {
			out[i] = append(out[i], j)
		}
		slices.Sort(out[i])
	}
	return out
}

func waitUntil(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v (simulated): %s", timeout, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// simQUIC is go-libp2p's simlibp2p.QUICSimnet, keeping the endpoint so the
// simulation can read its byte counters; wrap, if not nil, stands between
// QUIC and the endpoint (the scenarios' partition).
func simQUIC(nw *simnet.Simnet, link simnet.NodeBiDiLinkSettings, conn **simnet.SimConn, wrap func(*simnet.SimConn) net.PacketConn) libp2p.Option {
	src := &sourceIP{}
	return libp2p.QUICReuse(
		func(l fx.Lifecycle, srk quic.StatelessResetKey, tk quic.TokenGeneratorKey, opts ...quicreuse.Option) (*quicreuse.ConnManager, error) {
			cm, err := quicreuse.NewConnManager(srk, tk, opts...)
			if err != nil {
				return nil, err
			}
			l.Append(fx.StopHook(cm.Close))
			return cm, nil
		},
		quicreuse.OverrideSourceIPSelector(func() (quicreuse.SourceIPSelector, error) { return src, nil }),
		quicreuse.OverrideListenUDP(func(_ string, addr *net.UDPAddr) (net.PacketConn, error) {
			src.ip.Store(&addr.IP)
			c := nw.NewEndpoint(addr, link)
			*conn = c
			if wrap != nil {
				return wrap(c), nil
			}
			return c, nil
		}),
	)
}

// noAutoNATServices turns off the AutoNAT v1 service and AutoNAT v2:
// go-libp2p builds each a second, dialing-only host from the transports
// but not from the QUICReuse option, so their dials would open real UDP
// sockets (to the simulated public addresses, on the real Internet) and
// synctest's clock would stop while they wait. On the flat simulated
// network every home is reachable; reachability is not what is measured.
func noAutoNATServices(cfg *libp2p.Config) error {
	cfg.EnableAutoNATv2 = false
	cfg.AutoNATConfig.EnableService = false
	return nil
}

type sourceIP struct{ ip atomic.Pointer[net.IP] }

func (s *sourceIP) PreferredSourceIPForDestination(*net.UDPAddr) (net.IP, error) {
	return *s.ip.Load(), nil
}
