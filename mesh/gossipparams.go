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
	// D 4, Dlo 2, Dhi 4: a mesh of 3.4 neighbors on average (3.5 at 300
	// homes), 2.6 copies of a post a home (2.5), gossipsub's bytes 3.6× the
	// record (the default's 10×), wire 4.2–4.4× at 100 homes (p99 100 ms, 5
	// hops; 300 homes: p99 120 ms). The default (6/5/12) kept 9 and 8.2
	// copies; D 4, Dlo 3, Dhi 5 3.7 and 2.9. D 3, Dlo 2, Dhi 4 was
	// cheaper (mesh 2.6, 1.9 copies, wire 3.3× at 100 homes) but left
	// homes with a single mesh peer (min 1 in every run; D 4, Dlo 2 never
	// fell below 2), was slower (p99 180 ms at 300 homes) and forces
	// Dout to 0 (below D/2). Dlo 2: a home with 2 mesh peers does not
	// seek more (Dlo 3 kept more copies for no measured gain), but never
	// settles for 1. Dhi 4: grafts beyond 4 are refused, which is what
	// keeps the mesh near D (the default's Dhi 12 let meshes grow to 9 of
	// 11.5 neighbors). A smaller mesh is slower, hops of a link latency
	// each, far inside the goal (8 links + 1 heartbeat, 1.16 s). The
	// floor, a post crossing each home's link once, is about 1.3× (the
	// record, its topic and framing, QUIC's header and ACK).
	p.D, p.Dlo, p.Dhi = 4, 2, 4
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
	// Flood publishing (pubsub's default, on) is not set here: a home's own
	// post goes to all its neighbors, not only its mesh; off, it saved 0.3×
	// at 100 homes (4.04× against 4.36×) and cost a hop (p99 120 ms
	// against 100 ms).
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
		for _, o := range extra {
			if err := o(ps); err != nil {
				return err
			}
		}
		return nil
	}
}
