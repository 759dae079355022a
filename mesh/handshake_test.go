package mesh_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pubsubpb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"google.golang.org/protobuf/encoding/protodelim"

	"github.com/porchlight-mesh/porchlight/mesh"
	meshpb "github.com/porchlight-mesh/porchlight/mesh/pb"
	"github.com/porchlight-mesh/porchlight/record"
)

// The tests of the neighborhood handshake play strangers with real libp2p
// hosts: plain gossipsub clients that never speak /porchlight/sync/1, and
// nodes of another neighborhood that keep reconnecting.

// handshake does what a neighbor does first: one sync round naming the
// neighborhood. The victim learns from the request that we are of its
// neighborhood; we read and discard its answer.
func handshake(t *testing.T, h host.Host, victim peer.ID, nb string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := h.NewStream(ctx, victim, mesh.SyncProtocol)
	if err != nil {
		t.Fatalf("open sync stream: %v", err)
	}
	defer st.Close()
	if _, err := protodelim.MarshalTo(st, &meshpb.SyncRequest{Neighborhood: nb}); err != nil {
		t.Fatalf("send sync request: %v", err)
	}
	if err := st.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	resp := new(meshpb.SyncResponse)
	if err := (protodelim.UnmarshalOptions{MaxSize: 64 << 20}).UnmarshalFrom(bufio.NewReader(st), resp); err != nil {
		t.Fatalf("read sync response: %v", err)
	}
	if resp.GetRefused() != "" {
		t.Fatalf("handshake refused: %s", resp.GetRefused())
	}
}

// stranger is a plain gossipsub client that subscribes to a
// neighborhood's feed and records what it receives. It is unsigned and
// takes messages with or without author fields, so it reads what any
// Porchlight release sends.
type stranger struct {
	h     host.Host
	topic *pubsub.Topic

	mu  sync.Mutex
	got []*pubsub.Message
}

func newStranger(t *testing.T, nb string, opts ...pubsub.Option) *stranger {
	t.Helper()
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	opts = append([]pubsub.Option{pubsub.WithMessageSignaturePolicy(pubsub.StrictNoSign),
		pubsub.WithMessageIdFn(hashID), pubsub.WithLogger(quiet.With("who", "stranger"))}, opts...)
	ps, err := pubsub.NewGossipSub(ctx, h, opts...)
	if err != nil {
		t.Fatal(err)
	}
	topic, err := ps.Join(mesh.TopicName(nb, "feed"))
	if err != nil {
		t.Fatal(err)
	}
	sub, err := topic.Subscribe()
	if err != nil {
		t.Fatal(err)
	}
	s := &stranger{h: h, topic: topic}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			msg, err := sub.Next(ctx)
			if err != nil {
				return
			}
			if msg.ReceivedFrom == h.ID() {
				continue
			}
			s.mu.Lock()
			s.got = append(s.got, msg)
			s.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		sub.Cancel()
		topic.Close()
		cancel()
		wg.Wait()
		h.Close()
	})
	return s
}

func hashID(pm *pubsubpb.Message) string {
	id := record.IDOf(pm.Data)
	return string(id[:])
}

func (s *stranger) received(id record.ID) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range s.got {
		if record.IDOf(m.Data) == id {
			return true
		}
	}
	return false
}

func (s *stranger) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.got)
}

func (s *stranger) connect(t *testing.T, n *testNode) {
	t.Helper()
	if err := s.h.Connect(context.Background(), n.info()); err != nil {
		t.Fatal(err)
	}
}

// seesOnTopic reports whether the stranger has seen n's subscription.
func (s *stranger) seesOnTopic(n *testNode) bool {
	for _, p := range s.topic.ListPeers() {
		if p == n.m.ID() {
			return true
		}
	}
	return false
}

func isNeighbors(a, b *testNode) bool {
	return a.m.IsNeighbor(b.m.ID()) && b.m.IsNeighbor(a.m.ID())
}

// TestStrangerWithoutHandshakeGetsNoFeed: a plain gossipsub client that
// never does the neighborhood handshake subscribes to the feed topic. It
// must receive none of the neighborhood's posts, its own valid posts must
// not be stored or relayed, and it must be disconnected within seconds.
func TestStrangerWithoutHandshakeGetsNoFeed(t *testing.T) {
	a := newTestNode(t, "a", "maple-st")
	b := newTestNode(t, "b", "maple-st")
	connect(t, a, b)
	eventually(t, 10*time.Second, "a and b complete the handshake", func() bool { return isNeighbors(a, b) })

	s := newStranger(t, "maple-st")
	s.connect(t, a)
	connectedAt := time.Now()
	eventually(t, 10*time.Second, "the stranger sees a's subscription", func() bool { return s.seesOnTopic(a) })
	if a.m.IsNeighbor(s.h.ID()) {
		t.Fatal("a counts the stranger as a neighbor")
	}

	// Two heartbeats: the stranger's GRAFT and a's own mesh upkeep would
	// have put it in a's topic mesh by now.
	time.Sleep(2 * time.Second)

	// The neighborhood's posts reach b and never the stranger.
	var ids []record.ID
	for i := range 5 {
		id := post(t, a, fmt.Sprintf("live post %d", i))
		ids = append(ids, id)
		eventually(t, 10*time.Second, "post reaches b", func() bool { return has(b, id) })
		time.Sleep(200 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond) // let any stray delivery land
	if n := s.count(); n != 0 {
		t.Errorf("the stranger received %d of %d posts without a handshake", n, len(ids))
	}

	// The stranger's own valid posts are neither stored nor relayed.
	key, _, _ := crypto.GenerateEd25519Key(rand.Reader)
	mine := sealEntry(t, key, entryOf(key, "maple-st", 1, "from outside"))
	for range 10 {
		if err := s.topic.Publish(context.Background(), mine); err != nil {
			break // disconnected already: nothing to publish to
		}
		time.Sleep(100 * time.Millisecond)
	}
	if has(a, record.IDOf(mine)) || has(b, record.IDOf(mine)) {
		t.Error("the stranger's post was stored (a or b) without a handshake")
	}

	// Disconnected within a few seconds.
	took := eventually(t, 20*time.Second, "a disconnects the stranger", func() bool {
		return a.m.Host().Network().Connectedness(s.h.ID()) != network.Connected
	})
	t.Logf("stranger disconnected %s after connecting (%s after the posts)", time.Since(connectedAt).Round(time.Millisecond), took.Round(time.Millisecond))
	if d := time.Since(connectedAt); d > 15*time.Second {
		t.Errorf("the stranger stayed connected %s", d)
	}

	// Honest nodes still converge both ways.
	id := post(t, b, "still flowing")
	eventually(t, 10*time.Second, "b's post reaches a", func() bool { return has(a, id) })
}

// TestLateHandshakeGetsFeed: a peer that subscribed before it completed
// the handshake gets traffic from then on, although gossipsub saw its
// subscription while it was still a stranger.
func TestLateHandshakeGetsFeed(t *testing.T) {
	a := newTestNode(t, "a", "maple-st")
	s := newStranger(t, "maple-st")
	s.connect(t, a)
	eventually(t, 10*time.Second, "the stranger sees a's subscription", func() bool { return s.seesOnTopic(a) })
	time.Sleep(2 * time.Second) // two heartbeats: meshes formed
	early := post(t, a, "before the handshake")
	time.Sleep(300 * time.Millisecond)
	if s.received(early) {
		t.Fatal("the peer received a post before its handshake")
	}
	handshake(t, s.h, a.m.ID(), "maple-st")
	eventually(t, 5*time.Second, "a counts the peer as a neighbor", func() bool { return a.m.IsNeighbor(s.h.ID()) })
	var last record.ID
	eventually(t, 15*time.Second, "a post after the handshake reaches the peer", func() bool {
		if !last.IsZero() && s.received(last) {
			return true
		}
		last = post(t, a, "after the handshake")
		time.Sleep(200 * time.Millisecond)
		return s.received(last)
	})
	// And its posts are taken.
	key, _, _ := crypto.GenerateEd25519Key(rand.Reader)
	mine := sealEntry(t, key, entryOf(key, "maple-st", 1, "from a new neighbor"))
	eventually(t, 10*time.Second, "a stores the new neighbor's post", func() bool {
		_ = s.topic.Publish(context.Background(), mine)
		time.Sleep(100 * time.Millisecond)
		return has(a, record.IDOf(mine))
	})
}

// countingHandler counts log records at or above a level whose message or
// an attribute's value contains a substring.
type countingHandler struct {
	slog.Handler
	level slog.Level
	sub   string
	n     *atomic.Int64
}

func (h countingHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.level || h.Handler.Enabled(ctx, l)
}

func (h countingHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level >= h.level {
		hit := strings.Contains(r.Message, h.sub)
		r.Attrs(func(a slog.Attr) bool {
			hit = hit || strings.Contains(a.Value.String(), h.sub)
			return !hit
		})
		if hit {
			h.n.Add(1)
		}
	}
	if h.Handler.Enabled(ctx, r.Level) {
		return h.Handler.Handle(ctx, r)
	}
	return nil
}

func (h countingHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return countingHandler{h.Handler.WithAttrs(as), h.level, h.sub, h.n}
}

func (h countingHandler) WithGroup(g string) slog.Handler {
	return countingHandler{h.Handler.WithGroup(g), h.level, h.sub, h.n}
}

// TestOtherNeighborhoodCannotReconnectInALoop: a node of another
// neighborhood dials again as soon as it is dropped. Each connection used
// to cost a sync round and an INFO line (100 reconnects in 28 s); the
// refused peer is now gated for a while and logged once.
func TestOtherNeighborhoodCannotReconnectInALoop(t *testing.T) {
	oak := newTestNode(t, "oak", "oak-ave")
	var infos atomic.Int64
	log := slog.New(countingHandler{quiet.Handler(), slog.LevelInfo, oak.m.ID().String(), &infos})
	a := newTestNodeWith(t, "maple", "maple-st", func(c *mesh.Config) { c.Logger = log })
	connects := 0
	deadline := time.Now().Add(8 * time.Second)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err := oak.m.Host().Connect(ctx, a.info())
		cancel()
		if err == nil {
			connects++
			// Wait until one side hangs up, as a static peer's redial would.
			waitUntil(5*time.Second, func() bool {
				return oak.m.Host().Network().Connectedness(a.m.ID()) != network.Connected
			})
		} else {
			time.Sleep(50 * time.Millisecond)
		}
		oak.m.Host().Network().Peerstore().RemovePeer(a.m.ID())
		oak.m.Host().Peerstore().AddAddrs(a.m.ID(), a.m.Host().Addrs(), time.Hour)
	}
	t.Logf("the other neighborhood's node got %d connections in 8 s; a logged %d INFO lines about it", connects, infos.Load())
	if connects > 3 {
		t.Errorf("the other neighborhood's node connected %d times in 8 s, want ≤ 3 (backed off after the refusal)", connects)
	}
	if n := infos.Load(); n > 1 {
		t.Errorf("a logged %d INFO lines about the refused peer, want one", n)
	}
	if ps := a.m.Peers(); len(ps) != 0 {
		t.Errorf("a lists %v as neighbors", ps)
	}
}

func waitUntil(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if cond() {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return cond()
}

// TestGossipCarriesNoAuthorFields reads a node's gossipsub RPCs off the
// wire: no message may carry from, seqno, a key or a signature (a client
// configured as docs/protocol.md says would reject it).
func TestGossipCarriesNoAuthorFields(t *testing.T) {
	a := newTestNode(t, "a", "maple-st")
	att := newGSAttacker(t)
	att.keepMessages = true
	topics := []string{mesh.TopicName("maple-st", "feed"), mesh.TopicName("maple-st", "requests")}
	att.join(t, a.info(), topics)
	handshake(t, att.h, a.m.ID(), "maple-st")
	var want record.ID
	eventually(t, 15*time.Second, "a's post reaches the wire reader", func() bool {
		want = post(t, a, "read me off the wire")
		time.Sleep(200 * time.Millisecond)
		for _, m := range att.messages() {
			if record.IDOf(m.GetData()) == want {
				return true
			}
		}
		return false
	})
	for _, m := range att.messages() {
		if m.From != nil || m.Seqno != nil || m.Key != nil || m.Signature != nil {
			t.Fatalf("message on the wire carries author fields: from=%x seqno=%x key=%d bytes signature=%d bytes",
				m.From, m.Seqno, len(m.Key), len(m.Signature))
		}
	}
}

// TestPreviousReleaseInterop: a node of the previous release (gossipsub
// StrictNoSign with author fields on, as Porchlight published until now)
// and a new node share the feed both ways, and the new node does not
// penalize the old one for its author fields.
func TestPreviousReleaseInterop(t *testing.T) {
	a := newTestNode(t, "a", "maple-st")
	old := newLegacyPeer(t, "maple-st")
	old.connect(t, a)
	handshake(t, old.h, a.m.ID(), "maple-st")
	eventually(t, 10*time.Second, "the old node sees a on the topic", func() bool { return old.seesOnTopic(a) })

	// Two heartbeats for the topic meshes to form: right after two peers
	// meet, gossipsub has no mesh peer to publish to.
	time.Sleep(2 * time.Second)
	var sent []record.ID
	for i := range 10 {
		key, _, _ := crypto.GenerateEd25519Key(rand.Reader)
		raw := sealEntry(t, key, entryOf(key, "maple-st", 1, fmt.Sprintf("old release %d", i)))
		sent = append(sent, record.IDOf(raw))
		if err := old.topic.Publish(context.Background(), raw); err != nil {
			t.Fatalf("old node publishes: %v", err)
		}
	}
	eventually(t, 10*time.Second, "a stores the old node's posts", func() bool {
		for _, id := range sent {
			if !has(a, id) {
				return false
			}
		}
		return true
	})
	if s, ok := a.m.PeerScore(old.h.ID()); ok && s < 0 {
		t.Errorf("a scores the old node %.1f for its author fields, want ≥ 0", s)
	}
	var last record.ID
	eventually(t, 15*time.Second, "a's post reaches the old node", func() bool {
		if !last.IsZero() && old.received(last) {
			return true
		}
		last = post(t, a, "to the previous release")
		time.Sleep(200 * time.Millisecond)
		return old.received(last)
	})
}

// newLegacyPeer is a gossipsub client configured as Porchlight's previous
// release: unsigned, but with from and seqno.
func newLegacyPeer(t *testing.T, nb string) *stranger {
	t.Helper()
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ps, err := pubsub.NewGossipSub(ctx, h, pubsub.WithMessageSignaturePolicy(pubsub.StrictNoSign),
		pubsub.WithMessageIdFn(hashID), pubsub.WithLogger(quiet.With("who", "legacy")))
	if err != nil {
		t.Fatal(err)
	}
	topic, err := ps.Join(mesh.TopicName(nb, "feed"))
	if err != nil {
		t.Fatal(err)
	}
	sub, err := topic.Subscribe()
	if err != nil {
		t.Fatal(err)
	}
	s := &stranger{h: h, topic: topic}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			msg, err := sub.Next(ctx)
			if err != nil {
				return
			}
			s.mu.Lock()
			s.got = append(s.got, msg)
			s.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		sub.Cancel()
		topic.Close()
		cancel()
		wg.Wait()
		h.Close()
	})
	return s
}
