package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/porchlight-mesh/porchlight/node"
)

// The README also quotes commands inline, in prose. Those are examples with
// placeholders or machine-specific values; where each is exercised:
//
//	porchlight run --peer /ip4/.../p2p/...   TestShareWorkflow (run --peer)
//	share --to <PEER_ID> --clips <CLIP_ID>    TestShareWorkflow
//	clips fetch, grants revoke <GRANT_ID>     TestShareWorkflow
//	ui --print                                TestRunPostFeedStop
//	demo --exit                               TestDemoExit, and CI (.ci/run)
//	completion bash|zsh|fish                  TestCompletion
//	porchlight version                        TestVersion
//	--log-format json                         TestDoctorAndJSONLogsWithRunningNode
//	make build / make pi / make service       not run by tests (minutes of compiling);
//	                                          the unit is checked by TestSystemdUnit
//	sudo -u porchlight porchlight --data /var/lib/porchlight status
//	                                          not run: needs root and the installed service
//	go test -run '^$' -fuzz ... ./record/     not run: fuzzing takes as long as asked
//	go generate ./cmd/porchlight              TestCLIDocsUpToDate checks its output
//	members remove, mute PEER_ID              TestMembershipCLI
//	requests audit-yield <REQUEST_ID>         TestRequestsWorkflow
//	init --charter <CHARTER_ID> (an agency)   node.TestInviteOnlyStreet (an agency's node
//	                                          with the charter, not a member)

// readmeSkipped are the README commands this test does not run, and what
// runs them instead.
var readmeSkipped = map[string]string{
	"go run ./cmd/porchlight demo":                                    "TestDemoExit and TestDemoKeepsRunning run the demo command of this binary; CI runs `go run ./cmd/porchlight demo --exit`",
	"go test ./...":                                                   "CI (.ci/run) runs it; it is what runs this test",
	"go build -o porchlight ./cmd/porchlight":                         "TestMain builds the binary under test the same way (go build -o FILE .)",
	"porchlight run --anchor":                                         "TestAnchorCLI runs a node with --anchor (on 127.0.0.1) and checks that its status says anchor",
	"porchlight anchor add /ip4/203.0.113.7/tcp/7781/p2p/12D3KooW...": "the address is an example; TestAnchorCLI adds a running anchor's real address (and a dead one), stopped and running",
	"porchlight anchor ls --probe":                                    "TestAnchorCLI lists the anchors with --probe against a running anchor and a dead one",
}

// readmeStep is one README command as this test runs it, in an order that
// makes a story: home, issuer and agency (and the founder of an
// invite-only neighborhood and the neighbor it invites) each have a data directory
// (PORCHLIGHT_DATA, as the README says the default is) and share one
// working directory (the files they hand each other).
type readmeStep struct {
	cmd     string // exactly as in the README
	role    string // "home", "agency" or "issuer"
	bg      bool   // a long-running node: start it and wait until its API answers
	until   string // rerun (for up to 30 s) until stdout contains this
	want    string // stdout must contain this
	capture string // set this placeholder from the last line of stdout ("json:KEY": from the JSON)
}

var readmeSteps = []readmeStep{
	{cmd: "porchlight issuer init --out county.issuer", role: "issuer", capture: "<ISSUER_ID>"},
	{cmd: `porchlight init --name "Blue door" --found "Maple St" --location 40.7128,-74.0060`, role: "founder", want: "founded the invite-only neighborhood"},
	{cmd: "porchlight run", role: "founder", bg: true},
	{cmd: "porchlight invite create", role: "founder", want: "porchlight:", capture: "<INVITE>"},
	{cmd: `porchlight join <INVITE> --name "Green gate" --location 40.7131,-74.0057`, role: "neighbor", want: "is a member"},
	{cmd: "porchlight run", role: "neighbor", bg: true},
	{cmd: "porchlight members", role: "neighbor", until: "Blue door"}, // the founder's name comes with its profile, by sync
	{cmd: `porchlight init --name "Blue door" --neighborhood maple-st --location 40.7128,-74.0060`, role: "home"},
	{cmd: "porchlight run", role: "home", bg: true},
	{cmd: "porchlight status", role: "home", want: "Blue door"},
	{cmd: "porchlight doctor", role: "home", want: "answers with the token"},
	{cmd: `porchlight post "Street party Saturday" --kind event`, role: "home", capture: "<POST_ID>"},
	{cmd: "porchlight feed", role: "home", want: "Street party Saturday"},
	{cmd: "porchlight peers --json", role: "home", want: "["},
	{cmd: "porchlight ui", role: "home", want: "Logged in"},
	{cmd: "porchlight trust add <ISSUER_ID>", role: "home"},
	{cmd: "porchlight clips import front-door-2026-11-27T19-42-10Z.mp4 --camera front-door", role: "home", capture: "<CLIP_ID>"},
	{cmd: "porchlight clips ls", role: "home", want: "front-door"},
	{cmd: `porchlight init --name "Springfield PD" --neighborhood maple-st`, role: "agency"},
	{cmd: "porchlight run", role: "agency", bg: true},
	{cmd: "porchlight status --json", role: "agency", capture: "json:peer_id"},
	{cmd: "porchlight trust add <ISSUER_ID>", role: "agency"},
	{cmd: `porchlight issuer certify --key county.issuer --agency <AGENCY_PEER_ID> --name "Springfield PD" --jurisdiction circle:40.7128,-74.0060,5000 --valid 365d --out spd.credential`, role: "issuer"},
	{cmd: "porchlight agency credential spd.credential", role: "agency"},
	{cmd: `porchlight request create --case 2026-1142 --incident "package theft" --area circle:40.7130,-74.0055,300 --from 2026-11-27T18:00:00Z --to 2026-11-27T21:00:00Z --contact "det. desk 555-0100" --description "Parcel taken from a porch"`, role: "agency", capture: "<REQUEST_ID>"},
	{cmd: "porchlight requests", role: "home", until: "2026-1142", want: "covered, 1 clip(s) in window"},
	{cmd: "porchlight agencies --json", role: "home", want: "Springfield PD"},
	{cmd: "porchlight share --request <REQUEST_ID> --clips <CLIP_ID> --expires 7d --yes", role: "home"},
	{cmd: "porchlight grants", role: "home", want: "active"},
	{cmd: "porchlight evidence", role: "agency", until: "<CLIP_ID>"},
	{cmd: "porchlight evidence export <CLIP_ID> --out case-2026-1142.tar", role: "agency"},
	{cmd: "porchlight verify case-2026-1142.tar", role: "agency", want: "verified"},
	{cmd: "porchlight audit", role: "home", want: "served"},
	{cmd: `porchlight request close <REQUEST_ID> --note "suspect identified"`, role: "agency"},
	{cmd: "porchlight retract <POST_ID>", role: "home"},
	{cmd: "porchlight issuer revoke --key county.issuer --credential spd.credential --out spd.revocation", role: "issuer"},
	{cmd: "porchlight publish spd.revocation", role: "home"},
}

// readmeCommands returns the lines of the README's ```sh blocks.
func readmeCommands(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var cmds []string
	in := false
	for _, l := range strings.Split(string(b), "\n") {
		switch {
		case strings.HasPrefix(l, "```"):
			in = !in && strings.TrimSpace(l) == "```sh"
		case in && strings.TrimSpace(l) != "" && !strings.HasPrefix(strings.TrimSpace(l), "#"):
			cmds = append(cmds, strings.TrimSpace(l))
		}
	}
	return cmds
}

// shellWords splits a command line as a POSIX shell would for the simple
// forms the README uses: words, and double-quoted strings.
func shellWords(s string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord, quoted := false, false
	for _, r := range s {
		switch {
		case r == '"':
			quoted, inWord = !quoted, true
		case r == ' ' && !quoted:
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		case strings.ContainsRune("$`\\|&;<>()*?'", r) && !quoted:
			return nil, fmt.Errorf("%q: shell syntax %q is not supported here", s, r)
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if quoted {
		return nil, fmt.Errorf("%q: unterminated quote", s)
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}

// TestREADMECommands runs every command of the README's command blocks as
// written, against real nodes on 127.0.0.1 (or names the test that covers
// it), and fails when the README gains a command this test does not know.
//
// What the test changes around the commands, and why: after each `init` it
// sets api = 127.0.0.1:0, listen = 127.0.0.1:0 and disable_mdns in
// config.toml so that tests never take the real ports or multicast on the
// host; the agency gets the home as a static peer (the README's advice for
// networks without multicast). The clip file is copied from
// clips/testdata into the working directory.
func TestREADMECommands(t *testing.T) {
	known := map[string]bool{}
	for _, s := range readmeSteps {
		known[s.cmd] = true
	}
	readme := map[string]bool{}
	for _, c := range readmeCommands(t) {
		readme[c] = true
		if !known[c] && readmeSkipped[c] == "" {
			t.Errorf("README command %q is neither run by this test nor listed in readmeSkipped", c)
		}
	}
	for c := range known {
		if !readme[c] {
			t.Errorf("readmeSteps runs %q, which is not in the README (any more)", c)
		}
	}
	for c := range readmeSkipped {
		if !readme[c] {
			t.Errorf("readmeSkipped lists %q, which is not in the README (any more)", c)
		}
	}
	if t.Failed() {
		return
	}

	root := t.TempDir()
	work := filepath.Join(root, "work")
	os.MkdirAll(work, 0o700)
	clip, err := os.ReadFile("../../clips/testdata/front-door-2026-11-27T19-42-10Z.mp4")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(work, "front-door-2026-11-27T19-42-10Z.mp4"), clip, 0o600)
	data := map[string]string{
		"home": filepath.Join(root, "home"), "agency": filepath.Join(root, "agency"), "issuer": filepath.Join(root, "issuer"),
		"founder": filepath.Join(root, "founder"), "neighbor": filepath.Join(root, "neighbor"),
	}
	noPath := filepath.Join(root, "empty-path") // so `ui` finds no browser to open
	os.MkdirAll(noPath, 0o700)
	vars := map[string]string{}
	expand := func(s string) string {
		for k, v := range vars {
			s = strings.ReplaceAll(s, k, v)
		}
		return s
	}
	command := func(step readmeStep) *exec.Cmd {
		words, err := shellWords(expand(step.cmd))
		if err != nil {
			t.Fatal(err)
		}
		if words[0] != "porchlight" {
			t.Fatalf("%q: only porchlight commands run here", step.cmd)
		}
		c := exec.Command(binary, words[1:]...)
		c.Dir = work
		c.Env = append(os.Environ(), "PORCHLIGHT_DATA="+data[step.role])
		c.Env = append(c.Env, fakeBrowserEnviron(t)[:2]...)
		c.Env = append(c.Env, "PATH="+noPath)
		return c
	}
	var homeAddr string
	for _, step := range readmeSteps {
		if strings.Contains(expand(step.cmd), "<") {
			t.Fatalf("%q: a placeholder was never captured", step.cmd)
		}
		if step.bg {
			c := command(step)
			var logs bytes.Buffer
			c.Stderr = &logs
			if err := c.Start(); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- c.Wait() }()
			t.Cleanup(func() {
				c.Process.Signal(syscall.SIGTERM)
				<-done
			})
			st := waitStatus(t, data[step.role], &logs)
			if step.role == "home" {
				addrs, _ := st["addrs"].([]any)
				if len(addrs) == 0 {
					t.Fatalf("home status has no addrs: %v", st)
				}
				homeAddr = addrs[0].(string)
				if !strings.Contains(homeAddr, "/p2p/") {
					homeAddr += "/p2p/" + st["peer_id"].(string)
				}
			}
			continue
		}
		deadline := time.Now().Add(30 * time.Second)
		for {
			c := command(step)
			var out, errb bytes.Buffer
			c.Stdout, c.Stderr = &out, &errb
			err := c.Run()
			var ee *exec.ExitError
			if err != nil && !errors.As(err, &ee) {
				t.Fatal(err)
			}
			if err != nil {
				t.Fatalf("README command %q: %v\nstdout:\n%s\nstderr:\n%s", expand(step.cmd), err, out.String(), errb.String())
			}
			if step.until != "" && !strings.Contains(out.String(), expand(step.until)) {
				if time.Now().After(deadline) {
					t.Fatalf("README command %q: no %q in its output within 30s:\n%s", expand(step.cmd), expand(step.until), out.String())
				}
				time.Sleep(100 * time.Millisecond)
				continue
			}
			if step.want != "" && !strings.Contains(out.String(), expand(step.want)) {
				t.Fatalf("README command %q: want %q in\n%s", expand(step.cmd), expand(step.want), out.String())
			}
			switch {
			case strings.HasPrefix(step.capture, "json:"):
				var v map[string]any
				if err := json.Unmarshal(out.Bytes(), &v); err != nil {
					t.Fatalf("%q: %v in %s", step.cmd, err, out.String())
				}
				vars["<AGENCY_PEER_ID>"] = v[strings.TrimPrefix(step.capture, "json:")].(string)
			case step.capture != "":
				vars[step.capture] = lastLine(out.String())
			}
			break
		}
		if strings.HasPrefix(step.cmd, "porchlight init ") || strings.HasPrefix(step.cmd, "porchlight join ") {
			testOnlyConfig(t, data[step.role], step.role, homeAddr)
		}
	}
}

// testOnlyConfig keeps a README node off the host's real ports and
// multicast; an agency dials the home directly.
func testOnlyConfig(t *testing.T, dir, role, homeAddr string) {
	t.Helper()
	cfg, err := node.LoadConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	cfg.API, cfg.Listen, cfg.DisableMDNS = "127.0.0.1:0", []string{"/ip4/127.0.0.1/tcp/0"}, true
	if role == "agency" {
		cfg.Peers = []string{homeAddr}
	}
	if err := node.SaveConfig(dir, cfg.Config); err != nil {
		t.Fatal(err)
	}
}
