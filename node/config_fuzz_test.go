package node_test

import (
	"os"
	"path/filepath"
	"testing"

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
