package node_test

import (
	"context"
	"crypto/rand"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/porchlight-mesh/porchlight/api"
	"github.com/porchlight-mesh/porchlight/member"
	"github.com/porchlight-mesh/porchlight/node"
)

// deadAnchor is the address of an anchor that does not answer: a port
// nothing listens on, and a peer ID nobody holds.
func deadAnchor(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	_, pub, _ := crypto.GenerateEd25519Key(rand.Reader)
	id, _ := peer.IDFromPublicKey(pub)
	return "/ip4/127.0.0.1/tcp/" + strconv.Itoa(port) + "/p2p/" + id.String()
}

// TestAnchorsThroughTheAPI: a home adds an anchor (a running member node)
// and a dead one through its API: both land in config.toml, the probe says
// the first answers with a round trip and the second does not; a malformed
// address is refused; removing forgets it; nothing passes without the
// token. Status and peers carry the network fields.
func TestAnchorsThroughTheAPI(t *testing.T) {
	anchorDir, homeDir := initDir(t, "Maple St anchor"), initDir(t, "12 Maple St")
	a, err := node.Start(node.Options{Dir: anchorDir, DisableMDNS: true, Logger: quiet, Anchor: true})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	h := start(t, homeDir)
	defer h.Close()
	ctx := context.Background()
	cl := apiClient(t, homeDir)

	anchorAddr := a.Mesh().Addrs()[0].String()
	dead := deadAnchor(t)
	for _, addr := range []string{anchorAddr, dead, anchorAddr} { // the second add of one is a no-op
		if _, err := cl.AddAnchor(ctx, addr); err != nil {
			t.Fatalf("add anchor %s: %v", addr, err)
		}
	}
	s, err := node.LoadConfig(homeDir)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(s.Anchors, []string{anchorAddr, dead}) {
		t.Fatalf("config.toml anchors = %q, want %q", s.Anchors, []string{anchorAddr, dead})
	}
	if code := apiCall(t, h, homeDir, "POST", "/api/v1/anchors", api.NewAnchorJSON{Addr: "/ip4/127.0.0.1/tcp/7781"}, nil); code != http.StatusBadRequest {
		t.Errorf("adding an anchor without /p2p/: %d, want 400", code)
	}
	if _, err := cl.WithToken("").Anchors(ctx, false); err == nil || !strings.Contains(err.Error(), "token") {
		t.Errorf("listing anchors without the token: %v, want a refusal", err)
	}

	list, err := cl.Anchors(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]api.AnchorStatus{}
	for _, x := range list {
		byID[x.PeerID] = x
	}
	live, gone := byID[a.ID().String()], byID[dead[strings.LastIndex(dead, "/")+1:]]
	if !live.Configured || !live.Connected || live.RTTMillis <= 0 {
		t.Errorf("the running anchor: %+v, want configured, connected, with a round trip", live)
	}
	if !gone.Configured || gone.Connected || gone.RTTMillis != 0 {
		t.Errorf("the dead anchor: %+v, want configured, not connected, no round trip", gone)
	}

	var st map[string]any
	if code := apiCall(t, h, homeDir, "GET", "/api/v1/status", nil, &st); code != 200 {
		t.Fatalf("status: %d", code)
	}
	for _, k := range []string{"reachability", "nat", "anchor", "addresses", "anchors"} {
		if _, ok := st[k]; !ok {
			t.Errorf("status has no %q: %v", k, st)
		}
	}
	if addrs, _ := st["addresses"].(map[string]any); addrs == nil || addrs["listen"] == nil || addrs["observed"] == nil || addrs["relay"] == nil {
		t.Errorf("status addresses = %v, want listen, observed and relay lists", st["addresses"])
	}
	if anchors, _ := st["anchors"].([]any); len(anchors) != 2 {
		t.Errorf("status anchors = %v, want the two configured", st["anchors"])
	}
	var ast api.Status
	if code := apiCall(t, a, anchorDir, "GET", "/api/v1/status", nil, &ast); code != 200 || !ast.Anchor {
		t.Errorf("the anchor's status: %d, anchor %v; want anchor true (run --anchor)", code, ast.Anchor)
	}
	var peers []map[string]any
	pollUntil(t, 10*time.Second, "the anchor among the home's peers", func() bool {
		peers = nil
		apiCall(t, h, homeDir, "GET", "/api/v1/peers", nil, &peers)
		return len(peers) == 1
	})
	for _, k := range []string{"path", "rtt_ms"} {
		if _, ok := peers[0][k]; !ok {
			t.Errorf("peer has no %q: %v", k, peers[0])
		}
	}

	res, err := cl.RemoveAnchor(ctx, a.ID().String())
	if err != nil || !slices.Equal(res.Removed, []string{anchorAddr}) {
		t.Fatalf("remove anchor = %+v, %v", res, err)
	}
	if code := apiCall(t, h, homeDir, "DELETE", "/api/v1/anchors/"+a.ID().String(), nil, nil); code != http.StatusNotFound {
		t.Errorf("removing it again: %d, want 404", code)
	}
	if s, _ := node.LoadConfig(homeDir); !slices.Equal(s.Anchors, []string{dead}) {
		t.Errorf("config.toml anchors after rm = %q, want only the dead one", s.Anchors)
	}
}

// TestAnchorsOffline: with the node stopped, anchors are added to and
// removed from config.toml directly.
func TestAnchorsOffline(t *testing.T) {
	dir := initDir(t, "12 Maple St")
	dead := deadAnchor(t)
	if _, err := node.AddAnchor(dir, "/ip4/203.0.113.7/tcp/7781"); err == nil || !strings.Contains(err.Error(), "/p2p/") {
		t.Fatalf("AddAnchor without a peer ID = %v, want a refusal naming /p2p/", err)
	}
	saved, err := node.AddAnchor(dir, " "+dead+" ")
	if err != nil || saved != dead {
		t.Fatalf("AddAnchor = %q, %v", saved, err)
	}
	if _, err := node.RemoveAnchor(dir, dead); err != nil {
		t.Fatal(err)
	}
	if _, err := node.RemoveAnchor(dir, dead); err == nil {
		t.Fatal("removing a removed anchor succeeded")
	}
	b, _ := os.ReadFile(filepath.Join(dir, node.ConfigFile))
	if strings.Contains(string(b), "anchors") {
		t.Errorf("config.toml still lists anchors:\n%s", b)
	}
}

// TestInviteCarriesInviteAddrs: an invite carries the addresses the mesh
// chooses for it (mesh.InviteAddrs: public, relay, anchors, then own).
func TestInviteCarriesInviteAddrs(t *testing.T) {
	s := newStreet(t)
	dir := s.found("12 Maple St")
	n := start(t, dir)
	defer n.Close()
	inv, err := member.ParseInvite(invite(t, dir, 1), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	want := n.Mesh().InviteAddrs(8)
	if len(want) == 0 || len(inv.Addrs) < len(want) {
		t.Fatalf("invite addrs %v, want %v first", inv.Addrs, want)
	}
	for i, a := range want {
		if !inv.Addrs[i].Equal(a) {
			t.Errorf("invite addr %d = %s, want %s", i, inv.Addrs[i], a)
		}
	}
}
