package scalesim_test

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/porchlight-mesh/porchlight/mesh"
)

// The gossipsub sweep (issue 17, section 1: wire bytes per delivered post
// per home): each case runs the simulation with other gossipsub
// parameters (mesh.Config.PubSubOptions) and a tracer on every home that
// says where the bytes go. Opt-in, SCALESIM_TUNE=1; SCALESIM_TUNE_CASES
// picks cases by name (comma-separated, default all), SCALESIM_TUNE_HOMES
// the size (default 100). See docs/benchmarks.md, "gossiptune".
//
//	SCALESIM_TUNE=1 go test -count=1 -timeout 60m -v -run TestGossipTune ./mesh/scalesim/

// tune, while set, is the gossipsub configuration of the current run and
// its counters; nil (every other test) runs the production parameters.
var tune *tuning

// tuneCase is one point of the sweep.
type tuneCase struct {
	name  string
	flood bool // gossipsub's flood publishing (on by default)
	set   func(*pubsub.GossipSubParams)
}

// degree sets D, Dlo, Dhi and the quotas that must stay below them.
func degree(d, lo, hi int) func(*pubsub.GossipSubParams) {
	return func(p *pubsub.GossipSubParams) {
		p.D, p.Dlo, p.Dhi = d, lo, hi
		p.Dscore = min(p.Dscore, hi, d*2/3)
		p.Dout = min(p.Dout, lo-1, d/2-1) // GossipSubParams.validate: Dout < Dlo, Dout < D/2
	}
}

func both(fs ...func(*pubsub.GossipSubParams)) func(*pubsub.GossipSubParams) {
	return func(p *pubsub.GossipSubParams) {
		for _, f := range fs {
			f(p)
		}
	}
}

func idontwant(threshold int) func(*pubsub.GossipSubParams) {
	return func(p *pubsub.GossipSubParams) { p.IDontWantMessageThreshold = threshold }
}

func lazy(dlazy int, factor float64, history int) func(*pubsub.GossipSubParams) {
	return func(p *pubsub.GossipSubParams) {
		p.Dlazy, p.GossipFactor, p.HistoryGossip = dlazy, factor, history
	}
}

func heartbeat(d time.Duration) func(*pubsub.GossipSubParams) {
	return func(p *pubsub.GossipSubParams) { p.HeartbeatInterval = d }
}

// defaults resets to go-libp2p-pubsub's defaults (the production
// parameters before this sweep), whatever mesh.GossipSubParams says now.
func defaults(p *pubsub.GossipSubParams) { *p = pubsub.DefaultGossipSubParams() }

// production leaves mesh.GossipSubParams as it is.
func production(*pubsub.GossipSubParams) {}

var tuneCases = []tuneCase{
	{"default", true, defaults},
	{"default-noflood", false, defaults},
	{"prod", true, production},
	{"prod-noflood", false, production},
	{"d4", true, both(defaults, degree(4, 3, 8))},
	{"d4-noflood", false, both(defaults, degree(4, 3, 8))},
	{"d3", true, both(defaults, degree(3, 2, 6))},
	{"d3-noflood", false, both(defaults, degree(3, 2, 6))},
	{"d4hi5", true, both(defaults, degree(4, 3, 5))},
	{"d4hi5-noflood", false, both(defaults, degree(4, 3, 5))},
	{"d3hi4", true, both(defaults, degree(3, 2, 4))},
	{"d3hi4-noflood", false, both(defaults, degree(3, 2, 4))},
	{"default-idw0", true, both(defaults, idontwant(1))},
	{"d4hi5-idw0", true, both(defaults, degree(4, 3, 5), idontwant(1))},
	{"d4hi5-lazy3", true, both(defaults, degree(4, 3, 5), lazy(3, 0.25, 3))},
	{"d4hi5-hist2", true, both(defaults, degree(4, 3, 5), lazy(6, 0.25, 2))},
	{"d4hi5-hist1", true, both(defaults, degree(4, 3, 5), lazy(6, 0.25, 1))},
	{"d4hi4-lazy2", true, both(defaults, degree(4, 3, 4), lazy(2, 0.25, 3))},
	{"d4hi5-lazy2", true, both(defaults, degree(4, 3, 5), lazy(2, 0.25, 3))},
	{"d3hi4-lazy2", true, both(defaults, degree(3, 2, 4), lazy(2, 0.25, 3))},
	{"d3hi3-lazy2", true, both(defaults, degree(3, 2, 3), lazy(2, 0.25, 3))},
	{"d3hi4-lazy2-noflood", false, both(defaults, degree(3, 2, 4), lazy(2, 0.25, 3))},
	{"d3hi4-lazy2-idw", true, both(defaults, degree(3, 2, 4), lazy(2, 0.25, 3), idontwant(1))},
	{"d3lo3hi4-lazy2", true, both(defaults, degree(3, 3, 4), lazy(2, 0.25, 3))},
	{"d4lo2hi4-lazy2", true, both(defaults, degree(4, 2, 4), lazy(2, 0.25, 3))},
	{"d4hi5-hb700", true, both(defaults, degree(4, 3, 5), heartbeat(700*time.Millisecond))},
}

func TestGossipTune(t *testing.T) {
	if os.Getenv("SCALESIM_TUNE") != "1" {
		t.Skip("opt-in: SCALESIM_TUNE=1")
	}
	homes := 100
	if s := os.Getenv("SCALESIM_TUNE_HOMES"); s != "" {
		var err error
		if homes, err = strconv.Atoi(s); err != nil {
			t.Fatal(err)
		}
	}
	pick := map[string]bool{}
	for _, n := range strings.Split(os.Getenv("SCALESIM_TUNE_CASES"), ",") {
		if n != "" {
			pick[n] = true
		}
	}
	t.Log("| case | homes | D/Dlo/Dhi | Dlazy, factor, history | heartbeat | flood | IDONTWANT ≥ | ratio | p50 | p99 | max | wire × record | copies received per delivery | messages × | IHAVE × | IWANT × | IDONTWANT × | GRAFT+PRUNE × | not gossipsub × | mesh mean (min–max) | CPU | load |")
	for _, c := range tuneCases {
		if len(pick) > 0 && !pick[c.name] {
			continue
		}
		p := mesh.GossipSubParams()
		c.set(&p)
		tune = &tuning{params: p, flood: c.flood}
		r := run(t, homes, 20)
		tu := tune
		tune = nil
		tu.report(t, c, r)
	}
}

// tuning is one run's gossipsub options and its homes' tracers.
type tuning struct {
	params   pubsub.GossipSubParams
	flood    bool
	counting atomic.Bool
	mu       sync.Mutex
	homes    []*gossipTrace
}

// options returns the gossipsub options of home i: nil unless a sweep is
// running.
func (tu *tuning) options(int) []pubsub.Option {
	if tu == nil {
		return nil
	}
	tr := &gossipTrace{tu: tu, topic: mesh.TopicName("elm-street", "feed"), mesh: map[peer.ID]bool{}}
	tu.mu.Lock()
	tu.homes = append(tu.homes, tr)
	tu.mu.Unlock()
	return []pubsub.Option{
		pubsub.WithGossipSubParams(tu.params),
		pubsub.WithFloodPublish(tu.flood),
		pubsub.WithRawTracer(tr),
	}
}

// posting starts (on) and stops counting: the window whose wire bytes the
// simulation measures.
func (tu *tuning) posting(on bool) {
	if tu == nil {
		return
	}
	tu.counting.Store(on)
}

func (tu *tuning) report(t *testing.T, c tuneCase, r result) {
	var sum counts
	meshMin, meshMax, meshSum := 1<<30, 0, 0
	for _, h := range tu.homes {
		h.mu.Lock()
		sum.add(h.c)
		n := len(h.mesh)
		h.mu.Unlock()
		meshMin, meshMax, meshSum = min(meshMin, n), max(meshMax, n), meshSum+n
	}
	deliveries := r.ratio * float64(r.posts*(r.homes-1))
	per := func(b int64) string { return fmt.Sprintf("%.2f×", float64(b)/deliveries/r.recordBytes) }
	p := tu.params
	load, _ := os.ReadFile("/proc/loadavg")
	t.Logf("| %s | %d | %d/%d/%d | %d, %.2f, %d | %v | %v | %d B | %.4f | %v | %v | %v | %.2f× | %.2f (%.2f dup) | %s | %s | %s | %s | %s | %.2f× | %.1f (%d–%d) | %v | %s |",
		c.name, r.homes, p.D, p.Dlo, p.Dhi, p.Dlazy, p.GossipFactor, p.HistoryGossip, p.HeartbeatInterval, c.flood, p.IDontWantMessageThreshold,
		r.ratio, r.p50, r.p99, r.max, r.bytesPerDelivery/r.recordBytes,
		float64(sum.first+sum.dups)/deliveries, float64(sum.dups)/deliveries,
		per(sum.msgBytes), per(sum.ihave), per(sum.iwant), per(sum.idontwant), per(sum.graft+sum.prune),
		r.bytesPerDelivery/r.recordBytes-float64(sum.rpcBytes)/deliveries/r.recordBytes,
		float64(meshSum)/float64(len(tu.homes)), meshMin, meshMax,
		r.cpu.Round(time.Second), strings.Join(strings.Fields(string(load))[:3], " "))
}

// counts are one home's gossipsub traffic in the posting window: bytes
// are protobuf sizes of what gossipsub queued (not the wire's).
type counts struct {
	first, dups, rejected                            int64 // feed messages received
	msgs, msgBytes                                   int64 // messages sent
	ihave, iwant, idontwant, graft, prune            int64 // control bytes sent
	ihaveIDs, iwantIDs, idontwantIDs, rpcs, rpcBytes int64
}

func (c *counts) add(o counts) {
	c.first += o.first
	c.dups += o.dups
	c.rejected += o.rejected
	c.msgs += o.msgs
	c.msgBytes += o.msgBytes
	c.ihave += o.ihave
	c.iwant += o.iwant
	c.idontwant += o.idontwant
	c.graft += o.graft
	c.prune += o.prune
	c.ihaveIDs += o.ihaveIDs
	c.iwantIDs += o.iwantIDs
	c.idontwantIDs += o.idontwantIDs
	c.rpcs += o.rpcs
	c.rpcBytes += o.rpcBytes
}

// gossipTrace is one home's pubsub.RawTracer: its mesh on the feed topic
// and, in the posting window, its counts. pubsub calls it from its event
// loop and (SendRPCCompleted) from writers.
type gossipTrace struct {
	tu    *tuning
	topic string
	mu    sync.Mutex
	mesh  map[peer.ID]bool
	c     counts
}

var _ pubsub.RawTracer = (*gossipTrace)(nil)

// field is a length-delimited protobuf field's size: tag, length, body.
func field(m proto.Message) int64 {
	return int64(protowire.SizeTag(1) + protowire.SizeBytes(proto.Size(m)))
}

func (g *gossipTrace) SendRPC(rpc *pubsub.RPC, _ peer.ID) {
	if !g.tu.counting.Load() {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.c.rpcs++
	g.c.rpcBytes += int64(protowire.SizeBytes(proto.Size(&rpc.RPC))) // length-prefixed on the stream
	for _, m := range rpc.GetPublish() {
		g.c.msgs++
		g.c.msgBytes += field(m)
	}
	ctl := rpc.GetControl()
	if ctl == nil {
		return
	}
	for _, x := range ctl.GetIhave() {
		g.c.ihave += field(x)
		g.c.ihaveIDs += int64(len(x.GetMessageIDs()))
	}
	for _, x := range ctl.GetIwant() {
		g.c.iwant += field(x)
		g.c.iwantIDs += int64(len(x.GetMessageIDs()))
	}
	for _, x := range ctl.GetIdontwant() {
		g.c.idontwant += field(x)
		g.c.idontwantIDs += int64(len(x.GetMessageIDs()))
	}
	for _, x := range ctl.GetGraft() {
		g.c.graft += field(x)
	}
	for _, x := range ctl.GetPrune() {
		g.c.prune += field(x)
	}
}

func (g *gossipTrace) count(msg *pubsub.Message, f func(*counts)) {
	if msg.Local || msg.GetTopic() != g.topic || !g.tu.counting.Load() {
		return
	}
	g.mu.Lock()
	f(&g.c)
	g.mu.Unlock()
}

func (g *gossipTrace) ValidateMessage(msg *pubsub.Message) {
	g.count(msg, func(c *counts) { c.first++ })
}

func (g *gossipTrace) DuplicateMessage(msg *pubsub.Message) {
	g.count(msg, func(c *counts) { c.dups++ })
}

func (g *gossipTrace) RejectMessage(msg *pubsub.Message, _ string) {
	g.count(msg, func(c *counts) { c.rejected++ })
}

func (g *gossipTrace) Graft(p peer.ID, topic string) {
	if topic == g.topic {
		g.mu.Lock()
		g.mesh[p] = true
		g.mu.Unlock()
	}
}

func (g *gossipTrace) Prune(p peer.ID, topic string) {
	if topic == g.topic {
		g.mu.Lock()
		delete(g.mesh, p)
		g.mu.Unlock()
	}
}

func (g *gossipTrace) RemovePeer(p peer.ID) {
	g.mu.Lock()
	delete(g.mesh, p)
	g.mu.Unlock()
}

func (*gossipTrace) AddPeer(peer.ID, protocol.ID)                         {}
func (*gossipTrace) OnNewOutboundStream(peer.ID, protocol.ID)             {}
func (*gossipTrace) OnClosedOutboundStream(peer.ID)                       {}
func (*gossipTrace) Join(string)                                          {}
func (*gossipTrace) Leave(string)                                         {}
func (*gossipTrace) DeliverMessage(*pubsub.Message)                       {}
func (*gossipTrace) ThrottlePeer(peer.ID)                                 {}
func (*gossipTrace) RecvRPC(*pubsub.RPC)                                  {}
func (*gossipTrace) SendRPCCompleted(*pubsub.RPC, peer.ID, time.Duration) {}
func (*gossipTrace) DropRPC(*pubsub.RPC, peer.ID)                         {}
func (*gossipTrace) UndeliverableMessage(*pubsub.Message)                 {}
