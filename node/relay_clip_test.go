package node_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	ma "github.com/multiformats/go-multiaddr"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/porchlight-mesh/porchlight/api"
	"github.com/porchlight-mesh/porchlight/clips"
	"github.com/porchlight-mesh/porchlight/mesh"
	"github.com/porchlight-mesh/porchlight/node"
	"github.com/porchlight-mesh/porchlight/record"
)

// TestClipOverRelayOnly: two homes joined only through an anchor's relay.
// A clip within the anchor's limit crosses the relayed path byte-exact; one
// over it is refused before its bytes move, with the words the CLI and the
// UI show ("no direct path to NAME; its NAT ..."), never a timeout.
func TestClipOverRelayOnly(t *testing.T) {
	anchorDir, ownerDir, neighborDir := initDir(t, "Maple St anchor"), initDir(t, "12 Maple St"), initDir(t, "14 Maple St")
	anchor, err := node.Start(node.Options{Dir: anchorDir, DisableMDNS: true, Logger: quiet, Anchor: true})
	if err != nil {
		t.Fatal(err)
	}
	defer anchor.Close()
	anchorAddr := anchor.Mesh().Addrs()[0].String()
	for _, d := range []string{ownerDir, neighborDir} {
		if _, err := node.AddAnchor(d, anchorAddr); err != nil {
			t.Fatal(err)
		}
	}
	owner := start(t, ownerDir)
	defer owner.Close()
	if len(owner.Mesh().Network().Anchors) == 0 {
		t.Skip("needs the traversal work: the mesh knows no anchors (mesh.Network is the interface's stub)")
	}
	neighbor := start(t, neighborDir)
	defer neighbor.Close()
	for _, n := range []*node.Node{owner, neighbor} {
		pollUntil(t, 20*time.Second, "a relay reservation with the anchor", func() bool {
			for _, a := range n.Status().Anchors {
				if a.Reservation {
					return true
				}
			}
			return false
		})
	}
	circuit, err := ma.NewMultiaddr(anchorAddr + "/p2p-circuit/p2p/" + owner.ID().String())
	if err != nil {
		t.Fatal(err)
	}
	ai, err := peer.AddrInfoFromP2pAddr(circuit)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := neighbor.Mesh().Connect(ctx, *ai); err != nil {
		t.Fatal(err)
	}
	pollUntil(t, 10*time.Second, "the owner as a relayed neighbor", func() bool {
		return neighbor.Mesh().PathTo(owner.ID()) == mesh.PathRelayed && len(owner.Mesh().Peers()) >= 2
	})

	small, err := os.ReadFile("../clips/testdata/front-door-2026-11-27T19-42-10Z.mp4")
	if err != nil {
		t.Fatal(err)
	}
	big := append(bytes.Repeat([]byte{0}, mesh.RelayCircuitData), small...)
	var ids []string
	for _, b := range [][]byte{small, big} {
		m, err := owner.Clips().Import(context.Background(), bytes.NewReader(b), clips.ImportMeta{Camera: "front-door", Start: time.Now().Add(-time.Hour), MediaType: "video/mp4"})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, m.ClipID().String())
	}
	var g api.GrantJSON
	if code := apiCall(t, owner, ownerDir, "POST", "/api/v1/grants", api.NewGrantJSON{To: neighbor.ID().String(), Clips: ids, Expires: "7d"}, &g); code != http.StatusCreated {
		t.Fatalf("share: %d", code)
	}
	if g.Delivered == nil || !*g.Delivered {
		t.Fatalf("grant not delivered over the relayed path: %+v", g)
	}
	if code := apiCall(t, neighbor, neighborDir, "POST", "/api/v1/clips/fetch", map[string]string{"from": owner.ID().String(), "clip": ids[0]}, nil); code != http.StatusOK {
		t.Fatalf("fetch of a small clip over the relay: %d", code)
	}
	id, _ := record.ParseID(ids[0])
	r, err := neighbor.Clips().Reader(id)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := io.ReadAll(r); !bytes.Equal(got, small) {
		t.Fatalf("fetched %d bytes over the relay, not the clip's %d", len(got), len(small))
	}

	_, err = apiClient(t, neighborDir).Fetch(context.Background(), owner.ID().String(), ids[1])
	t.Logf("fetch of a clip over the anchor's limit: %v", err)
	want := "no direct path to 12 Maple St; its NAT"
	if err == nil || !strings.HasPrefix(err.Error(), want) || !strings.Contains(err.Error(), "the anchor relays at most 16 MB per connection") {
		t.Fatalf("fetch of a clip over the anchor's limit: %v, want %q ...", err, want)
	}
}
