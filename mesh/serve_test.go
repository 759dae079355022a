package mesh_test

import (
	"bufio"
	"context"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/encoding/protodelim"

	"github.com/porchlight-mesh/porchlight/mesh"
	meshpb "github.com/porchlight-mesh/porchlight/mesh/pb"
	"github.com/porchlight-mesh/porchlight/record"
	"github.com/porchlight-mesh/porchlight/record/pb"
)

// TestServedNeighborhoodIsRequestsOnly: a peer that claims a neighborhood
// this node serves for requests only (anyone can) gets none of the home
// neighborhood's logs, and what it sends that is not an agency's log (a
// home's post naming the home neighborhood: a stranger trying to get a
// home in) is refused, not stored.
func TestServedNeighborhoodIsRequestsOnly(t *testing.T) {
	reg := prometheus.NewRegistry()
	s := newTestNodeWith(t, "server", "maple-st", func(c *mesh.Config) {
		c.Serve = []mesh.Served{{Neighborhood: "oak-st"}}
		c.Registerer = reg
	})
	secret := post(t, s, "maple-st only")

	hkey, _, _ := crypto.GenerateEd25519Key(nil)
	home, _ := peer.IDFromPrivateKey(hkey)
	intruder, err := record.Seal(&pb.Entry{Author: []byte(home), Seq: 1, Created: time.Now().UnixMilli(), Neighborhood: "maple-st",
		Body: &pb.Entry_Post{Post: &pb.Post{Kind: "general", Text: "let me in"}}}, hkey)
	if err != nil {
		t.Fatal(err)
	}

	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	var mu sync.Mutex
	var asked []*meshpb.SyncRequest
	h.SetStreamHandler(mesh.SyncProtocol, func(st network.Stream) {
		defer st.Close()
		req := new(meshpb.SyncRequest)
		if err := (protodelim.UnmarshalOptions{MaxSize: 1 << 20}).UnmarshalFrom(bufio.NewReader(st), req); err != nil {
			st.Reset()
			return
		}
		mu.Lock()
		asked = append(asked, req)
		mu.Unlock()
		_, _ = protodelim.MarshalTo(st, &meshpb.SyncResponse{Neighborhood: req.GetNeighborhood(), Records: [][]byte{intruder.Raw}})
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.Connect(ctx, s.info()); err != nil {
		t.Fatal(err)
	}
	st, err := h.NewStream(ctx, s.m.ID(), mesh.SyncProtocol)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := protodelim.MarshalTo(st, &meshpb.SyncRequest{Neighborhood: "oak-st", Reciprocate: true}); err != nil {
		t.Fatal(err)
	}
	_ = st.CloseWrite()
	resp := new(meshpb.SyncResponse)
	if err := (protodelim.UnmarshalOptions{MaxSize: 64 << 20}).UnmarshalFrom(bufio.NewReader(st), resp); err != nil {
		t.Fatal(err)
	}
	st.Close()
	if resp.GetRefused() != "" || resp.GetNeighborhood() != "oak-st" || len(resp.GetRecords()) != 0 {
		t.Fatalf("answer to a peer of the served neighborhood: refused %q, neighborhood %q, %d records; want oak-st and no record",
			resp.GetRefused(), resp.GetNeighborhood(), len(resp.GetRecords()))
	}
	eventually(t, 10*time.Second, "the server pulls back, naming oak-st, requests only", func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, r := range asked {
			if r.GetNeighborhood() == "oak-st" && r.GetRequestsOnly() {
				return true
			}
		}
		return false
	})
	hs := s.m.Neighborhoods()
	if len(hs) != 2 || hs[1].Neighborhood != "oak-st" || len(hs[1].Peers) != 1 || hs[1].Peers[0] != h.ID() || len(hs[0].Peers) != 0 {
		t.Errorf("Neighborhoods = %+v", hs)
	}
	eventually(t, 10*time.Second, "the server refuses the post", func() bool {
		v, _ := gather(t, reg, "porchlight_records_rejected_total", map[string]string{"reason": string(record.ReasonNeighborhood)})
		return v >= 1
	})
	if has(s, intruder.ID) {
		t.Fatal("the server stored a home's post sent by a peer of the served neighborhood")
	}
	if !has(s, secret) {
		t.Fatal("the server lost its own post")
	}
}

// closedRoster is an invite-only neighborhood's Membership with nobody in
// it but the node itself: every other peer is a Stranger.
type closedRoster struct{ self peer.ID }

func (closedRoster) Owns([]byte) bool                               { return false }
func (closedRoster) IngestDoc([]byte) (bool, error)                 { return false, nil }
func (closedRoster) DocIDs() ([]record.ID, error)                   { return nil, nil }
func (closedRoster) DocsNotIn(map[record.ID]bool) ([][]byte, error) { return nil, nil }
func (closedRoster) Proof() [][]byte                                { return nil }
func (closedRoster) Join(context.Context, peer.ID) error            { return nil }
func (r closedRoster) Standing(p peer.ID) mesh.Standing {
	if p == r.self {
		return mesh.Member
	}
	return mesh.Stranger
}

// syncRound sends one sync request from h to p and returns the answer.
func syncRound(t *testing.T, h interface {
	NewStream(context.Context, peer.ID, ...protocol.ID) (network.Stream, error)
}, p peer.ID, req *meshpb.SyncRequest) (*meshpb.SyncResponse, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := h.NewStream(ctx, p, mesh.SyncProtocol)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	if _, err := protodelim.MarshalTo(st, req); err != nil {
		return nil, err
	}
	_ = st.CloseWrite()
	resp := new(meshpb.SyncResponse)
	if err := (protodelim.UnmarshalOptions{MaxSize: 64 << 20}).UnmarshalFrom(bufio.NewReader(st), resp); err != nil {
		return nil, err
	}
	return resp, nil
}

// TestServedNeighborhoodGrantsNothingAtHome: a peer let in as one of a
// served neighborhood (no proof needed there) must still prove itself to
// be let into the node's own invite-only neighborhood.
func TestServedNeighborhoodGrantsNothingAtHome(t *testing.T) {
	key, _, _ := crypto.GenerateEd25519Key(nil)
	self, _ := peer.IDFromPrivateKey(key)
	s := newTestNodeWith(t, "server", "maple-st", func(c *mesh.Config) {
		c.Key = key
		c.Membership = closedRoster{self}
		c.Serve = []mesh.Served{{Neighborhood: "oak-st"}}
	})
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if err := h.Connect(context.Background(), s.info()); err != nil {
		t.Fatal(err)
	}
	if resp, err := syncRound(t, h, s.m.ID(), &meshpb.SyncRequest{Neighborhood: "oak-st"}); err != nil || resp.GetRefused() != "" || resp.GetNeighborhood() != "oak-st" {
		t.Fatalf("as oak-st: %v, refused %q, neighborhood %q", err, resp.GetRefused(), resp.GetNeighborhood())
	}
	// Refused: told so, or cut off as the connection closes.
	if resp, err := syncRound(t, h, s.m.ID(), &meshpb.SyncRequest{Neighborhood: "maple-st"}); err == nil && resp.GetRefused() == "" {
		t.Fatalf("a peer of oak-st without proof was let into invite-only maple-st: %d records", len(resp.GetRecords()))
	}
	eventually(t, 10*time.Second, "the refused peer is no neighbor", func() bool { return !s.m.IsNeighbor(h.ID()) })
}
