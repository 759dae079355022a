package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pubsubpb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/porchlight-mesh/porchlight/mesh"
	"github.com/porchlight-mesh/porchlight/record"
	"github.com/porchlight-mesh/porchlight/record/pb"
	"github.com/porchlight-mesh/porchlight/store"
)

// Propagation targets.
const (
	targetP99      = 50 * time.Millisecond
	targetP99Ratio = 2.0
)

// side is one system under test: it sends message i from node `from` and
// reports deliveries to arr, keyed by the returned key.
type side struct {
	arr   *arrivals
	send  func(ctx context.Context, i, from, size int) (key string, n int, err error)
	notes func() []string

	latency []time.Duration // send call to delivered on all others
	call    []time.Duration // send call to its return
	after   []time.Duration // send call's return to delivered on all others
	sizes   []int           // message sizes, in sending order
	lost    int             // messages that did not reach everyone in time
	samples []sample
}

// sample is one measured message, for -samples.
type sample struct {
	i, from, last int
	call, total   time.Duration
}

// measure sends one message and records it unless it is a warm-up.
func (sd *side) measure(ctx context.Context, p params, i, from, size, n int) (int, error) {
	time.Sleep(p.gap)
	start := time.Now()
	key, size, err := sd.send(ctx, i, from, size)
	if err != nil {
		return 0, fmt.Errorf("message %d from node %d: %w", i, from, err)
	}
	call := time.Since(start)
	last, lastNode, got, err := sd.arr.wait(ctx, key, from, n, p.postTimeout)
	if ctx.Err() != nil {
		return 0, ctx.Err()
	}
	if i < p.warmup {
		if err != nil {
			return 0, fmt.Errorf("warm-up message %d from node %d: %w", i, from, err)
		}
		return size, nil
	}
	sd.call = append(sd.call, call)
	sd.sizes = append(sd.sizes, size)
	if err != nil {
		progress("message %d from node %d: reached %d of %d nodes in %s", i, from, got, n-1, p.postTimeout)
		sd.lost++
		sd.latency = append(sd.latency, p.postTimeout)
		return size, nil
	}
	sd.latency = append(sd.latency, last.Sub(start))
	sd.after = append(sd.after, last.Sub(start)-call)
	sd.samples = append(sd.samples, sample{i: i, from: from, last: lastNode, call: call, total: last.Sub(start)})
	return size, nil
}

func runPropagation(ctx context.Context, e *env) (*section, error) {
	p := e.p
	topo, err := randomTopology(p.nodes, p.degree, p.seed)
	if err != nil {
		return nil, err
	}
	progress("topology: %s", topo.describe())
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	progress("starting %d Porchlight mesh nodes and %d bare gossipsub hosts", p.nodes, p.nodes)
	// pprof labels (side=porchlight, side=baseline) follow every goroutine
	// each side starts, so -cpuprofile can split the CPU time between them.
	var (
		pl, base         *side
		stopPL, stopBase func()
		errPL, errBase   error
		plCtx, baseCtx   context.Context
	)
	pprof.Do(ctx, pprof.Labels("side", "porchlight"), func(ctx context.Context) {
		plCtx = ctx
		pl, stopPL, errPL = startPorchlight(ctx, e, topo)
	})
	defer stopPL()
	if errPL != nil {
		return nil, fmt.Errorf("porchlight: %w", errPL)
	}
	pprof.Do(ctx, pprof.Labels("side", "baseline"), func(ctx context.Context) {
		baseCtx = ctx
		base, stopBase, errBase = startBaseline(ctx, topo)
	})
	defer stopBase()
	if errBase != nil {
		return nil, fmt.Errorf("baseline: %w", errBase)
	}
	time.Sleep(p.settle)

	progress("%d warm-up + %d measured messages on each side, interleaved", p.warmup, p.posts)
	if err := e.profilePhase("propagation-messages"); err != nil {
		return nil, err
	}
	rng := mrand.New(mrand.NewPCG(p.seed, 1))
	size := 0
	for i := range p.warmup + p.posts {
		from := rng.IntN(topo.n)
		// Alternate which side goes first, so neither always runs right
		// after the other's burst of work.
		sendPL := func() (err error) {
			pprof.Do(plCtx, pprof.Labels(), func(ctx context.Context) { size, err = pl.measure(ctx, p, i, from, 0, topo.n) })
			if err != nil {
				err = fmt.Errorf("porchlight: %w", err)
			}
			return err
		}
		sendBase := func() (err error) {
			pprof.Do(baseCtx, pprof.Labels(), func(ctx context.Context) { _, err = base.measure(ctx, p, i, from, size, topo.n) })
			if err != nil {
				err = fmt.Errorf("baseline: %w", err)
			}
			return err
		}
		first, second := sendPL, sendBase
		if i%2 == 1 {
			first, second = sendBase, sendPL
		}
		if err := first(); err != nil {
			return nil, err
		}
		if err := second(); err != nil {
			return nil, err
		}
	}
	if p.samplesFile != "" {
		if err := writeSamples(p.samplesFile, topo, map[string]*side{"porchlight": pl, "baseline": base}); err != nil {
			return nil, err
		}
	}

	d, b := summarize(pl.latency), summarize(base.latency)
	s := &section{title: "Propagation"}
	s.add(row{
		metric: "post → stored on all others, median", result: ms(d.median), baseline: ms(b.median),
		ratio: ratio(float64(d.median), float64(b.median)),
	})
	s.add(row{
		metric: "post → stored on all others, p99", result: ms(d.p99), baseline: ms(b.p99),
		ratio: ratio(float64(d.p99), float64(b.p99)), target: "≤ 50 ms", met: met(pl.lost == 0 && d.p99 <= targetP99),
	})
	s.add(row{
		metric: "p99 vs baseline p99", result: ratio(float64(d.p99), float64(b.p99)),
		target: "≤ 2×", met: met(pl.lost == 0 && float64(d.p99) <= targetP99Ratio*float64(b.p99)),
	})
	s.printf("Topology: %s; node i dials %d random others it is not yet linked to (seed %d). ", topo.describe(), p.degree, p.seed)
	s.printf("Both sides run at once in this process on the same graph, each node with its own TCP host on 127.0.0.1; every Porchlight node has its own Badger store in a temp dir, mDNS off. ")
	s.printf("After connecting, the run waits %s (gossipsub heartbeats are 1 s; Porchlight nodes publish their profiles after their first sync), ", p.settle)
	s.printf("then sends %d unmeasured warm-up and %d measured messages per side from random nodes (the same node for both sides), one at a time and alternating sides: each is sent once the previous reached all %d other nodes.\n\n", p.warmup, p.posts, p.nodes-1)
	s.printf("- **Porchlight**: time from calling `Mesh.Post` until `OnRecord` fired on the last of the other %d nodes, i.e. after each verified the record and wrote it to Badger. `Post` signs and stores the record, publishes it, then fsyncs the store and returns after the fsync, so the record can reach the others before `Post()` returns (a negative \"after `Post()` returned\").\n", p.nodes-1)
	s.printf("- **Baseline**: bare go-libp2p-pubsub gossipsub with Porchlight's wire settings (unsigned messages, `StrictNoSign`, and SHA-256 message IDs) and otherwise default options (no validator, no storage), TCP-only hosts like Porchlight's, messages of the same size as the Porchlight post just sent (%s bytes); time from calling `Topic.Publish` until `Subscription.Next` returned the message on the last other node.\n\n", sizeRange(pl.sizes))
	s.printf("Percentiles are nearest-rank (p99 of 200 samples is the 198th smallest). The last four columns split each latency at the moment the send call returned.\n\n")
	distTable(&s.body, []string{"Porchlight", "bare gossipsub", "Porchlight `Post()` call", "gossipsub `Publish()` call", "Porchlight after `Post()` returned", "gossipsub after `Publish()` returned"},
		[]dist{d, b, summarize(pl.call), summarize(base.call), summarize(pl.after), summarize(base.after)})
	if pl.lost > 0 || base.lost > 0 {
		s.printf("Messages that did not reach every node within %s (counted as %s): Porchlight %d, baseline %d.\n\n", p.postTimeout, p.postTimeout, pl.lost, base.lost)
	}
	for _, n := range pl.notes() {
		s.printf("%s\n\n", n)
	}
	return s, nil
}

// writeSamples writes every measured message as CSV.
func writeSamples(path string, topo *topology, sides map[string]*side) error {
	var b strings.Builder
	b.WriteString("side,i,from,last,hops_to_last,call_us,total_us\n")
	for _, name := range []string{"porchlight", "baseline"} {
		for _, x := range sides[name].samples {
			hops := -1
			if x.last >= 0 {
				hops = topo.hops(x.from)[x.last]
			}
			fmt.Fprintf(&b, "%s,%d,%d,%d,%d,%d,%d\n", name, x.i, x.from, x.last, hops, x.call.Microseconds(), x.total.Microseconds())
		}
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

func sizeRange(sizes []int) string {
	if len(sizes) == 0 {
		return "0"
	}
	lo, hi := sizes[0], sizes[0]
	for _, n := range sizes {
		lo, hi = min(lo, n), max(hi, n)
	}
	if lo == hi {
		return fmt.Sprint(lo)
	}
	return fmt.Sprintf("%d–%d", lo, hi)
}

type plNode struct {
	m   *mesh.Mesh
	db  *store.DB
	reg *prometheus.Registry
}

// startPorchlight starts and links topo.n mesh nodes. stop is never nil.
func startPorchlight(ctx context.Context, e *env, topo *topology) (sd *side, stop func(), err error) {
	var nodes []*plNode
	stop = func() {
		var wg sync.WaitGroup
		for _, n := range nodes {
			wg.Add(1)
			go func() {
				defer wg.Done()
				n.m.Close()
				n.db.Close()
			}()
		}
		wg.Wait()
	}
	root, err := e.tempDir("propagation-")
	if err != nil {
		return nil, stop, err
	}
	arr := newArrivals()
	for i := range topo.n {
		db, err := store.Open(store.Config{Dir: filepath.Join(root, fmt.Sprint(i)), Neighborhood: neighborhood, Logger: e.log})
		if err != nil {
			return nil, stop, err
		}
		key, _, err := crypto.GenerateEd25519Key(rand.Reader)
		if err != nil {
			db.Close()
			return nil, stop, err
		}
		reg := prometheus.NewRegistry()
		m, err := mesh.New(mesh.Config{
			Key:         key,
			Store:       db,
			Name:        fmt.Sprintf("home %d", i),
			ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"},
			Registerer:  reg,
			Logger:      e.log,
			OnRecord:    func(s *record.Signed) { arr.mark(string(s.ID[:]), i) },
		})
		if err != nil {
			db.Close()
			return nil, stop, err
		}
		nodes = append(nodes, &plNode{m: m, db: db, reg: reg})
	}
	hosts := make([]host.Host, len(nodes))
	for i, n := range nodes {
		hosts[i] = n.m.Host()
	}
	if err := connect(ctx, hosts, topo); err != nil {
		return nil, stop, err
	}
	sd = &side{arr: arr}
	sd.send = func(_ context.Context, i, from, _ int) (string, int, error) {
		post := &pb.Post{Kind: "general", Text: postText(fmt.Sprintf("propagation %d from %d", i, from), e.p.textLen)}
		s, err := nodes[from].m.Append(func(en *pb.Entry) { en.Body = &pb.Entry_Post{Post: post} })
		if err != nil {
			return "", 0, err
		}
		return string(s.ID[:]), len(s.Raw), nil
	}
	sd.notes = func() []string {
		var rejected float64
		for _, n := range nodes {
			rejected += counterSum(n.reg, "porchlight_records_rejected_total")
		}
		return []string{fmt.Sprintf("Porchlight nodes rejected %.0f records during the run.", rejected)}
	}
	return sd, stop, nil
}

// connect links the hosts along topo's dials, concurrently.
func connect(ctx context.Context, hosts []host.Host, topo *topology) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, topo.edges())
	for i, ds := range topo.dials {
		for _, j := range ds {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := hosts[i].Connect(ctx, peer.AddrInfo{ID: hosts[j].ID(), Addrs: hosts[j].Addrs()}); err != nil {
					errs <- fmt.Errorf("connect node %d to %d: %w", i, j, err)
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// startBaseline starts and links topo.n bare gossipsub hosts subscribed to
// one topic. stop is never nil.
func startBaseline(ctx context.Context, topo *topology) (sd *side, stop func(), err error) {
	ctx, cancel := context.WithCancel(ctx)
	var (
		hosts  []host.Host
		topics []*pubsub.Topic
		wg     sync.WaitGroup
	)
	stop = func() {
		cancel()
		wg.Wait()
		for _, t := range topics {
			_ = t.Close()
		}
		for _, h := range hosts {
			_ = h.Close()
		}
	}
	arr := newArrivals()
	for i := range topo.n {
		h, err := libp2p.New(
			libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"),
			libp2p.Transport(tcp.NewTCPTransport),
			libp2p.DisableMetrics(),
		)
		if err != nil {
			return nil, stop, err
		}
		hosts = append(hosts, h)
		// The same wire settings as package mesh (unsigned gossipsub
		// messages, content-hash message IDs), minus validation and storage.
		ps, err := pubsub.NewGossipSub(ctx, h,
			pubsub.WithMessageSignaturePolicy(pubsub.StrictNoSign),
			pubsub.WithMessageIdFn(func(pm *pubsubpb.Message) string {
				id := sha256.Sum256(pm.Data)
				return string(id[:])
			}),
		)
		if err != nil {
			return nil, stop, err
		}
		t, err := ps.Join("bench/feed")
		if err != nil {
			return nil, stop, err
		}
		sub, err := t.Subscribe()
		if err != nil {
			_ = t.Close()
			return nil, stop, err
		}
		topics = append(topics, t)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer sub.Cancel()
			for {
				msg, err := sub.Next(ctx)
				if err != nil {
					return
				}
				arr.mark(string(msg.Data[:8]), i)
			}
		}()
	}
	if err := connect(ctx, hosts, topo); err != nil {
		return nil, stop, err
	}
	sd = &side{arr: arr, notes: func() []string { return nil }}
	sd.send = func(ctx context.Context, i, from, size int) (string, int, error) {
		if size == 0 {
			size = 400
		}
		data := make([]byte, max(size, 8))
		_, _ = rand.Read(data)
		binary.BigEndian.PutUint64(data, uint64(i))
		if err := topics[from].Publish(ctx, data); err != nil {
			return "", 0, err
		}
		return string(data[:8]), len(data), nil
	}
	return sd, stop, nil
}

// counterSum adds up every series of a counter in reg.
func counterSum(reg *prometheus.Registry, name string, labels ...string) float64 {
	mfs, err := reg.Gather()
	if err != nil {
		return 0
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if matchLabels(m, labels) {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}

// matchLabels reports whether m has every "name=value" of want.
func matchLabels(m *dto.Metric, want []string) bool {
	for _, w := range want {
		k, v, _ := strings.Cut(w, "=")
		found := false
		for _, l := range m.GetLabel() {
			if l.GetName() == k && l.GetValue() == v {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}
