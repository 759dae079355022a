package node_test

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/porchlight-mesh/porchlight/clips"
	"github.com/porchlight-mesh/porchlight/geo"
	"github.com/porchlight-mesh/porchlight/node"
	"github.com/porchlight-mesh/porchlight/requests"
)

// writeConfig puts a config.toml into a fresh data directory.
func writeConfig(t *testing.T, b []byte) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, node.ConfigFile), b, 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

// testdata/config.toml sets every key, as SaveConfig writes them: loading
// parses each text field once, and saving what was loaded writes the file
// back byte for byte (the format does not change under its users).
func TestLoadConfigParsesEverySetting(t *testing.T) {
	golden, err := os.ReadFile(filepath.Join("testdata", node.ConfigFile))
	if err != nil {
		t.Fatal(err)
	}
	dir := writeConfig(t, golden)
	s, err := node.LoadConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	issuer, err := peer.Decode("12D3KooWAW9tBdPrXbawMf4AR1XJtezdVtL6FHRtXCw3XAbPTkFL")
	if err != nil {
		t.Fatal(err)
	}
	if s.Home == nil || *s.Home != (geo.Point{Lat: 40.7128, Lon: -74.0060}) {
		t.Errorf("Home = %+v, want 40.7128,-74.0060", s.Home)
	}
	if !reflect.DeepEqual(s.Issuers, []peer.ID{issuer}) {
		t.Errorf("Issuers = %v, want [%s]", s.Issuers, issuer)
	}
	wantLimits := requests.Limits{MinArea: 0.5, MaxArea: 2, MinWindow: time.Hour, MaxWindow: 6 * time.Hour, MaxOpen: 3, AllowLooser: true}
	if s.Limits != wantLimits {
		t.Errorf("Limits = %+v, want %+v", s.Limits, wantLimits)
	}
	if s.RetentionPeriod != 14*24*time.Hour {
		t.Errorf("RetentionPeriod = %v, want 14 days", s.RetentionPeriod)
	}
	if s.Name != "12 Maple St" || s.Retention != "14d" || s.WatchDir != "/srv/cam" || !s.DisableMDNS || !s.Anchor || len(s.Anchors) != 1 {
		t.Errorf("the file's own fields = %+v", s.Config)
	}

	if err := node.SaveConfig(dir, s.Config); err != nil {
		t.Fatal(err)
	}
	saved, err := os.ReadFile(filepath.Join(dir, node.ConfigFile))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(saved, golden) {
		t.Errorf("SaveConfig(LoadConfig(testdata/config.toml)) wrote\n%s\nwant the file unchanged:\n%s", saved, golden)
	}
}

func TestLoadConfigDefaults(t *testing.T) {
	s, err := node.LoadConfig(writeConfig(t, nil))
	if err != nil {
		t.Fatal(err)
	}
	if s.Home != nil || s.Issuers != nil || s.Limits != (requests.Limits{}) {
		t.Errorf("an empty config.toml parsed to %+v, want no home, issuers or limits", s)
	}
	if s.RetentionPeriod != clips.DefaultRetention {
		t.Errorf("RetentionPeriod = %v, want clips.DefaultRetention %v", s.RetentionPeriod, clips.DefaultRetention)
	}
	if s.Neighborhood != "default" || s.API != node.DefaultAPIAddr {
		t.Errorf("defaults not applied: %+v", s.Config)
	}
}

// Every field that needs parsing is refused by LoadConfig, with the file's
// path and the setting in the error: nothing is left for Start to drop.
func TestLoadConfigRefusesEachBadSetting(t *testing.T) {
	cases := []struct {
		name, toml, want string
	}{
		{"location", "location = '40.7,north'", "LAT,LON"},
		{"trusted issuer", "trusted_issuers = ['not-an-id']", "trusted issuer \"not-an-id\""},
		{"request window", "[requests]\nmin_window = 'soon'", "[requests] window \"soon\""},
		{"retention under an hour", "retention = '10m'", "retention \"10m\""},
		{"retention in weeks", "retention = '2w'", "retention \"2w\""},
		{"zero days", "retention = '0d'", "retention \"0d\""},
		{"neighborhood", "neighborhood = 'Maple St'", "lowercase"},
		{"static peer", "peers = ['/ip4/10.0.0.1/tcp/7781']", "/p2p/"},
		{"anchor without peer ID", "anchors = ['/ip4/203.0.113.7/tcp/7781']", "anchor \"/ip4/203.0.113.7/tcp/7781\": want a multiaddr ending in /p2p/<peer ID>"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := writeConfig(t, []byte(c.toml+"\n"))
			_, err := node.LoadConfig(dir)
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), filepath.Join(dir, node.ConfigFile)) {
				t.Fatalf("LoadConfig = %v, want an error naming %s and %q", err, node.ConfigFile, c.want)
			}
		})
	}
}

// Trust changes the settings the node runs with and config.toml together,
// and the status shows the configured home.
func TestTrustKeepsSettingsAndFileTogether(t *testing.T) {
	dir := initDir(t, "12 Maple St")
	n := start(t, dir)
	defer n.Close()
	if st := n.Status(); st.Location == nil || *st.Location != (geo.Point{Lat: 40.7128, Lon: -74.0060}) {
		t.Errorf("Status().Location = %+v, want the configured home", st.Location)
	}
	issuer, err := peer.Decode("12D3KooWAW9tBdPrXbawMf4AR1XJtezdVtL6FHRtXCw3XAbPTkFL")
	if err != nil {
		t.Fatal(err)
	}
	for range 2 { // the second is a no-op
		if err := n.Trust(issuer); err != nil {
			t.Fatal(err)
		}
	}
	if !reflect.DeepEqual(n.Config.Issuers, []peer.ID{issuer}) || !reflect.DeepEqual(n.Config.TrustedIssuers, []string{issuer.String()}) {
		t.Errorf("after Trust: Issuers %v, TrustedIssuers %v; want the issuer once in each", n.Config.Issuers, n.Config.TrustedIssuers)
	}
	s, err := node.LoadConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(s.Issuers, []peer.ID{issuer}) {
		t.Errorf("config.toml after Trust parses to issuers %v, want [%s]", s.Issuers, issuer)
	}
}

// TestAnchorsConfig: each anchor must be a multiaddr of the anchor itself
// ending in /p2p/<peer ID>; the error names the entry and what to write.
func TestAnchorsConfig(t *testing.T) {
	const id = "12D3KooWAW9tBdPrXbawMf4AR1XJtezdVtL6FHRtXCw3XAbPTkFL"
	cases := []struct {
		name    string
		anchors []string
		want    string // "" = valid
	}{
		{"none", nil, ""},
		{"ip4 tcp", []string{"/ip4/203.0.113.7/tcp/7781/p2p/" + id}, ""},
		{"ip6 quic", []string{"/ip6/2001:db8::7/udp/7781/quic-v1/p2p/" + id}, ""},
		{"dns name", []string{"/dns4/anchor.example.org/tcp/7781/p2p/" + id}, ""},
		{"two addresses of one anchor", []string{"/ip4/203.0.113.7/tcp/7781/p2p/" + id, "/ip4/203.0.113.7/udp/7781/quic-v1/p2p/" + id}, ""},
		{"no peer ID", []string{"/ip4/203.0.113.7/tcp/7781"}, "want a multiaddr ending in /p2p/<peer ID>"},
		{"only a peer ID", []string{"/p2p/" + id}, "has a peer ID but no address"},
		{"not a multiaddr", []string{"203.0.113.7:7781"}, `anchor "203.0.113.7:7781": want a multiaddr`},
		{"bad peer ID", []string{"/ip4/203.0.113.7/tcp/7781/p2p/not-a-peer-0"}, "anchor \"/ip4/203.0.113.7/tcp/7781/p2p/not-a-peer-0\""},
		{"relayed address", []string{"/ip4/203.0.113.7/tcp/7781/p2p/" + id + "/p2p-circuit/p2p/" + id}, "relayed (/p2p-circuit) address"},
		{"empty", []string{""}, "want a multiaddr ending in /p2p/<peer ID>"},
		{"second one bad", []string{"/ip4/203.0.113.7/tcp/7781/p2p/" + id, "/ip4/203.0.113.8/tcp/7781"}, `anchor "/ip4/203.0.113.8/tcp/7781"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := node.Config{Neighborhood: "maple-st", Anchors: c.anchors}
			err := cfg.Check()
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("Check = %v, want nil", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Fatalf("Check = %v, want an error containing %q", err, c.want)
			}
		})
	}
}

// TestAnchorCandidates: of an invite's addresses, the public ones and the
// relays of relayed addresses become anchors; private and loopback ones do
// not.
func TestAnchorCandidates(t *testing.T) {
	const inviter = "12D3KooWAW9tBdPrXbawMf4AR1XJtezdVtL6FHRtXCw3XAbPTkFL"
	const relay = "12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA"
	var addrs []ma.Multiaddr
	for _, s := range []string{
		"/ip4/192.168.1.20/tcp/7781/p2p/" + inviter, // its LAN
		"/ip4/127.0.0.1/tcp/7781/p2p/" + inviter,
		"/ip4/198.51.100.20/tcp/7781/p2p/" + inviter, // TEST-NET-2: not public to libp2p
		"/ip4/8.8.4.20/tcp/7781/p2p/" + inviter,      // a mapped port
		"/ip4/9.9.9.30/udp/7781/quic-v1/p2p/" + relay + "/p2p-circuit/p2p/" + inviter,
		"/ip4/9.9.9.30/udp/7781/quic-v1/p2p/" + relay, // the same anchor again
		"/ip4/10.0.0.9/tcp/7781/p2p/" + relay + "/p2p-circuit/p2p/" + inviter,
	} {
		addrs = append(addrs, ma.StringCast(s))
	}
	got := node.AnchorCandidates(addrs)
	want := []string{"/ip4/8.8.4.20/tcp/7781/p2p/" + inviter, "/ip4/9.9.9.30/udp/7781/quic-v1/p2p/" + relay}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("AnchorCandidates = %q, want %q", got, want)
	}
}
