package lab

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"
)

// TestEquivocationAcrossPartition: an agency's node is cloned (its data
// directory copied, identity and log included) onto the other side of a
// partition, and each copy closes the same request with a different note,
// so the agency's log forks: two different records at one seq. After the
// heal every node must flag the agency as equivocating within healTimeout.
func TestEquivocationAcrossPartition(t *testing.T) {
	checkPrerequisites(t)
	bin := buildBinary(t, t.TempDir())
	l := newLab(t, bin)
	ctx := t.Context()
	issuerKey, issuer := newIssuer(t, l, bin)
	var hosts []*host
	for i := range 5 {
		hosts = append(hosts, l.addHost(fmt.Sprintf("%d Ash St", i+1), "ash-st", "--trust-issuer", issuer))
	}
	agency, clone := hosts[0], hosts[4]
	west, east := hosts[:2], []*host{hosts[2], hosts[3], clone}
	other := l.addBridge()
	for _, h := range hosts[:4] {
		h.start()
	}
	for _, h := range hosts[:4] {
		waitReady(t, h)
	}
	poll(t, "mDNS discovery among h1..h4", discoveryTimeout, 250*time.Millisecond, func() error {
		for _, h := range hosts[:4] {
			ps, err := h.peers(ctx)
			if err != nil {
				return err
			}
			for _, o := range hosts[:4] {
				if o != h && !listsPeer(ps, o.peerID) {
					return fmt.Errorf("%s does not list %s yet", h.label, o.label)
				}
			}
		}
		return nil
	})
	certify(t, l, bin, issuerKey, agency, "Ash PD")
	from := time.Now().Add(-3 * time.Hour).UTC().Truncate(time.Second)
	out, err := agency.cli(ctx, "request", "create", "--case", "ASH-9", "--incident", "hit and run",
		"--area", "circle:40.7140,-74.0055,300", "--from", from.Format(time.RFC3339), "--to", from.Add(2*time.Hour).Format(time.RFC3339),
		"--contact", "desk 555-0100")
	if err != nil {
		t.Fatalf("request create: %v", err)
	}
	reqID := lastLine(string(out))
	poll(t, "every node holds the request", propagationTimeout, 100*time.Millisecond, func() error {
		for _, h := range hosts[:4] {
			if st := requestStatus(t, h, reqID); st != "open" {
				return fmt.Errorf("%s: request is %q", h.label, st)
			}
		}
		return nil
	})

	// The clone: h1's data directory, stopped cleanly, copied to h5.
	agency.stop(stopTimeout)
	if err := os.RemoveAll(clone.dir); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("cp", "-a", agency.dir, clone.dir).CombinedOutput(); err != nil {
		t.Fatalf("copy the agency's data directory: %v: %s", err, out)
	}
	clone.name = agency.name
	for _, h := range east {
		l.must("link", "set", h.veth, "master", other)
	}
	agency.start()
	clone.start()
	waitReady(t, agency)
	waitReady(t, clone)
	if clone.peerID != agency.peerID {
		t.Fatalf("the clone is %s, the agency %s", clone.peerID, agency.peerID)
	}
	for _, c := range []struct {
		h    *host
		note string
	}{{agency, "closed: suspect found (west)"}, {clone, "closed: false alarm (east)"}} {
		if _, err := c.h.cli(ctx, "request", "close", reqID, "--note", c.note); err != nil {
			t.Fatalf("%s: request close: %v", c.h.label, err)
		}
	}
	// Each side sees its own close, and nobody sees a fork yet.
	poll(t, "each side holds its own close", propagationTimeout, 100*time.Millisecond, func() error {
		for _, h := range append(append([]*host{}, west...), east...) {
			if st := requestStatus(t, h, reqID); st != "closed" {
				return fmt.Errorf("%s: request is %q", h.label, st)
			}
			if equivocating(t, h, agency.peerID) {
				t.Fatalf("%s flags the agency before the heal", h.label)
			}
		}
		return nil
	})

	for _, h := range east {
		l.must("link", "set", h.veth, "master", l.bridge)
	}
	healed := time.Now()
	poll(t, "every node flags the agency after the heal", healTimeout, 200*time.Millisecond, func() error {
		for _, h := range hosts {
			if !equivocating(t, h, agency.peerID) {
				return fmt.Errorf("%s does not flag the agency yet", h.label)
			}
		}
		return nil
	})
	t.Logf("FIGURE equivocation: all five nodes (both copies of the agency included) flag the agency %v after the heal", time.Since(healed).Round(time.Millisecond))
}

// equivocating reports whether h's `agencies --json` flags agency.
func equivocating(t *testing.T, h *host, agency string) bool {
	t.Helper()
	out, err := h.cli(t.Context(), "agencies", "--json")
	if err != nil {
		t.Fatalf("%s: agencies: %v", h.label, err)
	}
	var ags []map[string]any
	if err := json.Unmarshal(out, &ags); err != nil {
		t.Fatalf("%s: agencies --json: %v in %q", h.label, err, out)
	}
	for _, a := range ags {
		if a["peer_id"] == agency {
			return a["equivocation"] == true
		}
	}
	return false
}
