package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/porchlight-mesh/porchlight/member"
	"github.com/porchlight-mesh/porchlight/node"
	"github.com/porchlight-mesh/porchlight/store"
)

// TestAnchorRoster founds a neighborhood of 150 homes as the anchor
// benchmark does (more than one invite's uses) and checks that the
// anchor's store holds the whole roster and that each home, given only the
// charter and its admission, is a member whose proof is those two.
func TestAnchorRoster(t *testing.T) {
	e := &env{tmp: t.TempDir(), log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	dir := filepath.Join(e.tmp, "anchor")
	const n = 150
	r, err := newAnchorRoster(e, dir, n)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.keys) != n || len(r.admissions) != n {
		t.Fatalf("%d keys, %d admissions, want %d", len(r.keys), len(r.admissions), n)
	}
	if want := 1 + 2 + n; r.docs != want { // charter, 2 invites, admissions
		t.Errorf("founder signed %d documents, want %d", r.docs, want)
	}
	cfg, err := node.LoadConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.Anchor || cfg.Charter == "" {
		t.Errorf("config anchor = %v, charter %q: want an anchor of a chartered neighborhood", cfg.Anchor, cfg.Charter)
	}

	adb, err := store.Open(store.Config{Dir: filepath.Join(dir, node.DBDir), Neighborhood: r.neighborhood, Logger: e.log})
	if err != nil {
		t.Fatal(err)
	}
	defer adb.Close()
	akey, err := node.LoadKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	anchor, err := member.New(member.Config{Store: adb, Charter: r.charterID, Key: akey, Logger: e.log})
	if err != nil {
		t.Fatal(err)
	}
	if got := len(anchor.Roster()); got != n+1 {
		t.Errorf("the anchor's store has a roster of %d, want %d", got, n+1)
	}

	for _, i := range []int{0, 99, 100, n - 1} { // either side of the second invite
		db, err := store.Open(store.Config{Dir: filepath.Join(e.tmp, "home", fmt.Sprint(i)), Neighborhood: r.neighborhood, Logger: e.log})
		if err != nil {
			t.Fatal(err)
		}
		svc, err := member.New(member.Config{Store: db, Charter: r.charterID, Key: r.keys[i], Logger: e.log})
		if err != nil {
			db.Close()
			t.Fatal(err)
		}
		for _, d := range [][]byte{r.charter, r.admissions[i]} {
			if _, err := svc.IngestDoc(d); err != nil {
				db.Close()
				t.Fatalf("home %d: %v", i, err)
			}
		}
		id, _ := peer.IDFromPrivateKey(r.keys[i])
		if !svc.IsMember(id) || len(svc.Proof()) != 2 || !anchor.IsMember(id) {
			t.Errorf("home %d: member %v, proof of %d documents, on the anchor's roster %v", i, svc.IsMember(id), len(svc.Proof()), anchor.IsMember(id))
		}
		db.Close()
	}
}

func TestParseMetrics(t *testing.T) {
	before := parseMetrics(`# HELP porchlight_relay_bytes_total Bytes.
# TYPE porchlight_relay_bytes_total counter
porchlight_relay_bytes_total 100
porchlight_sync_rounds_total{result="ok",role="client"} 3
porchlight_sync_rounds_total{result="ok",role="server"} 4
`)
	after := parseMetrics(`porchlight_relay_bytes_total 1.5e+03
porchlight_sync_rounds_total{result="ok",role="client"} 3
porchlight_sync_rounds_total{result="ok",role="server"} 9
porchlight_relay_reservations_serving 200
porchlight_peer_score{peer="x"} 1
garbage
`)
	for _, tc := range []struct {
		name  string
		want  float64
		found bool
	}{
		{"porchlight_relay_bytes_total", 1500, true},
		{"porchlight_sync_rounds_total", 12, true},
		{"porchlight_relay_reservations_serving", 200, true},
		{"porchlight_relay", 0, false}, // a prefix is not a name
		{"missing", 0, false},
	} {
		if v, ok := after.sum(tc.name); v != tc.want || ok != tc.found {
			t.Errorf("sum(%s) = %v, %v; want %v, %v", tc.name, v, ok, tc.want, tc.found)
		}
	}
	got := after.changedSince(before, regexp.MustCompile(`^porchlight_.*_total$`))
	want := []string{
		"porchlight_relay_bytes_total +1400",
		`porchlight_sync_rounds_total{result="ok",role="server"} +5`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("changedSince = %q, want %q", got, want)
	}
}

func TestProcCPUTicks(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc")
	}
	a, err := procCPUTicks(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	x := 0
	for i := range 50_000_000 { // some CPU time
		x ^= i
	}
	b, err := procCPUTicks(os.Getpid())
	if err != nil || b < a {
		t.Fatalf("ticks %d then %d, %v (x %d)", a, b, err, x)
	}
	if _, err := procCPUTicks(1 << 30); err == nil {
		t.Error("no error for a process that does not exist")
	}
}
