package lab

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// healTimeout is the bound: every node holds every record within
// 15 s of the links coming back.
const healTimeout = 15 * time.Second

// partitionHold is how long the sides stay apart at least: past the time
// TCP keeps retransmitting quickly, so the heal relies on the mesh, not on
// the kernel resending what was queued. PORCHLIGHT_LONG=1: a minute, past
// libp2p's keep-alives.
func partitionHold() time.Duration {
	if longRun() {
		return time.Minute
	}
	return 10 * time.Second
}

// TestPartitionAndHeal runs six homes of one neighborhood, splits them 3/3
// by moving h4..h6's links onto a second bridge, has both sides post and an
// agency on one side publish a request and close it, and heals: every node
// must then hold every post, once, and the closed request, within
// healTimeout.
func TestPartitionAndHeal(t *testing.T) {
	checkPrerequisites(t)
	bin := buildBinary(t, t.TempDir())
	l := newLab(t, bin)
	ctx := t.Context()
	issuerKey, issuer := newIssuer(t, l, bin)
	var hosts []*host
	for i := range 6 {
		hosts = append(hosts, l.addHost(fmt.Sprintf("%d Elm St", i+1), "elm-st", "--trust-issuer", issuer))
	}
	west, east := hosts[:3], hosts[3:]
	other := l.addBridge()
	for _, h := range hosts {
		h.start()
	}
	for _, h := range hosts {
		waitReady(t, h)
	}
	launched := time.Now()
	poll(t, "mDNS discovery among all six", discoveryTimeout, 250*time.Millisecond, func() error {
		for _, h := range hosts {
			ps, err := h.peers(ctx)
			if err != nil {
				return err
			}
			for _, o := range hosts {
				if o != h && !listsPeer(ps, o.peerID) {
					return fmt.Errorf("%s does not list %s yet (has %d peers)", h.label, o.label, len(ps))
				}
			}
		}
		return nil
	})
	t.Logf("FIGURE partition: six nodes all connected %v after their APIs answered", time.Since(launched).Round(time.Millisecond))

	// h1 is also the county's police: certified before the split.
	agency := hosts[0]
	certify(t, l, bin, issuerKey, agency, "Elm PD")

	for _, h := range east {
		l.must("link", "set", h.veth, "master", other)
	}
	split := time.Now()
	want := map[string]*host{}
	sides := map[*host][]*host{}
	for _, h := range west {
		sides[h] = west
	}
	for _, h := range east {
		sides[h] = east
	}
	for i, h := range []*host{hosts[0], hosts[1], hosts[3], hosts[4], hosts[0], hosts[5]} {
		id := h.post(ctx, fmt.Sprintf("post %d from %s during the partition (lab %s)", i+1, h.label, l.suffix))
		want[id] = h
	}
	// Each side gets its own side's posts, and none of the other's.
	poll(t, "each side holds its own posts", propagationTimeout, 100*time.Millisecond, func() error {
		for _, h := range hosts {
			feed, err := h.feed(ctx)
			if err != nil {
				return err
			}
			own := map[string]*host{}
			for id, a := range want {
				if sides[a][0] == sides[h][0] {
					own[id] = a
				} else if _, ok := findPost(feed, id); ok {
					t.Fatalf("%s holds %s's post %s across the partition: the split leaks", h.label, a.label, id)
				}
			}
			if err := hasAll(feed, own); err != nil {
				return fmt.Errorf("%s: %w", h.label, err)
			}
		}
		return nil
	})
	from := time.Now().Add(-3 * time.Hour).UTC().Truncate(time.Second)
	out, err := agency.cli(ctx, "request", "create", "--case", "ELM-77", "--incident", "car break-in",
		"--area", "circle:40.7140,-74.0055,300", "--from", from.Format(time.RFC3339), "--to", from.Add(2*time.Hour).Format(time.RFC3339),
		"--contact", "desk 555-0100", "--description", "cameras facing Elm St")
	if err != nil {
		t.Fatalf("request create: %v", err)
	}
	reqID := lastLine(string(out))
	if _, err := agency.cli(ctx, "request", "close", reqID, "--note", "suspect identified"); err != nil {
		t.Fatalf("request close: %v", err)
	}
	if hold := partitionHold() - time.Since(split); hold > 0 {
		time.Sleep(hold) // the partition itself is what is under test
	}
	for _, h := range east {
		if st := requestStatus(t, h, reqID); st != "" {
			t.Fatalf("%s sees the request (%s) across the partition", h.label, st)
		}
	}
	t.Logf("partitioned for %v; both sides posted, the agency on h1's side published request %.12s and closed it", time.Since(split).Round(time.Millisecond), reqID)

	for _, h := range east {
		l.must("link", "set", h.veth, "master", l.bridge)
	}
	healed := time.Now()
	poll(t, "every node holds every post after the heal", healTimeout, 100*time.Millisecond, func() error {
		for _, h := range hosts {
			feed, err := h.feed(ctx)
			if err != nil {
				return err
			}
			if err := hasAll(feed, want); err != nil {
				return fmt.Errorf("%s: %w", h.label, err)
			}
			if st := requestStatus(t, h, reqID); st != "closed" {
				return fmt.Errorf("%s: request %.12s is %q, want closed", h.label, reqID, st)
			}
			seen := map[string]bool{}
			for _, p := range feed {
				if seen[p.ID] {
					t.Fatalf("%s lists post %s twice", h.label, p.ID)
				}
				seen[p.ID] = true
			}
		}
		return nil
	})
	t.Logf("FIGURE partition: all six nodes hold all %d posts, once each, and the closed request %v after the heal", len(want), time.Since(healed).Round(time.Millisecond))
}

// requestStatus is the status of request id in h's `requests --json`, ""
// when h does not list it.
func requestStatus(t *testing.T, h *host, id string) string {
	t.Helper()
	out, err := h.cli(t.Context(), "requests", "--json")
	if err != nil {
		t.Fatalf("%s: requests: %v", h.label, err)
	}
	var reqs []map[string]any
	if err := json.Unmarshal(out, &reqs); err != nil {
		t.Fatalf("%s: requests --json: %v in %q", h.label, err, out)
	}
	for _, r := range reqs {
		if r["id"] == id {
			s, _ := r["status"].(string)
			return s
		}
	}
	return ""
}

// newIssuer makes an issuer key in the lab's directory and returns its
// file and the issuer's ID.
func newIssuer(t *testing.T, l *lab, bin string) (keyFile, id string) {
	t.Helper()
	keyFile = filepath.Join(l.dir, "county.issuer")
	out, err := exec.Command(bin, "issuer", "init", "--out", keyFile).Output()
	if err != nil {
		t.Fatalf("issuer init: %v", err)
	}
	return keyFile, lastLine(string(out))
}

// certify has the issuer certify agency as name, for 5 km around city
// hall, and installs the credential on the agency's node.
func certify(t *testing.T, l *lab, bin, issuerKey string, agency *host, name string) {
	t.Helper()
	credFile := filepath.Join(l.dir, agency.peerID+".credential")
	if out, err := exec.Command(bin, "issuer", "certify", "--key", issuerKey, "--agency", agency.peerID, "--name", name,
		"--jurisdiction", "circle:40.7128,-74.0060,5000", "--valid", "365d", "--out", credFile).CombinedOutput(); err != nil {
		t.Fatalf("certify: %v: %s", err, out)
	}
	if _, err := agency.cli(t.Context(), "agency", "credential", credFile); err != nil {
		t.Fatalf("agency credential: %v", err)
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

// longRun reports whether the long variants were asked for.
func longRun() bool { return os.Getenv("PORCHLIGHT_LONG") != "" }
