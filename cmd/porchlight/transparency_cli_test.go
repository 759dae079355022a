package main

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/porchlight-mesh/porchlight/node"
	"github.com/porchlight-mesh/porchlight/requests"
	"github.com/porchlight-mesh/porchlight/store"
	"github.com/porchlight-mesh/porchlight/transparency"
	"github.com/porchlight-mesh/porchlight/transparency/transparencytest"
)

// TestTransparencyCLI: on a node whose store holds an agency's signed
// history (two requests in January, none in February, one in March),
// `transparency` prints the months in text, JSON and CSV; the CSV is the
// one the records give anywhere (computed here from the same records in
// the same store before the node started); --since and --agency narrow it;
// bad flags are usage errors (exit 2).
func TestTransparencyCLI(t *testing.T) {
	h, err := transparencytest.New("Springfield PD", "maple-st", time.Date(2025, 12, 1, 0, 0, 0, 0, time.UTC), time.Now().Add(365*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	for i, created := range []time.Time{
		time.Date(2026, 1, 10, 18, 0, 0, 0, time.UTC), time.Date(2026, 1, 11, 18, 0, 0, 0, time.UTC), time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC),
	} {
		req, err := h.Request(created, 2*time.Hour, 300, "C-"+string(rune('1'+i)))
		if err != nil {
			t.Fatal(err)
		}
		if i != 1 {
			if _, err := h.Close(req, created.Add(time.Duration(i+1)*time.Hour), "thanks"); err != nil {
				t.Fatal(err)
			}
		}
	}
	data := filepath.Join(t.TempDir(), "home")
	if _, stderr, code := cli(t, "--data", data, "init", "--name", "12 Maple St", "--neighborhood", "maple-st", "--trust-issuer", h.Issuer.String(),
		"--api", "127.0.0.1:0", "--listen", "/ip4/127.0.0.1/tcp/0"); code != 0 {
		t.Fatalf("init: %s", stderr)
	}
	db, err := store.Open(store.Config{Dir: filepath.Join(data, node.DBDir), Neighborhood: "maple-st", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := requests.New(requests.Config{Store: db, Trusted: []peer.ID{h.Issuer}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if err := transparencytest.Load(svc, db, h); err != nil {
		t.Fatal(err)
	}
	want, err := transparency.Compute(svc, transparency.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var wantCSV bytes.Buffer
	if err := want.WriteCSV(&wantCSV); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	logs := runInitialized(t, data)
	waitStatus(t, data, logs)

	out, stderr, code := cli(t, "--data", data, "transparency", "--format", "csv")
	if code != 0 || out != wantCSV.String() {
		t.Fatalf("transparency --format csv: exit %d %s\n%q\nwant\n%q", code, stderr, out, wantCSV.String())
	}
	if lines := strings.Split(strings.TrimSpace(out), "\r\n"); len(lines) != 4 || !strings.Contains(lines[2], ",2026-02,0,") {
		t.Errorf("CSV lines: %q", lines)
	}

	out, stderr, code = cli(t, "--data", data, "transparency")
	if code != 0 {
		t.Fatalf("transparency: exit %d %s", code, stderr)
	}
	for _, w := range []string{"Springfield PD (" + h.Agency.String() + ")", "credential valid", "2026-01", "2026-02", "2026-03", "total", "Issuers", "certified 1 agency (Springfield PD); revoked 0"} {
		if !strings.Contains(out, w) {
			t.Errorf("text report lacks %q:\n%s", w, out)
		}
	}

	out, _, code = cli(t, "--data", data, "transparency", "--format", "json", "--since", "2026-02", "--agency", h.Agency.String())
	var rep transparency.Report
	if err := json.Unmarshal([]byte(out), &rep); code != 0 || err != nil || len(rep.Agencies) != 1 || len(rep.Agencies[0].Months) != 2 ||
		rep.Agencies[0].Total.Requests != 1 || *rep.Agencies[0].Total.MedianHoursToClose != 3 {
		t.Errorf("transparency --format json --since 2026-02: exit %d %v\n%s", code, err, out)
	}

	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--format", "xlsx"}, "want text, json or csv"},
		{[]string{"--since", "yesterday"}, "--since"},
		{[]string{"--agency", "nope"}, "not a peer ID"},
	} {
		_, stderr, code := cli(t, append([]string{"--data", data, "transparency"}, c.args...)...)
		if code != 2 || !strings.Contains(stderr, c.want) {
			t.Errorf("transparency %v: exit %d, %q; want 2 saying %q", c.args, code, stderr, c.want)
		}
	}
}
