package mesh_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"testing"
	"time"

	pubsubpb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/porchlight-mesh/porchlight/mesh"
	"github.com/porchlight-mesh/porchlight/record"
)

// gather returns the value of a metric series with the given labels, and
// whether it exists.
func gather(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) (float64, bool) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			for k, v := range labels {
				found := false
				for _, l := range m.GetLabel() {
					if l.GetName() == k && l.GetValue() == v {
						found = true
					}
				}
				if !found {
					continue series
				}
			}
			return metricValue(m), true
		}
	}
	return 0, false
}

func metricValue(m *dto.Metric) float64 {
	switch {
	case m.Gauge != nil:
		return m.GetGauge().GetValue()
	case m.Counter != nil:
		return m.GetCounter().GetValue()
	}
	return 0
}

// TestGraylistedNeighborIsDisconnected: a neighbor that sends invalid
// records is graylisted by gossipsub. It used to stay connected and listed
// as a neighbor; it is now disconnected and refused for a while, and
// scores are visible in Peers and the metrics.
func TestGraylistedNeighborIsDisconnected(t *testing.T) {
	reg := prometheus.NewRegistry()
	a := newTestNodeWith(t, "a", "maple-st", func(c *mesh.Config) { c.Registerer = reg })
	b := newTestNode(t, "b", "maple-st")
	connect(t, a, b)
	eventually(t, 10*time.Second, "a and b are neighbors", func() bool { return isNeighbors(a, b) })
	eventually(t, 10*time.Second, "b's score is visible in Peers and the metrics", func() bool {
		_, ok := gather(t, reg, "porchlight_peer_score", map[string]string{"peer": b.m.ID().String()})
		ps := a.m.Peers()
		return ok && len(ps) == 1 && ps[0].ID == b.m.ID() && ps[0].Score >= 0
	})

	att := newGSAttacker(t)
	att.join(t, a.info(), []string{mesh.TopicName("maple-st", "feed"), mesh.TopicName("maple-st", "requests")})
	eventually(t, 5*time.Second, "a counts the attacker as a neighbor", func() bool { return a.m.IsNeighbor(att.h.ID()) })
	key, _, _ := crypto.GenerateEd25519Key(rand.Reader)
	topic := mesh.TopicName("maple-st", "feed")
	start := time.Now()
	for i := range 30 {
		raw := sealEntry(t, key, entryOf(key, "maple-st", 1, fmt.Sprintf("forged %d", i)))
		raw[len(raw)-1] ^= 1 // bad signature
		if err := att.write(a.m.ID(), &pubsubpb.RPC{Publish: []*pubsubpb.Message{{Data: raw, Topic: &topic}}}); err != nil {
			break // disconnected already
		}
		time.Sleep(20 * time.Millisecond)
	}
	took := eventually(t, 15*time.Second, "a disconnects the graylisted attacker", func() bool {
		return a.m.Host().Network().Connectedness(att.h.ID()) != network.Connected
	})
	_ = took
	t.Logf("graylisted attacker disconnected within %s of its first invalid record", time.Since(start).Round(time.Millisecond))
	if a.m.IsNeighbor(att.h.ID()) {
		t.Fatal("the graylisted attacker is still a neighbor")
	}
	for _, p := range a.m.Peers() {
		if p.ID == att.h.ID() {
			t.Fatalf("Peers lists the graylisted attacker: %+v", p)
		}
	}
	if n, _ := gather(t, reg, "porchlight_peers_refused_total", map[string]string{"reason": "graylisted"}); n != 1 {
		t.Errorf("porchlight_peers_refused_total{reason=graylisted} = %v, want 1", n)
	}
	// Backed off: it cannot reconnect at once.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	att.h.Peerstore().AddAddrs(a.m.ID(), a.m.Host().Addrs(), time.Hour)
	if err := att.h.Connect(network.WithForceDirectDial(ctx, "test"), a.info()); err == nil {
		waitUntil(2*time.Second, func() bool { return a.m.Host().Network().Connectedness(att.h.ID()) != network.Connected })
		if a.m.Host().Network().Connectedness(att.h.ID()) == network.Connected {
			t.Fatal("the graylisted attacker reconnected and stayed")
		}
	}
	// Honest traffic goes on.
	id := post(t, b, "after the attacker left")
	eventually(t, 10*time.Second, "b's post reaches a", func() bool { return has(a, id) })
}

// TestGossipDropsAreCounted: messages and RPCs gossipsub drops before our
// validator sees them (a signature on an unsigned topic, an RPC over the
// size limit) used to be counted nowhere.
func TestGossipDropsAreCounted(t *testing.T) {
	a := newTestNode(t, "a", "maple-st")
	att := newGSAttacker(t)
	att.join(t, a.info(), []string{mesh.TopicName("maple-st", "feed"), mesh.TopicName("maple-st", "requests")})
	eventually(t, 5*time.Second, "a counts the attacker as a neighbor", func() bool { return a.m.IsNeighbor(att.h.ID()) })
	key, _, _ := crypto.GenerateEd25519Key(rand.Reader)
	topic := mesh.TopicName("maple-st", "feed")
	raw := sealEntry(t, key, entryOf(key, "maple-st", 1, "signed twice"))
	if err := att.write(a.m.ID(), &pubsubpb.RPC{Publish: []*pubsubpb.Message{{Data: raw, Topic: &topic, Signature: []byte("sig")}}}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "an unexpected signature is counted", func() bool {
		return a.m.Rejected("gossip_unexpected_signature") == 1
	})
	if has(a, record.IDOf(raw)) {
		t.Fatal("a stored a message with a gossipsub signature")
	}
	big := make([]byte, 300<<10)
	// The victim resets the stream as soon as it reads the length, so the
	// write itself may fail.
	_ = att.write(a.m.ID(), &pubsubpb.RPC{Publish: []*pubsubpb.Message{{Data: big, Topic: &topic}}})
	eventually(t, 10*time.Second, "an oversized RPC is counted", func() bool {
		return a.m.Rejected(mesh.ReasonOversizedRPC) == 1
	})
}

// TestValidRecordFloodIsBoundedPerPeer: one neighbor pushes valid records
// as fast as it can (the outside review measured 400 MB a minute of them).
// Records beyond the per-peer budget are ignored, and honest posts still
// flow.
func TestValidRecordFloodIsBoundedPerPeer(t *testing.T) {
	a := newTestNode(t, "a", "maple-st")
	b := newTestNode(t, "b", "maple-st")
	connect(t, a, b)
	eventually(t, 10*time.Second, "a and b are neighbors", func() bool { return isNeighbors(a, b) })
	att := newGSAttacker(t)
	att.join(t, a.info(), []string{mesh.TopicName("maple-st", "feed"), mesh.TopicName("maple-st", "requests")})
	eventually(t, 5*time.Second, "a counts the attacker as a neighbor", func() bool { return a.m.IsNeighbor(att.h.ID()) })

	const total = 1500
	topic := mesh.TopicName("maple-st", "feed")
	var raws [][]byte
	for i := range total {
		key, _, _ := crypto.GenerateEd25519Key(rand.Reader)
		raws = append(raws, sealEntry(t, key, entryOf(key, "maple-st", 1, fmt.Sprintf("valid flood %d", i))))
	}
	start := time.Now()
	for i := 0; i < total; i += 50 {
		rpc := &pubsubpb.RPC{}
		for _, raw := range raws[i:min(i+50, total)] {
			rpc.Publish = append(rpc.Publish, &pubsubpb.Message{Data: raw, Topic: &topic})
		}
		if err := att.write(a.m.ID(), rpc); err != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond) // 1,000 records a second
	}
	honest := post(t, b, "during the flood")
	eventually(t, 10*time.Second, "b's post reaches a during the flood", func() bool { return has(a, honest) })
	eventually(t, 10*time.Second, "a has handled the flood", func() bool {
		return a.m.Rejected(mesh.ReasonPeerRateLimited) > 0
	})
	time.Sleep(500 * time.Millisecond)
	elapsed := time.Since(start)
	stored := 0
	for _, raw := range raws {
		if has(a, record.IDOf(raw)) {
			stored++
		}
	}
	limit := mesh.PeerRecordBurst + int(elapsed.Seconds()*mesh.PeerRecordsPerSecond) + 20
	t.Logf("flood of %d valid records in %s: a stored %d (limit %d), ignored %.0f as over the peer's budget; gossipsub dropped %.0f (validation queue full)",
		total, elapsed.Round(time.Millisecond), stored, limit, a.m.Rejected(mesh.ReasonPeerRateLimited), a.m.Rejected("gossip_validation_queue_full"))
	if stored > limit {
		t.Errorf("a stored %d of the flood's records in %s, want ≤ %d", stored, elapsed, limit)
	}
	if s, ok := a.m.PeerScore(att.h.ID()); ok && s < 0 {
		t.Errorf("the flooder's score is %.1f: valid records over budget are ignored, not penalized", s)
	}
}
