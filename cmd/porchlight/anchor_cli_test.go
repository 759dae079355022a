package main

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"net"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/porchlight-mesh/porchlight/api"
)

// runInitialized starts `porchlight run` on an initialized data; the test stops it.
func runInitialized(t *testing.T, data string, args ...string) *bytes.Buffer {
	t.Helper()
	var logs bytes.Buffer
	run := exec.Command(binary, append([]string{"--data", data, "run", "--no-mdns"}, args...)...)
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
	return &logs
}

func initNamedNode(t *testing.T, name string) string {
	t.Helper()
	data := filepath.Join(t.TempDir(), "node")
	if _, stderr, code := cli(t, "--data", data, "init", "--name", name, "--neighborhood", "maple-st",
		"--api", "127.0.0.1:0", "--listen", "/ip4/127.0.0.1/tcp/0"); code != 0 {
		t.Fatalf("init %s: exit %d, %s", name, code, stderr)
	}
	return data
}

// unansweredAnchor is an anchor's address where nothing answers.
func unansweredAnchor(t *testing.T) (addr, id string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	_, pub, _ := crypto.GenerateEd25519Key(rand.Reader)
	pid, _ := peer.IDFromPublicKey(pub)
	return "/ip4/127.0.0.1/tcp/" + strconv.Itoa(port) + "/p2p/" + pid.String(), pid.String()
}

// TestAnchorCLI: anchor add, ls and rm with the node stopped (config.toml)
// and running (its API: the anchor is dialled, the probe says which
// answer); run --anchor; status and peers show the network fields; doctor
// says which anchor answers and which does not.
func TestAnchorCLI(t *testing.T) {
	anchorData, home := initNamedNode(t, "Maple St anchor"), initNamedNode(t, "12 Maple St")
	dead, deadID := unansweredAnchor(t)

	// Stopped: config.toml.
	if _, stderr, code := cli(t, "--data", home, "anchor", "add", "/ip4/127.0.0.1/tcp/7781"); code != 2 || !strings.Contains(stderr, "/p2p/<peer ID>") {
		t.Errorf("anchor add without a peer ID: exit %d, %q; want 2 and what to write", code, stderr)
	}
	if out, stderr, code := cli(t, "--data", home, "anchor", "add", dead); code != 0 || !strings.Contains(out, "when it starts") {
		t.Fatalf("anchor add (stopped): exit %d, %q %q", code, out, stderr)
	}
	var list []api.AnchorStatus
	out, _, code := cli(t, "--data", home, "anchor", "ls", "--json")
	if code != 0 || json.Unmarshal([]byte(out), &list) != nil || len(list) != 1 || list[0].PeerID != deadID || !list[0].Configured {
		t.Fatalf("anchor ls --json (stopped): exit %d, %s", code, out)
	}

	anchorLogs := runInitialized(t, anchorData, "--anchor")
	homeLogs := runInitialized(t, home)
	ast := waitStatus(t, anchorData, anchorLogs)
	hst := waitStatus(t, home, homeLogs)
	if ast["anchor"] != true {
		t.Errorf("run --anchor: status anchor = %v, want true", ast["anchor"])
	}
	for _, k := range []string{"reachability", "nat", "anchor", "addresses", "anchors"} {
		if _, ok := hst[k]; !ok {
			t.Errorf("status --json lacks %q: %v", k, hst)
		}
	}
	anchorAddr := ast["addrs"].([]any)[0].(string)
	anchorID := ast["peer_id"].(string)

	// Running: through the API.
	if out, stderr, code := cli(t, "--data", home, "anchor", "add", anchorAddr); code != 0 || !strings.Contains(out, "dials it now") {
		t.Fatalf("anchor add (running): exit %d, %q %q", code, out, stderr)
	}
	out, _, code = cli(t, "--data", home, "anchor", "ls", "--json", "--probe")
	list = nil
	if code != 0 || json.Unmarshal([]byte(out), &list) != nil || len(list) != 2 {
		t.Fatalf("anchor ls --probe --json: exit %d, %s", code, out)
	}
	for _, a := range list {
		switch a.PeerID {
		case anchorID:
			if !a.Connected || a.RTTMillis <= 0 {
				t.Errorf("the running anchor: %+v, want connected with a round trip", a)
			}
		case deadID:
			if a.Connected {
				t.Errorf("the dead anchor: %+v, want not connected", a)
			}
		default:
			t.Errorf("unexpected anchor %+v", a)
		}
	}
	if out, _, _ := cli(t, "--data", home, "anchor", "ls"); !strings.Contains(out, "not answering") || !strings.Contains(out, "PEER ID") {
		t.Errorf("anchor ls:\n%s", out)
	}

	out, _, _ = cli(t, "--data", home, "doctor", "--json", "--iface", "lo")
	var results []checkResult
	if err := json.Unmarshal([]byte(out), &results); err != nil {
		t.Fatalf("doctor --json: %v\n%s", err, out)
	}
	var answers, silent bool
	names := map[string]bool{}
	for _, r := range results {
		names[r.Name] = true
		if r.Name != "anchor" {
			continue
		}
		switch {
		case strings.HasPrefix(r.Detail, anchorID+" answers, rtt ") && r.Status == checkOK:
			answers = true
		case strings.HasPrefix(r.Detail, deadID+" does not answer") && r.Status == checkWarn && strings.Contains(r.Fix, "anchor rm "+deadID):
			silent = true
		}
	}
	if !answers || !silent || !names["reachable"] || !names["NAT"] || !names["relay"] {
		t.Errorf("doctor's network section: the live anchor answers %v, the dead one does not %v; checks %v\n%s", answers, silent, names, out)
	}
	out, _, _ = cli(t, "--data", home, "doctor", "--iface", "lo")
	t.Logf("doctor:\n%s", out)
	if !strings.Contains(out, "does not answer") || !strings.Contains(out, "7781") {
		t.Errorf("doctor (text) says nothing of the anchors or what to do:\n%s", out)
	}

	out, _, _ = cli(t, "--data", home, "peers", "--json")
	var peers []map[string]any
	if err := json.Unmarshal([]byte(out), &peers); err != nil || len(peers) != 1 {
		t.Fatalf("peers --json: %v %s", err, out)
	}
	for _, k := range []string{"path", "rtt_ms"} {
		if _, ok := peers[0][k]; !ok {
			t.Errorf("peers --json lacks %q: %v", k, peers[0])
		}
	}
	if out, _, _ := cli(t, "--data", home, "peers"); !strings.Contains(out, "PATH") || !strings.Contains(out, "RTT") {
		t.Errorf("peers:\n%s", out)
	}
	if out, _, _ := cli(t, "--data", home, "status"); !strings.Contains(out, "reachability:") || !strings.Contains(out, anchorID) {
		t.Errorf("status:\n%s", out)
	}

	if out, stderr, code := cli(t, "--data", home, "anchor", "rm", anchorAddr); code != 0 || !strings.Contains(out, "removed anchor") {
		t.Errorf("anchor rm (running): exit %d, %q %q", code, out, stderr)
	}
	if _, stderr, code := cli(t, "--data", home, "anchor", "rm", anchorID); code == 0 || !strings.Contains(stderr, "no configured anchor") {
		t.Errorf("anchor rm again: exit %d, %q", code, stderr)
	}
	if _, stderr, code := cli(t, "--data", home, "anchor", "rm", "nonsense"); code != 2 {
		t.Errorf("anchor rm nonsense: exit %d, %q; want 2", code, stderr)
	}
}
