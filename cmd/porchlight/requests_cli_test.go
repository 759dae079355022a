package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/porchlight-mesh/porchlight/record"
)

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// TestRequestsWorkflow walks the issuer, agency and household commands on a
// real node that is both the agency and a home inside the request's area.
func TestRequestsWorkflow(t *testing.T) {
	dir := t.TempDir()
	issuerKey := filepath.Join(dir, "county.issuer")
	out, stderr, code := cli(t, "issuer", "init", "--out", issuerKey)
	if code != 0 {
		t.Fatalf("issuer init: %d %s", code, stderr)
	}
	issuer := lastLine(out)
	if !strings.HasPrefix(issuer, "12D3KooW") {
		t.Fatalf("issuer init printed %q last, want the issuer ID", issuer)
	}
	if _, stderr, code := cli(t, "issuer", "init", "--out", issuerKey); code == 0 || !strings.Contains(stderr, "already exists") {
		t.Fatalf("issuer init over an existing key: exit %d, %q", code, stderr)
	}

	data := filepath.Join(dir, "agency")
	if _, stderr, code := cli(t, "--data", data, "init", "--name", "Springfield PD", "--neighborhood", "maple-st",
		"--location", "40.7148,-74.0060", "--trust-issuer", issuer, "--api", "127.0.0.1:0", "--listen", "/ip4/127.0.0.1/tcp/0"); code != 0 {
		t.Fatalf("init: %s", stderr)
	}
	var logs bytes.Buffer
	run := exec.Command(binary, "--data", data, "run", "--no-mdns")
	run.Stderr = &logs
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- run.Wait() }()
	t.Cleanup(func() {
		run.Process.Signal(syscall.SIGTERM)
		<-done
	})
	status := waitStatus(t, data, &logs)
	agency := status["peer_id"].(string)

	credFile := filepath.Join(dir, "spd.credential")
	if _, stderr, code := cli(t, "issuer", "certify", "--key", issuerKey, "--agency", agency, "--name", "Springfield PD",
		"--jurisdiction", "circle:40.7128,-74.0060,5000", "--valid", "365d", "--out", credFile); code != 0 {
		t.Fatalf("certify: %s", stderr)
	}
	if _, stderr, code := cli(t, "--data", data, "agency", "credential", credFile); code != 0 {
		t.Fatalf("agency credential: %s", stderr)
	}

	from := time.Now().Add(-3 * time.Hour).UTC().Truncate(time.Second)
	to := from.Add(2 * time.Hour)
	create := func(area string) (string, string, int) {
		return cli(t, "--data", data, "request", "create", "--case", "2026-1142", "--incident", "package theft",
			"--area", area, "--from", from.Format(time.RFC3339), "--to", to.Format(time.RFC3339),
			"--contact", "det. desk 555-0100", "--description", "doorbell video of the porch")
	}
	// A rule violation: refused before anything is published.
	_, stderr, code = create("circle:40.7130,-74.0055,900")
	if code == 0 || !strings.Contains(stderr, "square miles") {
		t.Fatalf("too-large area: exit %d, stderr %q; want non-zero naming the area rule", code, stderr)
	}
	out, stderr, code = create("circle:40.7140,-74.0055,300")
	if code != 0 {
		t.Fatalf("request create: %s", stderr)
	}
	id := lastLine(out)
	if len(id) != 64 {
		t.Fatalf("request create printed %q last, want the request ID", out)
	}

	// A clip of this home recorded inside the window matches, locally.
	if _, stderr, code := cli(t, "--data", data, "clips", "import", "../../clips/testdata/front-door-2026-11-27T19-42-10Z.mp4",
		"--start", from.Add(30*time.Minute).Format(time.RFC3339)); code != 0 {
		t.Fatalf("clips import: %s", stderr)
	}
	out, _, _ = cli(t, "--data", data, "requests", "--json")
	var reqs []map[string]any
	if err := json.Unmarshal([]byte(out), &reqs); err != nil {
		t.Fatalf("requests --json: %v in %q", err, out)
	}
	if len(reqs) != 1 {
		t.Fatalf("requests --json has %d items, want 1 (the refused one must not be there)", len(reqs))
	}
	for _, k := range []string{"id", "agency", "agency_name", "case", "incident", "status", "area", "from", "to", "covers_home"} {
		if _, ok := reqs[0][k]; !ok {
			t.Errorf("requests --json item lacks %q", k)
		}
	}
	if reqs[0]["id"] != id || reqs[0]["status"] != "open" || reqs[0]["covers_home"] != true || reqs[0]["agency_name"] != "Springfield PD" || reqs[0]["matching_clips"] != 1.0 {
		t.Fatalf("request = %v", reqs[0])
	}
	if reqs[0]["clips_received"] != 0.0 || reqs[0]["homes_shared"] != 0.0 || reqs[0]["yield_bytes"] != 0.0 || reqs[0]["video_seconds"] != 0.0 {
		t.Fatalf("request's yield = %v; want zeros, no one shared", reqs[0])
	}
	// The yield audit: this home shared nothing for the request.
	if out, stderr, code := cli(t, "--data", data, "requests", "audit-yield", id); code != 0 || !strings.Contains(out, "shared no clip") {
		t.Fatalf("requests audit-yield: exit %d, %q %q", code, out, stderr)
	}
	out, _, _ = cli(t, "--data", data, "requests", "audit-yield", id, "--json")
	var audit map[string]any
	if err := json.Unmarshal([]byte(out), &audit); err != nil || audit["request"] != id || audit["included"] != 0.0 {
		t.Fatalf("requests audit-yield --json: %v %q", err, out)
	}
	if _, stderr, code := cli(t, "--data", data, "requests", "audit-yield", "nope"); code != 2 || stderr == "" {
		t.Fatalf("requests audit-yield nope: exit %d, %q; want a usage error", code, stderr)
	}

	if _, stderr, code := cli(t, "--data", data, "request", "close", id, "--note", "suspect identified"); code != 0 {
		t.Fatalf("close: %s", stderr)
	}
	out, _, _ = cli(t, "--data", data, "agencies", "--json")
	var ags []map[string]any
	if err := json.Unmarshal([]byte(out), &ags); err != nil || len(ags) != 1 {
		t.Fatalf("agencies --json: %v %q", err, out)
	}
	for _, k := range []string{"peer_id", "name", "credential_status", "requests", "open", "closed", "area_hours", "equivocation"} {
		if _, ok := ags[0][k]; !ok {
			t.Errorf("agencies --json item lacks %q", k)
		}
	}
	if ags[0]["credential_status"] != "valid" || ags[0]["requests"] != 1.0 || ags[0]["open"] != 0.0 || ags[0]["closed"] != 1.0 || ags[0]["equivocation"] != false {
		t.Fatalf("agency = %v", ags[0])
	}

	revFile := filepath.Join(dir, "spd.revocation")
	if _, stderr, code := cli(t, "issuer", "revoke", "--key", issuerKey, "--credential", credFile, "--through-seq", "3", "--out", revFile); code != 0 {
		t.Fatalf("revoke: %s", stderr)
	}
	if raw, err := os.ReadFile(revFile); err != nil {
		t.Fatal(err)
	} else if d, err := record.OpenDoc(raw); err != nil || d.Revocation.GetValidThroughSeq() != 3 {
		t.Fatalf("revocation file: %v; want valid_through_seq 3", err)
	}
	if _, stderr, code := cli(t, "--data", data, "publish", revFile); code != 0 {
		t.Fatalf("publish: %s", stderr)
	}
	out, _, _ = cli(t, "--data", data, "agencies", "--json")
	if !strings.Contains(out, `"credential_status": "revoked"`) {
		t.Fatalf("after the revocation: %s", out)
	}
	if _, stderr, code := create("circle:40.7140,-74.0055,300"); code == 0 || !strings.Contains(stderr, "credential") {
		t.Fatalf("request after revocation: exit %d, %q", code, stderr)
	}
	out, _, _ = cli(t, "--data", data, "requests")
	if !strings.Contains(out, "2026-1142") || !strings.Contains(out, "closed") {
		t.Fatalf("requests table = %q", out)
	}
}
