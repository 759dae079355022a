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
	// memTable is each store's Badger memtable: 1 MiB instead of the
	// home default 8 MiB, whose arenas (two a store) were 84 % of the heap
	// of 100 simulated homes (about 10 of 12 MiB a home). A simulated home
	// writes a few hundred records; none fills a memtable.
	memTable = 1 << 20
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

func TestThousandHomes(t *testing.T) {
	long(t)
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
}

// run simulates homes homes posting posts posts and logs one table row.
func run(t *testing.T, homes, posts int) result {
	start := time.Now()
	cpu0 := cpuTime()
	var r result
	synctest.Test(t, func(t *testing.T) { r = simulate(t, homes, posts) })
	r.realTime = time.Since(start)
	r.cpu = cpuTime() - cpu0
	load, _ := os.ReadFile("/proc/loadavg")
	t.Logf("| %d | %.1f | %d | %.4f | %v | %v | %v | %.0f B | %.1f× | %.0f B/s | %.1f MiB | %v | %v | %s |",
		r.homes, r.degree, r.posts, r.ratio, r.p50, r.p99, r.max, r.recordBytes,
		r.bytesPerDelivery/r.recordBytes, r.idleBytesPerSecond, r.heapPerHome/(1<<20),
		r.realTime.Round(time.Second), r.cpu.Round(time.Second), strings.Join(strings.Fields(string(load))[:3], " "))
	return r
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
}

// arrivals records when each home first stored each post.
type arrivals struct {
	mu sync.Mutex
	at map[record.ID]map[int]time.Time
}

func (a *arrivals) add(home int, s *record.Signed) {
	if _, ok := s.Entry.GetBody().(*pb.Entry_Post); !ok {
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
	if _, ok := m[home]; !ok {
		m[home] = now
	}
}

func (a *arrivals) count(id record.ID) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.at[id])
}

func simulate(t *testing.T, n, posts int) result {
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
	defer func() { closeAll(t, hs) }()
	for i := range hs {
		hs[i] = startHome(t, nw, link, i, arr)
	}

	edges := topology(rng, n)
	deg := 0.0
	for _, e := range edges {
		deg += float64(len(e))
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
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
			}()
		}
	}
	wg.Wait()
	if t.Failed() {
		return result{}
	}
	// Every home has completed the handshake with each of its neighbors.
	waitUntil(t, 60*time.Second, "handshakes", func() bool {
		for i, e := range edges {
			for _, j := range e {
				if !hs[i].m.IsNeighbor(hs[j].m.ID()) {
					return false
				}
			}
		}
		return true
	})
	time.Sleep(settle)

	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	if f := os.Getenv("SCALESIM_HEAPPROFILE"); f != "" {
		writeHeapProfile(t, f)
	}
	heap := float64(ms.HeapInuse)

	// Background traffic, nobody posting, over as long as the posting.
	window := time.Duration(posts) * postEvery
	b0 := wireBytes(hs)
	time.Sleep(window)
	idle := wireBytes(hs) - b0

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
		time.Sleep(postEvery)
	}
	postingBytes := wireBytes(hs) - b0
	tune.posting(false)
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

	r := result{homes: n, posts: posts, degree: deg / float64(n), heapPerHome: heap / float64(n)}
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
	}
	r.idleBytesPerSecond = float64(idle) / window.Seconds()
	return r
}

// startHome starts home i: a Badger store on disk and a mesh whose host
// listens on the simulated network only.
func startHome(t *testing.T, nw *simnet.Simnet, link simnet.NodeBiDiLinkSettings, i int, arr *arrivals) *home {
	t.Helper()
	key, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(store.Config{Dir: t.TempDir(), Neighborhood: "elm-street", Logger: quiet, MemTableSize: memTable})
	if err != nil {
		t.Fatal(err)
	}
	h := &home{db: db}
	h.m, err = mesh.New(mesh.Config{
		Key: key, Store: db, Name: fmt.Sprintf("home %d", i),
		ListenAddrs:    []string{fmt.Sprintf("/ip4/%s/udp/8000/quic-v1", simnet.IntToPublicIPv4(i))},
		NoNATPortMap:   true,
		NoPeerExchange: true,
		Logger:         quiet,
		OnRecord:       func(s *record.Signed) { arr.add(i, s) },
		PubSubOptions:  tune.options(i),
		HostOptions: []libp2p.Option{
			simQUIC(nw, link, &h.conn),
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
	return h
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
// simulation can read its byte counters.
func simQUIC(nw *simnet.Simnet, link simnet.NodeBiDiLinkSettings, conn **simnet.SimConn) libp2p.Option {
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
