package node_test

import (
	"crypto/tls"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/porchlight-mesh/porchlight/api"
	"github.com/porchlight-mesh/porchlight/node"
)

// TestPairTurnsLANOn: asking for a pairing link turns serving the LAN on
// and remembers it in config.toml; the certificate is ECDSA P-256, its key
// is kept 0600, and its fingerprint is the same after a restart.
func TestPairTurnsLANOn(t *testing.T) {
	dir := initDir(t, "hub")
	cfg, err := node.LoadConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	c := cfg.Config
	c.LANAddr = "127.0.0.1:0"
	if err := node.SaveConfig(dir, c); err != nil {
		t.Fatal(err)
	}
	n := start(t, dir)
	if n.LANAddr() != nil {
		t.Fatal("serving the LAN before anyone asked")
	}
	var link api.PairLink
	if code := apiCall(t, n, dir, "POST", "/api/v1/pair-links", map[string]string{"name": "laptop"}, &link); code != 201 {
		t.Fatalf("pair-links = %d", code)
	}
	if n.LANAddr() == nil {
		t.Fatal("a pairing link did not turn the LAN on")
	}
	fp := presented(t, n)
	if fp != link.Fingerprint {
		t.Fatalf("the LAN presents %s, the link says %s", fp, link.Fingerprint)
	}
	fi, err := os.Stat(filepath.Join(dir, node.LANKeyFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("LAN key: %v %v, want mode 600", fi, err)
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	if cfg, err := node.LoadConfig(dir); err != nil || !cfg.LAN {
		t.Fatalf("config.toml after pairing: lan = %v (%v), want true", cfg.LAN, err)
	}

	n = start(t, dir)
	defer n.Close()
	if n.LANAddr() == nil {
		t.Fatal("lan = true did not serve the LAN at start")
	}
	if got := presented(t, n); got != fp {
		t.Fatalf("fingerprint after a restart %s, want %s", got, fp)
	}
}

// presented is the fingerprint of the certificate the node's LAN listener
// presents, checked to be ECDSA P-256.
func presented(t *testing.T, n *node.Node) string {
	t.Helper()
	conn, err := tls.Dial("tcp", n.LANAddr().String(), &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	cert := conn.ConnectionState().PeerCertificates[0]
	if cert.PublicKeyAlgorithm.String() != "ECDSA" {
		t.Errorf("LAN certificate key %s, want ECDSA (P-256)", cert.PublicKeyAlgorithm)
	}
	return api.Fingerprint(cert.Raw)
}

// TestLANPortTakenKeepsNodeUp: a LAN port already in use is logged, and the
// node runs on loopback without it.
func TestLANPortTakenKeepsNodeUp(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	dir := initDir(t, "hub")
	cfg, err := node.LoadConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	c := cfg.Config
	c.LAN, c.LANAddr = true, ln.Addr().String()
	if err := node.SaveConfig(dir, c); err != nil {
		t.Fatal(err)
	}
	n := start(t, dir)
	defer n.Close()
	if n.LANAddr() != nil {
		t.Fatalf("serving the LAN at %v on a taken port", n.LANAddr())
	}
	var st map[string]any
	if code := apiCall(t, n, dir, "GET", "/api/v1/status", nil, &st); code != 200 {
		t.Fatalf("status on loopback: %d", code)
	}
}
