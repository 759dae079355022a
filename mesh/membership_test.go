package mesh_test

import (
	"bufio"
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"google.golang.org/protobuf/encoding/protodelim"

	"github.com/porchlight-mesh/porchlight/mesh"
	meshpb "github.com/porchlight-mesh/porchlight/mesh/pb"
	"github.com/porchlight-mesh/porchlight/record"
)

// roster is a Membership whose standings are set by the test (package
// member's real one is tested with the node).
type roster struct {
	mu sync.Mutex
	st map[peer.ID]mesh.Standing
}

func newRoster() *roster { return &roster{st: map[peer.ID]mesh.Standing{}} }

func (r *roster) set(p peer.ID, s mesh.Standing) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.st[p] = s
}

func (r *roster) Owns([]byte) bool                               { return false }
func (r *roster) IngestDoc([]byte) (bool, error)                 { return false, nil }
func (r *roster) DocIDs() ([]record.ID, error)                   { return nil, nil }
func (r *roster) DocsNotIn(map[record.ID]bool) ([][]byte, error) { return nil, nil }
func (r *roster) Proof() [][]byte                                { return nil }
func (r *roster) Join(context.Context, peer.ID) error            { return nil }
func (r *roster) Standing(p peer.ID) mesh.Standing {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.st[p]
}

func withRoster(r *roster) func(*mesh.Config) {
	return func(c *mesh.Config) { c.Membership = r }
}

// TestNonMemberIsRefusedAtTheHandshake: a node that knows the
// neighborhood (its ID is in its config) but is not on the roster is
// disconnected within a second of connecting, and receives no feed
// record, by gossip or by sync.
func TestNonMemberIsRefusedAtTheHandshake(t *testing.T) {
	r := newRoster()
	a := newTestNodeWith(t, "a", "maple-st", withRoster(r))
	b := newTestNodeWith(t, "b", "maple-st", withRoster(r))
	r.set(a.m.ID(), mesh.Member)
	r.set(b.m.ID(), mesh.Member)
	connect(t, a, b)
	eventually(t, 10*time.Second, "members a and b are neighbors", func() bool { return isNeighbors(a, b) })
	id := post(t, a, "members only")
	eventually(t, 10*time.Second, "b has a's post", func() bool { return has(b, id) })

	outsider := newTestNodeWith(t, "outsider", "maple-st", withRoster(r))
	start := time.Now()
	connect(t, outsider, a)
	d := eventually(t, 5*time.Second, "a disconnects the outsider", func() bool {
		return a.m.Host().Network().Connectedness(outsider.m.ID()) != network.Connected
	})
	if d > time.Second {
		t.Errorf("outsider disconnected after %v, want within 1 s", time.Since(start))
	}
	post(t, a, "still members only")
	if a.m.IsNeighbor(outsider.m.ID()) || outsider.m.IsNeighbor(a.m.ID()) {
		t.Error("outsider became a neighbor")
	}
	// Nothing of a's (or b's) log reached the outsider.
	for _, who := range []*testNode{a, b} {
		if h, err := outsider.db.Head(who.m.ID()); err != nil || h.Max != 0 {
			t.Errorf("outsider holds %d records of %s's log (err %v)", h.Max, who.name, err)
		}
	}
	// A raw handshake naming the neighborhood is refused with the reason.
	s := newStranger(t, "maple-st")
	s.connect(t, b)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := rawHandshake(ctx, s.h, b.m.ID(), "maple-st")
	if err == nil && !strings.Contains(resp.GetRefused(), "not a member") {
		t.Errorf("handshake answer %q, want a refusal naming membership", resp.GetRefused())
	}
	if n := len(resp.GetRecords()) + len(resp.GetDocs()); n != 0 {
		t.Errorf("refused stranger got %d records and documents", n)
	}
	if s.count() != 0 {
		t.Errorf("stranger received %d feed messages", s.count())
	}
}

// TestAgencyGetsNoFeed: a peer with agency standing completes the
// handshake but is never sent a member's log or a feed message, while its
// own log reaches the members.
func TestAgencyGetsNoFeed(t *testing.T) {
	r := newRoster()
	a := newTestNodeWith(t, "a", "maple-st", withRoster(r))
	ag := newTestNodeWith(t, "agency", "maple-st", withRoster(r))
	r.set(a.m.ID(), mesh.Member)
	r.set(ag.m.ID(), mesh.Agency)
	id := post(t, a, "for neighbors only")
	connect(t, ag, a)
	eventually(t, 10*time.Second, "a and the agency complete the handshake", func() bool { return isNeighbors(a, ag) })
	// The agency's profile (its log) reaches a by sync.
	eventually(t, 10*time.Second, "a holds the agency's log", func() bool {
		h, err := a.db.Head(ag.m.ID())
		return err == nil && h.Max > 0
	})
	id2 := post(t, a, "posted while the agency is connected")
	a.m.RecheckPeers()
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		if has(ag, id) || has(ag, id2) {
			t.Fatal("the agency received a feed record")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if h, err := ag.db.Head(a.m.ID()); err != nil || h.Max != 0 {
		t.Errorf("agency holds %d records of a member's log (err %v)", h.Max, err)
	}
	for _, p := range a.m.Peers() {
		if p.ID == ag.m.ID() && p.Standing != mesh.Agency {
			t.Errorf("agency listed with standing %v", p.Standing)
		}
	}
}

// TestRemovedMemberIsDisconnected: when the roster drops a neighbor,
// RecheckPeers disconnects it and it is refused from then on.
func TestRemovedMemberIsDisconnected(t *testing.T) {
	r := newRoster()
	a := newTestNodeWith(t, "a", "maple-st", withRoster(r))
	b := newTestNodeWith(t, "b", "maple-st", withRoster(r))
	r.set(a.m.ID(), mesh.Member)
	r.set(b.m.ID(), mesh.Member)
	connect(t, a, b)
	eventually(t, 10*time.Second, "neighbors", func() bool { return isNeighbors(a, b) })
	r.set(b.m.ID(), mesh.Stranger)
	a.m.RecheckPeers()
	eventually(t, 2*time.Second, "a closes b's connections", func() bool {
		return a.m.Host().Network().Connectedness(b.m.ID()) != network.Connected
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := b.m.Connect(ctx, a.info()); err == nil {
		// The gater refuses at the security handshake; a connection that
		// got through is closed again at once.
		eventually(t, 2*time.Second, "the removed member stays out", func() bool {
			return !a.m.IsNeighbor(b.m.ID())
		})
	}
}

// rawHandshake sends one sync request naming nb and returns the answer.
func rawHandshake(ctx context.Context, h host.Host, victim peer.ID, nb string) (*meshpb.SyncResponse, error) {
	st, err := h.NewStream(ctx, victim, mesh.SyncProtocol)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	if _, err := protodelim.MarshalTo(st, &meshpb.SyncRequest{Neighborhood: nb}); err != nil {
		return nil, err
	}
	if err := st.CloseWrite(); err != nil {
		return nil, err
	}
	resp := new(meshpb.SyncResponse)
	err = (protodelim.UnmarshalOptions{MaxSize: 64 << 20}).UnmarshalFrom(bufio.NewReader(st), resp)
	return resp, err
}

// provingRoster is a roster whose members' proofs are real bytes, so a
// test can see where they go.
type provingRoster struct{ *roster }

var testProof = []byte("PROOF: the charter and an admission naming members")

func (r provingRoster) Proof() [][]byte { return [][]byte{testProof} }

// TestStrangerThatDialsGetsNoProof: a member speaks second to a peer that
// dialled it. A stranger that connects and waits receives no sync request
// (which would carry the member's proof: members' IDs and names), and is
// disconnected once its handshake time is up.
func TestStrangerThatDialsGetsNoProof(t *testing.T) {
	r := newRoster()
	a := newTestNodeWith(t, "a", "maple-st", func(c *mesh.Config) {
		c.Membership = provingRoster{r}
		c.HandshakeTimeout = time.Second
	})
	r.set(a.m.ID(), mesh.Member)
	s := newStranger(t, "maple-st")
	var mu sync.Mutex
	var got [][]byte
	s.h.SetStreamHandler(mesh.SyncProtocol, func(st network.Stream) {
		defer st.Close()
		req := new(meshpb.SyncRequest)
		if err := (protodelim.UnmarshalOptions{MaxSize: 1 << 20}).UnmarshalFrom(bufio.NewReader(st), req); err == nil {
			mu.Lock()
			got = append(got, req.GetProof()...)
			got = append(got, []byte(req.GetNeighborhood()))
			mu.Unlock()
		}
	})
	s.connect(t, a)
	eventually(t, 10*time.Second, "a disconnects the silent stranger", func() bool {
		return a.m.Host().Network().Connectedness(s.h.ID()) != network.Connected
	})
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 0 {
		t.Fatalf("the stranger received a sync request from the member: %q", got)
	}
}
