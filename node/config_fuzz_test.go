package node_test

import (
	"crypto/rand"
	"os"
	"path/filepath"
	"testing"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/porchlight-mesh/porchlight/node"
)

// FuzzLoadConfig: any config.toml either loads into a config that passes
// Check or fails with an error; it never panics.
func FuzzLoadConfig(f *testing.F) {
	f.Add([]byte("name = '12 Maple St'\nneighborhood = 'maple-st'\nlocation = '40.7128,-74.0060'\n"))
	f.Add([]byte("peers = ['/ip4/10.0.0.1/tcp/7781/p2p/12D3KooWAW9tBdPrXbawMf4AR1XJtezdVtL6FHRtXCw3XAbPTkFL']\n"))
	f.Add([]byte("listen = 3\n"))
	f.Add([]byte("[[[\n"))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := os.WriteFile(filepath.Join(dir, node.ConfigFile), data, 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, err := node.LoadConfig(dir)
		if err != nil {
			return
		}
		if err := cfg.Check(); err != nil {
			t.Fatalf("LoadConfig returned a config that fails Check: %v", err)
		}
		if cfg.Neighborhood == "" || cfg.API == "" {
			t.Fatalf("defaults not applied: %+v", cfg)
		}
	})
}

// FuzzReadPrivateKey: any identity or issuer key file either reads into a
// key whose public half derives a peer ID, or fails with an error; it never
// panics.
func FuzzReadPrivateKey(f *testing.F) {
	key, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	kb, _ := crypto.MarshalPrivateKey(key)
	f.Add(kb)
	f.Add(kb[:len(kb)/2])
	f.Add(append(append([]byte(nil), kb...), '\n'))
	f.Add([]byte("-----BEGIN PRIVATE KEY-----\n"))
	f.Add([]byte{0x08, 0x05, 0x12, 0x00}) // an unknown key type, empty
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(dir, "key")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		k, err := node.ReadPrivateKey(path)
		if err != nil {
			return
		}
		if _, err := peer.IDFromPrivateKey(k); err != nil {
			t.Fatalf("read a key without a peer ID: %v", err)
		}
	})
}

// FuzzParseLocation: a location either parses within ±90/±180 or fails.
func FuzzParseLocation(f *testing.F) {
	for _, s := range []string{"40.7128,-74.0060", " 40.7128 , -74.0060 ", "90,180", "-90,-180", "91,0", "NaN,0", "1e308,0", "0x1p-2,0", "", ","} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		l, err := node.ParseLocation(s)
		if err != nil || l == nil {
			return
		}
		if !(l.Lat >= -90 && l.Lat <= 90 && l.Lon >= -180 && l.Lon <= 180) {
			t.Fatalf("ParseLocation(%q) = %+v", s, l)
		}
	})
}
