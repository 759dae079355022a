package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/porchlight-mesh/porchlight/client"
	"github.com/porchlight-mesh/porchlight/node"
	"github.com/porchlight-mesh/porchlight/record"
)

// The anchor benchmark runs the real binary as an anchor for 200
// simulated homes for two windows of a minute or more, so it is not part
// of -run all; select it with -run anchor.
var (
	anchorMembersN   = flag.Int("anchor-members", 200, "anchor: simulated member homes (the roster has these and the founder, the anchor)")
	anchorWindow     = flag.Duration("anchor-window", 60*time.Second, "anchor: measurement window of each phase")
	anchorSettle     = flag.Duration("anchor-settle", 10*time.Second, "anchor: wait after every member is connected (and holds its reservation) before the window")
	anchorInterval   = flag.Duration("anchor-interval", time.Second, "anchor: one post per this interval during the window, from the members in turn")
	anchorPairPosts  = flag.Int("anchor-pair-posts", 10, "anchor: posts the relayed pair exchanges (half from each side) to measure bytes relayed per post; 0: skip")
	anchorRounds     = flag.Int("anchor-rounds", 1, "anchor: rounds of (baseline, reservations) phases, alternating")
	anchorFlags      = flag.String("anchor-flags", "", "anchor: more flags for the anchor's porchlight run, in both phases (space-separated; its config already says anchor = true unless -anchor-plain)")
	anchorPlain      = flag.Bool("anchor-plain", false, "anchor: the hub is a plain member node (config anchor = false): no relay service, so no home gets a reservation")
	anchorTransport  = flag.String("anchor-transport", "tcp", "anchor: how the homes reach the anchor: tcp or quic (QUIC v1, the anchor listening on QUIC only; go-libp2p dials QUIC from its listening socket only in part, so homes share addresses and over 128 of them get no reservation)")
	anchorEnv        = flag.String("anchor-env", "", "anchor: environment variables for the anchor process (space-separated NAME=VALUE), e.g. GOMEMLIMIT=64MiB or GODEBUG=gctrace=1 (with -anchor-logs)")
	anchorLogs       = flag.String("anchor-logs", "", "anchor: copy the anchor's log of each phase into this directory")
	anchorConnectMax = flag.Duration("anchor-connect-timeout", 180*time.Second, "anchor: how long every member may take to complete its handshake with the anchor")
)

func init() {
	optIn["anchor"] = true
	benchmarks = append(benchmarks, struct {
		name    string
		prepare func(*env) error
		run     func(context.Context, *env) (*section, error)
	}{"anchor", needBinary, runAnchor})
}

// Anchor targets (issue 14): one anchor serving 200 reservations and one
// post a second.
const (
	targetAnchorCPU    = 10.0 // % of one core
	targetAnchorRSSMiB = 96
)

// Metric names read from the anchor's /metrics.
const (
	// relayBytesMetric counts the bytes the relay service copied between
	// the two sides of its circuits, both directions (the mesh's relay
	// metrics tracer).
	relayBytesMetric = "porchlight_relay_bytes_total"
)

// reservationMetrics are gauges of reservations the anchor serves, tried
// in order (the first the anchor exports is used).
var reservationMetrics = []string{
	"porchlight_relay_reservations_serving",
}

// phaseResult is what one window measured.
type phaseResult struct {
	mode            string // "baseline" or "reservations"
	round           int
	connectTime     time.Duration // anchor start → every member a neighbor
	sourceIPs       int           // distinct addresses the homes connect from
	reserved        int           // reservations made before the window
	reserveErrs     []string
	cpuPct          float64 // anchor's utime+stime over the window, % of one core
	rssMax, rssEnd  int64   // KiB, VmRSS sampled every second in the window
	hwm             int64   // KiB, VmHWM at the end (peak since the start)
	heldEnd         int     // reservations held at the end (bench side)
	metricRes       string  // the anchor's reservations gauge at the end, or "–"
	metricResStart  string  // the same at the window's start
	strays          int     // baseline homes reconnected to end a reservation made before the relay was hidden
	hidden          int64   // times a home forgot the anchor's relay protocol (baseline)
	peersStart      int     // status peers at window start
	peersEnd        int
	disconnects     int64 // member↔anchor connections closed during the window
	reReserved      int64
	posts           int
	delivered, want int
	latency         dist
	load            windowLoad
	metricsLines    []string // the anchor's relay and reservation metrics at the end
	changed         []string // the anchor's porchlight_* samples that changed in the window
	pair            *pairResult
	pairErr         string
}

// windowLoad is how busy the machine was during a window.
type windowLoad struct {
	loadavgStart, loadavgEnd string  // /proc/loadavg's first three fields
	busy, bench, anchor      float64 // cores
	steal                    float64 // %
}

func (l windowLoad) other() float64 { return max(0, l.busy-l.bench-l.anchor) }

// The relayed pair posts every pairGap, and waits pairTail after the
// last post before reading the relay counter.
const (
	pairGap  = 2 * time.Second
	pairTail = 2 * time.Second
)

// pairResult is the relayed pair's exchange.
type pairResult struct {
	idleBytes   float64 // relayed with no post, over idleFor
	idleFor     time.Duration
	grossBytes  float64 // relayed during the exchange, over exchangeFor
	exchangeFor time.Duration
	posts       int
	recordBytes int     // mean size of a post record
	relayBytes  float64 // per post, net of the idle rate
	relayed     bool    // every connection between the two was a circuit throughout
	latency     dist
	connect     time.Duration
}

func runAnchor(ctx context.Context, e *env) (*section, error) {
	n := *anchorMembersN
	if n < 2 || *anchorWindow <= 0 || *anchorInterval <= 0 || *anchorRounds < 1 {
		return nil, errors.New("-anchor-members must be at least 2, -anchor-window, -anchor-interval and -anchor-rounds positive")
	}
	dir := filepath.Join(e.tmp, "anchor")
	progress("anchor: founding a neighborhood and admitting %d homes", n)
	t0 := time.Now()
	r, err := newAnchorRoster(e, dir, n)
	if err != nil {
		return nil, err
	}
	rosterTime := time.Since(t0)
	key, err := node.LoadKey(dir)
	if err != nil {
		return nil, err
	}
	anchorID, err := peer.IDFromPrivateKey(key)
	if err != nil {
		return nil, err
	}
	var listen string
	switch *anchorTransport {
	case "tcp":
		port, err := freeTCPPort()
		if err != nil {
			return nil, err
		}
		listen = fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", port)
	case "quic":
		port, err := freeUDPPort()
		if err != nil {
			return nil, err
		}
		listen = fmt.Sprintf("/ip4/127.0.0.1/udp/%d/quic-v1", port)
	default:
		return nil, fmt.Errorf("-anchor-transport %q: want tcp or quic", *anchorTransport)
	}
	anchorAddr := fmt.Sprintf("%s/p2p/%s", listen, anchorID)
	// The homes start once the first anchor answers, so that their first
	// dial finds it (a failed dial is backed off for a while).
	var ms *anchorMembers
	var membersTime time.Duration
	defer func() {
		if ms != nil {
			ms.close()
		}
	}()
	members := func() (*anchorMembers, error) {
		if ms == nil {
			progress("anchor: starting %d member meshes (each with its own Badger store)", n)
			t0 := time.Now()
			m, err := startAnchorMembers(e, r, anchorAddr)
			if err != nil {
				return nil, err
			}
			ms, membersTime = m, time.Since(t0)
		}
		return ms, nil
	}

	// First contact: fresh homes fetch the roster's documents and the
	// anchor learns their profiles; not measured, so that every measured
	// phase starts from the same state.
	warm, err := anchorPhase(ctx, e, members, dir, listen, anchorAddr, "warm-up", -1, false)
	if err != nil {
		return nil, fmt.Errorf("warm-up: %w", err)
	}
	var results []*phaseResult
	for round := range *anchorRounds {
		for _, mode := range []string{"baseline", "reservations"} {
			pair := mode == "reservations" && round == *anchorRounds-1 && *anchorPairPosts > 0
			res, err := anchorPhase(ctx, e, members, dir, listen, anchorAddr, mode, round, pair)
			if err != nil {
				return nil, fmt.Errorf("%s phase (round %d): %w", mode, round+1, err)
			}
			results = append(results, res)
		}
	}
	return anchorReport(e, r, warm, results, rosterTime, membersTime), nil
}

// anchorPhase starts the anchor binary on dir, waits for every member,
// has them reserve (mode "reservations"), lets the neighborhood settle,
// then measures the anchor for the window while one member after another
// posts, and stops the anchor.
func anchorPhase(ctx context.Context, e *env, members func() (*anchorMembers, error), dir, listen, anchorAddr, mode string, round int, pair bool) (*phaseResult, error) {
	res := &phaseResult{mode: mode, round: round + 1}
	progress("anchor: %s phase, round %d: starting the anchor (%s)", mode, round+1, strings.TrimSpace("porchlight run --no-mdns "+*anchorFlags))
	c, err := startAnchorChild(e.p.bin, dir, listen)
	if err != nil {
		return nil, err
	}
	defer c.stop()
	if _, err := c.waitStatus(ctx, 30*time.Second); err != nil {
		return nil, err
	}
	ms, err := members()
	if err != nil {
		return nil, err
	}
	ms.setNoRelay(mode == "baseline")
	hidden0 := ms.hidden.Load()
	connectStart := time.Now()
	ms.connectAll(ctx, anchorAddr)
	if err := ms.waitNeighbors(ctx, *anchorConnectMax); err != nil {
		return nil, fmt.Errorf("%w%s", err, c.logTail())
	}
	res.connectTime = time.Since(connectStart)
	res.sourceIPs = ms.sourceIPs()
	progress("anchor: %d members are neighbors of the anchor %.1f s after they dialled it, from %d addresses", len(ms.list), res.connectTime.Seconds(), res.sourceIPs)
	if mode == "warm-up" {
		if st, err := readProcStatus(c.cmd.Process.Pid); err == nil {
			res.hwm = st["VmHWM"]
		}
		if err := stopAnchor(c, ms, mode, round); err != nil {
			return nil, err
		}
		return res, nil
	}
	cl, err := client.FromDataDir(dir)
	if err != nil {
		return nil, err
	}

	keepCtx, stopKeep := context.WithCancel(ctx)
	var keepWG sync.WaitGroup
	defer func() { stopKeep(); keepWG.Wait() }()
	if mode == "reservations" {
		t0 := time.Now()
		res.reserved, res.reserveErrs = ms.reserveAll(ctx)
		progress("anchor: %d of %d members hold a reservation (%.1f s)", res.reserved, len(ms.list), time.Since(t0).Seconds())
		for _, e := range res.reserveErrs {
			progress("anchor: reservation refused: %s", e)
		}
		keepWG.Add(1)
		go func() { defer keepWG.Done(); ms.keepReservations(keepCtx) }()
	}
	progress("anchor: settling %s", *anchorSettle)
	time.Sleep(*anchorSettle)
	if mode == "baseline" {
		// A home's AutoRelay may have reserved before the relay was
		// hidden from it: end those reservations, and settle again.
		for try := 0; try < 3; try++ {
			n := ms.dropStrayReservations()
			if n == 0 {
				break
			}
			res.strays += n
			progress("anchor: baseline: %d homes had reserved before the relay was hidden from them; reconnecting them", n)
			time.Sleep(time.Second)
			ms.connectAll(ctx, anchorAddr)
			if err := ms.waitNeighbors(ctx, *anchorConnectMax); err != nil {
				return nil, fmt.Errorf("%w%s", err, c.logTail())
			}
			time.Sleep(*anchorSettle)
		}
	}

	pid := c.cmd.Process.Pid
	st, err := cl.Status(ctx)
	if err != nil {
		return nil, err
	}
	res.peersStart = st.Peers
	disc0, rer0 := ms.disconnects.Load(), ms.reReserved.Load()
	var mStart metricsText
	if text, err := cl.Metrics(ctx); err == nil {
		mStart = parseMetrics(text)
		for _, name := range reservationMetrics {
			if v, ok := mStart.sum(name); ok {
				res.metricResStart = fmt.Sprintf("%.0f", v)
				break
			}
		}
	}
	progress("anchor: measuring %s, one post every %s", *anchorWindow, *anchorInterval)
	la0 := loadavg()
	m0 := readCPUTimes()
	self0, err := procCPUTicks(os.Getpid())
	if err != nil {
		return nil, err
	}
	cpu0, err := procCPUTicks(pid)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	// VmRSS every second, by a sampler the window owns.
	rssMax := make(chan int64, 1)
	sampleCtx, stopSampling := context.WithCancel(ctx)
	go func() {
		var peak int64
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-sampleCtx.Done():
				rssMax <- peak
				return
			case <-t.C:
				if s, err := readProcStatus(pid); err == nil {
					peak = max(peak, s["VmRSS"])
				}
			}
		}
	}()
	// Posts at start, start+interval, ... before the window ends, from
	// the homes in turn (7 apart in the list).
	var ids []record.ID
	var postErr error
	for k := 0; ; k++ {
		at := start.Add(time.Duration(k) * *anchorInterval)
		if !at.Before(start.Add(*anchorWindow)) {
			break
		}
		time.Sleep(time.Until(at))
		i := (k * 7) % len(ms.list)
		s, err := ms.post(i, postText(fmt.Sprintf("anchor %s %d from %d", mode, k, i), e.p.textLen))
		if err != nil {
			postErr = fmt.Errorf("member %d posts: %w", i, err)
			break
		}
		ids = append(ids, s.ID)
	}
	time.Sleep(time.Until(start.Add(*anchorWindow)))
	stopSampling()
	res.rssMax = <-rssMax
	if postErr != nil {
		return nil, postErr
	}
	elapsed := time.Since(start)
	cpu1, err := procCPUTicks(pid)
	if err != nil {
		return nil, err
	}
	self1, _ := procCPUTicks(os.Getpid())
	m1 := readCPUTimes()
	la1 := loadavg()
	status, err := readProcStatus(pid)
	if err != nil {
		return nil, err
	}
	res.rssEnd, res.hwm = status["VmRSS"], status["VmHWM"]
	res.rssMax = max(res.rssMax, res.rssEnd)
	res.cpuPct = float64(cpu1-cpu0) / clockTicks / elapsed.Seconds() * 100
	res.load = windowLoad{loadavgStart: la0, loadavgEnd: la1}
	if m0.ok && m1.ok && m1.total > m0.total {
		total := float64(m1.total - m0.total)
		cores := float64(runtime.NumCPU())
		res.load.busy = float64(m1.busy-m0.busy) / total * cores
		res.load.steal = float64(m1.steal-m0.steal) / total * 100
	}
	res.load.anchor = float64(cpu1-cpu0) / clockTicks / elapsed.Seconds()
	res.load.bench = float64(self1-self0) / clockTicks / elapsed.Seconds()
	res.disconnects = ms.disconnects.Load() - disc0
	res.reReserved = ms.reReserved.Load() - rer0
	res.heldEnd = ms.held()
	res.hidden = ms.hidden.Load() - hidden0
	res.posts = len(ids)
	if st, err := cl.Status(ctx); err == nil {
		res.peersEnd = st.Peers
	}
	res.metricRes = "–"
	if text, err := cl.Metrics(ctx); err == nil {
		mt := parseMetrics(text)
		for _, name := range reservationMetrics {
			if v, ok := mt.sum(name); ok {
				res.metricRes = fmt.Sprintf("%.0f (`%s`)", v, name)
				break
			}
		}
		res.metricsLines = mt.matching(regexp.MustCompile(`relay|reserv|holepunch|autonat`))
		res.changed = mt.changedSince(mStart, regexp.MustCompile(`^porchlight_.*_total$`))
	} else {
		res.metricRes = "– (" + err.Error() + ")"
	}
	progress("anchor: %s: CPU %.1f %% of one core, VmRSS max %s end %s, reservations held %d (anchor: %s), peers %d→%d, disconnects %d",
		mode, res.cpuPct, mib(res.rssMax), mib(res.rssEnd), res.heldEnd, res.metricRes, res.peersStart, res.peersEnd, res.disconnects)

	// Posts still on their way at the end of the window get 5 s more
	// (outside the measurement).
	time.Sleep(5 * time.Second)
	var ds []time.Duration
	res.delivered, res.want, ds = ms.arr.delivery(ids, len(ms.list))
	res.latency = summarize(ds)

	if pair {
		stopKeep() // the pair phase reads the relay counters: no re-reservations meanwhile
		keepWG.Wait()
		p, err := measurePair(ctx, e, ms, cl, anchorAddr)
		if err != nil {
			res.pairErr = err.Error()
			progress("anchor: relayed pair: %v", err)
		} else {
			res.pair = p
		}
	}
	if err := stopAnchor(c, ms, mode, round); err != nil {
		return nil, err
	}
	return res, nil
}

// stopAnchor stops the anchor, keeps its log (-anchor-logs), and waits
// until no home counts it as connected: the next phase's anchor has the
// same identity and address.
func stopAnchor(c *child, ms *anchorMembers, mode string, round int) error {
	if err := c.stop(); err != nil {
		return fmt.Errorf("stop the anchor: %w", err)
	}
	if *anchorLogs != "" {
		if err := os.MkdirAll(*anchorLogs, 0o755); err != nil {
			return err
		}
		if err := copyFile(c.logPath, filepath.Join(*anchorLogs, fmt.Sprintf("anchor-%s-%d.log", mode, round+1))); err != nil {
			return err
		}
	}
	for _, sm := range ms.list {
		sm.forget()
	}
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		left := 0
		for _, sm := range ms.list {
			if sm.m.Host().Network().Connectedness(ms.anchor) == network.Connected {
				left++
			}
		}
		if left == 0 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	return nil
}

// measurePair has member 1 connect to member 0 through the anchor's
// circuit (member 0 holds a reservation; neither listens, so no direct
// path exists) and the two post in turn, each post waited for on the
// other side; bytes relayed per post is the anchor's relay byte counter
// over the exchange, divided by the posts.
func measurePair(ctx context.Context, e *env, ms *anchorMembers, cl *client.Client, anchorAddr string) (*pairResult, error) {
	a, b := ms.list[0], ms.list[1]
	if !a.holds(ms.anchor) {
		if err := a.reserve(ctx, ms.anchor); err != nil {
			return nil, fmt.Errorf("member 0 has no reservation: %w", err)
		}
	}
	circuit, err := peer.AddrInfoFromString(fmt.Sprintf("%s/p2p-circuit/p2p/%s", anchorAddr, a.m.ID()))
	if err != nil {
		return nil, err
	}
	progress("anchor: relayed pair: member 1 connects to member 0 through the anchor")
	t0 := time.Now()
	cctx, cancel := context.WithTimeout(network.WithAllowLimitedConn(ctx, "bench"), 10*time.Second)
	err = b.m.Connect(cctx, *circuit)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("connect through the circuit: %w", err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for !(a.m.IsNeighbor(b.m.ID()) && b.m.IsNeighbor(a.m.ID())) {
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("the pair did not complete the handshake over the circuit within 30 s (neighbors: 0→1 %v, 1→0 %v; connected %v)",
				a.m.IsNeighbor(b.m.ID()), b.m.IsNeighbor(a.m.ID()), b.m.Host().Network().Connectedness(a.m.ID()))
		}
		time.Sleep(50 * time.Millisecond)
	}
	p := &pairResult{connect: time.Since(t0), relayed: true}
	onlyCircuits := func() bool {
		for _, c := range b.m.Host().Network().ConnsToPeer(a.m.ID()) {
			if !isCircuit(c) {
				return false
			}
		}
		return true
	}
	// The handshake's own sync rounds are not a post's cost.
	time.Sleep(3 * time.Second)
	// What the circuit carries with no post (pings, periodic sync),
	// over as long as the exchange takes, is subtracted.
	idle0, err := relayBytes(ctx, cl)
	if err != nil {
		return nil, err
	}
	idleFor := time.Duration(*anchorPairPosts)*pairGap + pairTail
	time.Sleep(idleFor)
	idle1, err := relayBytes(ctx, cl)
	if err != nil {
		return nil, err
	}
	p.idleBytes = idle1 - idle0
	p.idleFor = idleFor
	before := idle1
	exchange := time.Now()
	var ds []time.Duration
	size := 0
	for i := range *anchorPairPosts {
		from, to := a, b
		if i%2 == 1 {
			from, to = b, a
		}
		t0 := time.Now()
		s, err := ms.post(from.i, postText(fmt.Sprintf("pair %d", i), e.p.textLen))
		if err != nil {
			return nil, err
		}
		size += len(s.Raw)
		select {
		case <-ms.arr.await(s.ID, to.i):
			ds = append(ds, time.Since(t0))
		case <-time.After(15 * time.Second):
			return nil, fmt.Errorf("post %d of the pair did not arrive on the other side within 15 s", i)
		}
		p.relayed = p.relayed && onlyCircuits()
		// Let the sync that follows a new record (debounced) run before
		// the next post, so each post's relayed traffic is counted whole.
		time.Sleep(time.Until(exchange.Add(time.Duration(i+1) * pairGap)))
	}
	time.Sleep(pairTail)
	after, err := relayBytes(ctx, cl)
	if err != nil {
		return nil, err
	}
	p.relayed = p.relayed && onlyCircuits()
	p.posts = *anchorPairPosts
	p.recordBytes = size / max(1, p.posts)
	p.grossBytes = after - before
	p.exchangeFor = time.Since(exchange)
	idleRate := p.idleBytes / p.idleFor.Seconds()
	p.relayBytes = (p.grossBytes - idleRate*p.exchangeFor.Seconds()) / float64(max(1, p.posts))
	p.latency = summarize(ds)
	return p, nil
}

func isCircuit(c network.Conn) bool {
	_, err := c.RemoteMultiaddr().ValueForProtocol(ma.P_CIRCUIT)
	return err == nil || c.Stat().Limited
}

// relayBytes reads the anchor's relay byte counter.
func relayBytes(ctx context.Context, cl *client.Client) (float64, error) {
	text, err := cl.Metrics(ctx)
	if err != nil {
		return 0, fmt.Errorf("the anchor's /metrics: %w", err)
	}
	v, ok := parseMetrics(text).sum(relayBytesMetric)
	if !ok {
		return 0, fmt.Errorf("the anchor's /metrics has no %s", relayBytesMetric)
	}
	return v, nil
}

// startAnchorChild starts `porchlight run --no-mdns` on dir listening on
// listen only, with -anchor-flags.
func startAnchorChild(bin, dir, listen string) (*child, error) {
	logPath := dir + fmt.Sprintf("-%d.log", time.Now().UnixNano())
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	args := []string{"--data", dir, "run", "--no-mdns", "--api", "127.0.0.1:0", "--listen", listen}
	args = append(args, strings.Fields(*anchorFlags)...)
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), strings.Fields(*anchorEnv)...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	c := &child{bin: bin, data: dir, cmd: cmd, logPath: logPath, started: time.Now(), exited: make(chan error, 1)}
	go func() {
		c.exited <- cmd.Wait()
		logf.Close()
	}()
	return c, nil
}

func freeUDPPort() (int, error) {
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port, nil
}

func freeTCPPort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// clockTicks is USER_HZ, the unit of /proc/PID/stat's times (100 on every
// Linux architecture Go supports).
const clockTicks = 100

// procCPUTicks is utime+stime of pid (not its children), in clock ticks.
func procCPUTicks(pid int) (uint64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	s := string(b)
	rest := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(rest) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: too few fields", pid)
	}
	u, err1 := strconv.ParseUint(rest[11], 10, 64) // utime, field 14
	st, err2 := strconv.ParseUint(rest[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	return u + st, nil
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// metricsText is a parsed Prometheus text exposition: sample line
// ("name{labels}") → value.
type metricsText map[string]float64

func parseMetrics(text string) metricsText {
	mt := metricsText{}
	for _, l := range strings.Split(text, "\n") {
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		i := strings.LastIndexByte(l, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(l[i+1:], 64)
		if err != nil {
			continue
		}
		mt[l[:i]] = v
	}
	return mt
}

// sum adds the samples of metric name (all label sets).
func (mt metricsText) sum(name string) (float64, bool) {
	var v float64
	found := false
	for k, x := range mt {
		base, _, _ := strings.Cut(k, "{")
		if base == name {
			v += x
			found = true
		}
	}
	return v, found
}

// matching lists the samples whose name matches re, sorted.
func (mt metricsText) matching(re *regexp.Regexp) []string {
	var out []string
	for k, v := range mt {
		base, _, _ := strings.Cut(k, "{")
		if re.MatchString(base) && !strings.HasSuffix(base, "_bucket") {
			out = append(out, fmt.Sprintf("%s %g", k, v))
		}
	}
	slices.Sort(out)
	return out
}

// changedSince lists the samples matching re whose value differs from
// before's (a sample missing there counts from 0), with the change.
func (mt metricsText) changedSince(before metricsText, re *regexp.Regexp) []string {
	var out []string
	for k, v := range mt {
		base, _, _ := strings.Cut(k, "{")
		if !re.MatchString(base) || strings.HasSuffix(base, "_bucket") {
			continue
		}
		if d := v - before[k]; d != 0 {
			out = append(out, fmt.Sprintf("%s %+g", k, d))
		}
	}
	slices.Sort(out)
	return out
}
