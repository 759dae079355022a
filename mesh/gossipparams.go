package mesh

import (
	pubsub "github.com/libp2p/go-libp2p-pubsub"
)

// GossipSubParams returns the gossipsub parameters a node runs with:
// go-libp2p-pubsub's defaults except where the scale simulation
// (mesh/scalesim, TestGossipTune; docs/benchmarks.md, "gossiptune,
// 2026-12-03 evening") measured better. Figures are at 100 simulated homes
// with 8–12 neighbors each (mean 11.5), 20 posts of ~300 B; "wire" is UDP
// bytes per delivered post per home as a multiple of the record's size.
//
// With the defaults a home's mesh held 9 of its 11.5 neighbors (it grafts
// D = 6 and accepts grafts up to Dhi = 12), so it received each post 8.2
// times (7.2 duplicates): 9.2× the record in gossipsub messages alone,
// 11.8× on the wire. Every mesh link carries a post about once (a home
// forwards to its mesh but the sender), so the copies a home receives are
// about its mesh size less one: the bytes are set by D and Dhi.
func GossipSubParams() pubsub.GossipSubParams {
	p := pubsub.DefaultGossipSubParams()
	// D 4, Dlo 4, Dhi 4: a mesh of 3.7 neighbors on average, 2.9 copies
	// of a post a home, gossipsub's bytes 3.9× the record (the default's
	// 10×), wire 4.65× at 100 homes (p99 81 ms). The default (6/5/12) kept
	// a mesh of 9 and 8.2 copies. Dhi 4: grafts beyond 4 are refused,
	// which is what keeps the mesh near D (the default's Dhi 12 let meshes
	// grow to 9 of 11.5 neighbors). Dlo 4 (= D): a home below 4 mesh peers
	// grafts more at every heartbeat, so on a small street (a home with 4
	// neighbors or fewer) every neighbor is in its mesh both ways, as with
	// the default's Dlo 5. With Dlo 2 (4/2/4: 3.9–4.4×, 2.6 copies, 300
	// homes 5.1×, p99 120 ms), the mesh test
	// TestInvalidFloodGraylistsAttackerAndHonestPostsFlow (a ring of 4) failed its honest p99 under attack in 3 of 7
	// runs (71–161 ms, limit 60 ms; D 3 or 4), against none of 6 with the
	// defaults and none of 4 with Dlo 4 (under a varying machine load).
	// The likely cause, not verified: a GRAFT a home ignores (sent before
	// its handshake completed, when the peer filter refuses it) leaves the
	// link in the grafter's mesh only, and a home at Dlo never grafts it
	// back, so posts cross that link one way and the other way waits for
	// IHAVE gossip. D 3 (3/2/4: 3.3×, 1.9 copies) also left homes with one
	// mesh peer, was slower (p99 180 ms at 300 homes) and forces Dout to 0
	// (below D/2). A smaller mesh is slower, hops of a link latency each,
	// far inside the goal (8 links + 1 heartbeat, 1.16 s). The floor, a
	// post crossing each home's link once, is about 1.3× (the record, its
	// topic and framing, QUIC's header and ACK).
	p.D, p.Dlo, p.Dhi = 4, 4, 4
	// Dscore 2: when an oversubscribed mesh (over Dhi) is pruned back to
	// D, the 2 best-scoring peers are kept and the others chosen at random
	// (the default keeps 4 of 6). Dout 1 (must be below Dlo and D/2): at
	// least one mesh peer this home dialled survives a prune, so peers
	// that dialled it cannot fill its mesh.
	p.Dscore, p.Dout = 2, 1
	// Dlazy 2 (default 6): IHAVE gossip to at least 2 peers outside the
	// mesh a heartbeat. With a small mesh a home has 8–9 peers outside it,
	// and at Dlazy 6 IHAVE (an ID of 32 bytes a post, advertised for
	// HistoryGossip = 3 heartbeats) cost 2.1× the record per delivered post
	// (D 3 and D 4, Dlo 3, Dhi 5 alike); at Dlazy 2 it costs 0.7×. Gossip is
	// what repairs a post a mesh peer did not forward, within a heartbeat;
	// sync is the slower backstop. GossipFactor (0.25 of the peers outside
	// the mesh) and HistoryGossip (3) stay: they are what reaches an
	// anchor's members outside its mesh (a star of 200 homes whose only
	// gossip peer is the anchor), where 0.25 × ~196 peers is far above
	// Dlazy.
	p.Dlazy = 2
	// IDontWantMessageThreshold stays 1 KiB (IDONTWANT is never sent for
	// our ~300 B posts): sent for every message (threshold 1 B) it cost
	// 0.2× the record in control bytes and saved 0.1 copy (with D 3, Dlo 2,
	// Dhi 4: wire 3.42× against 3.31×); with equal link latencies the
	// duplicates it could cancel are already in flight when it arrives.
	//
	// HeartbeatInterval stays 1 s: the goal's p99 allows one heartbeat for
	// gossip's repair, and a heartbeat does not change the bytes of a post
	// (IHAVE is per post, for HistoryGossip heartbeats).
	//
	// Flood publishing is on (gossipOptions; go-libp2p-pubsub v0.19.0
	// leaves it off): a node's own record goes to every neighbor, not only
	// to its mesh. An agency connected to a few homes whose meshes are full
	// (Dhi 4) has no mesh of its own, and without flooding its request
	// waited for the next heartbeat's gossip: 1.0-1.7 s to 40 homes in
	// TestScenarios/request against 0.1-0.2 s with it. It costs 0.3× the
	// record (4.36× against 4.04× at 100 homes with D 4, Dlo 2, Dhi 4)
	// and saves a hop. Flooding picks peers by score alone, past the peer
	// filter; wireGate keeps it to what each peer's standing allows.
	//
	// Gossipsub's peer exchange on PRUNE stays off (pubsub's default): a
	// node learns peers from its neighbors' address books (PeersProtocol),
	// which only members may ask.
	return p
}

// gossipOptions sets the node's gossipsub parameters, then applies extra
// (Config.PubSubOptions, for simulations) so that they can override them.
func gossipOptions(extra []pubsub.Option) pubsub.Option {
	return func(ps *pubsub.PubSub) error {
		if err := pubsub.WithGossipSubParams(GossipSubParams())(ps); err != nil {
			return err
		}
		if err := pubsub.WithFloodPublish(true)(ps); err != nil {
			return err
		}
		for _, o := range extra {
			if err := o(ps); err != nil {
				return err
			}
		}
		return nil
	}
}
