// Package lab runs real porchlight processes in Linux network namespaces
// joined by a bridge: real mDNS discovery, gossip and catch-up sync between
// separate "homes" (README, Tests; docs/reliability.md lists what each test
// checks). It needs root and iproute2; without them the tests skip, unless
// PORCHLIGHT_REQUIRE_LAB=1 (set in CI), which makes them fail instead.
//
//	PORCHLIGHT_REQUIRE_LAB=1 go test -count=1 -v ./lab/   # as root
package lab

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// Deadlines of the checks.
const (
	readyTimeout       = 15 * time.Second
	discoveryTimeout   = 30 * time.Second
	propagationTimeout = 10 * time.Second
	catchUpTimeout     = 20 * time.Second
	stopTimeout        = 15 * time.Second
)

// TestLab runs four homes: h1..h3 in neighborhood maple-st, h4 in oak-ave.
// The maple-st nodes must find each other by mDNS alone (no --peer), pass a
// post around live, and a node that was off must catch up by sync; h4 must
// never be connected to any of them.
func TestLab(t *testing.T) {
	checkPrerequisites(t)
	bin := buildBinary(t, t.TempDir())
	l := newLab(t, bin)
	ctx := t.Context()

	h1 := l.addHost("1 Maple St", "maple-st")
	h2 := l.addHost("2 Maple St", "maple-st")
	h3 := l.addHost("3 Maple St", "maple-st")
	h4 := l.addHost("4 Oak Ave", "oak-ave")
	maple := []*host{h1, h2, h3}
	t.Logf("lab %s: bridge %s, subnet %s.0/24, namespaces %s..%s", l.suffix, l.bridge, l.subnet, h1.ns, h4.ns)

	launched := time.Now()
	for _, h := range l.hosts {
		h.start()
	}
	for _, h := range l.hosts {
		waitReady(t, h)
	}
	t.Logf("all 4 nodes answering on their API %v after launch", time.Since(launched).Round(time.Millisecond))

	watch := watchIsolation(ctx, l.hosts)
	t.Cleanup(func() { watch.stop() })

	t.Run("discovery", func(t *testing.T) {
		poll(t, "mDNS discovery among h1..h3", discoveryTimeout, 250*time.Millisecond, func() error {
			for _, h := range maple {
				ps, err := h.peers(ctx)
				if err != nil {
					return err
				}
				for _, o := range maple {
					if o != h && !listsPeer(ps, o.peerID) {
						return fmt.Errorf("%s does not list %s yet (has %d peers)", h.label, o.label, len(ps))
					}
				}
			}
			return nil
		})
		t.Logf("FIGURE discovery: h1..h3 all connected %v after launch", time.Since(launched).Round(time.Millisecond))
	})
	if t.Failed() {
		return // the other checks need the mesh
	}

	// Posts every maple-st node must end up with: ID -> author.
	want := map[string]*host{}

	t.Run("propagation", func(t *testing.T) {
		text := "Lost grey cat near the park (lab " + l.suffix + ")"
		id := h1.post(ctx, text, "--kind", "lost-found")
		posted := time.Now()
		want[id] = h1
		latency := map[*host]time.Duration{}
		poll(t, "live post from h1 on h2 and h3", propagationTimeout, 50*time.Millisecond, func() error {
			for _, h := range []*host{h2, h3} {
				if _, ok := latency[h]; ok {
					continue
				}
				feed, err := h.feed(ctx)
				if err != nil {
					return err
				}
				p, ok := findPost(feed, id)
				if !ok {
					return fmt.Errorf("%s has %d posts, not %s", h.label, len(feed), id)
				}
				latency[h] = time.Since(posted)
				checkPost(t, h, p, h1)
				if p.Text != text || p.Kind != "lost-found" {
					t.Errorf("%s: post %s is %q of kind %q, want %q of kind lost-found", h.label, id, p.Text, p.Kind, text)
				}
			}
			return nil
		})
		t.Logf("FIGURE propagation latency (post command returned -> seen via feed --json): h2 %v, h3 %v",
			latency[h2].Round(time.Millisecond), latency[h3].Round(time.Millisecond))
	})

	// A post in oak-ave must stay there.
	oakID := h4.post(ctx, "Oak Ave block party (lab "+l.suffix+")")

	t.Run("catch-up", func(t *testing.T) {
		took := h3.stop(stopTimeout)
		t.Logf("h3 exited with status 0 %v after SIGTERM", took.Round(time.Millisecond))

		var missed []string
		for i := range 3 {
			id := h1.post(ctx, fmt.Sprintf("h1 post %d while h3 was off (lab %s)", i+1, l.suffix))
			want[id] = h1
			missed = append(missed, id)
		}
		for i := range 2 {
			id := h2.post(ctx, fmt.Sprintf("h2 post %d while h3 was off (lab %s)", i+1, l.suffix))
			want[id] = h2
			missed = append(missed, id)
		}

		h3.start()
		restarted := time.Now()
		var reconnected time.Duration
		poll(t, "h3 catching up on the 5 posts it missed", catchUpTimeout, 100*time.Millisecond, func() error {
			if reconnected == 0 {
				if ps, err := h3.peers(ctx); err == nil && listsPeer(ps, h1.peerID) && listsPeer(ps, h2.peerID) {
					reconnected = time.Since(restarted)
				}
			}
			feed, err := h3.feed(ctx)
			if err != nil {
				return err
			}
			return hasAll(feed, want)
		})
		caughtUp := time.Since(restarted)
		if st, err := h3.status(ctx); err != nil {
			t.Fatal(err)
		} else if st.PeerID != h3.peerID {
			t.Errorf("h3 came back as %s, was %s: the identity did not survive a restart", st.PeerID, h3.peerID)
		}
		feed, err := h3.feed(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for id, author := range want {
			p, _ := findPost(feed, id)
			checkPost(t, h3, p, author)
		}
		seen := "not observed before it caught up"
		if reconnected > 0 {
			seen = reconnected.Round(time.Millisecond).String()
		}
		t.Logf("FIGURE catch-up: h3 restarted, listed h1 and h2 after %s, had all %d missed posts (and %d in all) after %v",
			seen, len(missed), len(want), caughtUp.Round(time.Millisecond))
	})

	t.Run("isolation", func(t *testing.T) {
		// The end-of-test check; the watcher has been checking since launch.
		byID := hostsByID(l.hosts)
		for _, h := range l.hosts {
			if !h.running() {
				t.Errorf("%s is not running (an earlier check failed?); not checked", h.label)
				continue
			}
			ps, err := h.peers(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, v := range crossNeighborhood(h, ps, byID) {
				t.Error(v)
			}
			feed, err := h.feed(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range feed {
				if a := byID[p.Author]; a != nil && a.neighborhood != h.neighborhood {
					t.Errorf("%s (%s) has post %s by %s (%s)", h.label, h.neighborhood, p.ID, a.label, a.neighborhood)
				}
			}
		}
		// And from the oak-ave side: h4 has its own post and nothing else.
		feed, err := h4.feed(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := findPost(feed, oakID); !ok || len(feed) != 1 {
			t.Errorf("h4's feed has %d posts, want only its own %s", len(feed), oakID)
		}
		rounds, violations := watch.stop()
		for _, v := range violations {
			t.Error("during the test:", v)
		}
		t.Logf("isolation: %d watcher rounds over the whole test saw no cross-neighborhood peer", rounds)
		if rounds < 3 {
			t.Errorf("the isolation watcher only completed %d rounds; the check proves little", rounds)
		}
		logNotes(t, l)
	})
}

// waitReady waits until the node answers status and records its peer ID.
func waitReady(t *testing.T, h *host) {
	t.Helper()
	var st statusJSON
	poll(t, h.label+" API up", readyTimeout, 100*time.Millisecond, func() error {
		if !h.running() {
			return errors.New("not running")
		}
		var err error
		st, err = h.status(t.Context())
		return err
	})
	if st.Name != h.name || st.Neighborhood != h.neighborhood || st.PeerID == "" {
		t.Fatalf("%s status: name %q neighborhood %q peer %q, want %q in %q", h.label, st.Name, st.Neighborhood, st.PeerID, h.name, h.neighborhood)
	}
	h.peerID = st.PeerID
}

// checkPost checks the authorship of a post as seen on h: the author's
// peer ID, and as author_name the --name the author was initialized with.
func checkPost(t *testing.T, h *host, p postJSON, author *host) {
	t.Helper()
	if p.Author != author.peerID {
		t.Errorf("%s: post %s has author %s, want %s (%s)", h.label, p.ID, p.Author, author.peerID, author.label)
	}
	if p.AuthorName != author.name {
		t.Errorf("%s: post %s has author_name %q, want %s's --name %q", h.label, p.ID, p.AuthorName, author.label, author.name)
	}
}

func listsPeer(ps []peerJSON, id string) bool {
	return slices.ContainsFunc(ps, func(p peerJSON) bool { return p.PeerID == id })
}

func findPost(feed []postJSON, id string) (postJSON, bool) {
	i := slices.IndexFunc(feed, func(p postJSON) bool { return p.ID == id })
	if i < 0 {
		return postJSON{}, false
	}
	return feed[i], true
}

func hasAll(feed []postJSON, want map[string]*host) error {
	var missing []string
	for id, author := range want {
		if _, ok := findPost(feed, id); !ok {
			missing = append(missing, author.label+":"+id)
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		return fmt.Errorf("%d of %d posts missing (%d in feed): %s", len(missing), len(want), len(feed), strings.Join(missing, ", "))
	}
	return nil
}

func hostsByID(hosts []*host) map[string]*host {
	m := map[string]*host{}
	for _, h := range hosts {
		m[h.peerID] = h
	}
	return m
}

// crossNeighborhood describes each peer in h's list that belongs to
// another neighborhood.
func crossNeighborhood(h *host, ps []peerJSON, byID map[string]*host) []string {
	var out []string
	for _, p := range ps {
		if o := byID[p.PeerID]; o != nil && o.neighborhood != h.neighborhood {
			out = append(out, fmt.Sprintf("%s (%s) lists %s (%s, %s) as a peer", h.label, h.neighborhood, o.label, o.neighborhood, p.PeerID))
		}
	}
	return out
}

// isolationWatch polls every running node's peers in the background for
// the whole test, since a cross-neighborhood connection could come and go
// between the explicit checks.
type isolationWatch struct {
	cancel     context.CancelFunc
	wg         sync.WaitGroup
	mu         sync.Mutex
	rounds     int
	violations []string
}

func watchIsolation(ctx context.Context, hosts []*host) *isolationWatch {
	ctx, cancel := context.WithCancel(ctx)
	w := &isolationWatch{cancel: cancel}
	byID := hostsByID(hosts)
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		tick := time.NewTicker(500 * time.Millisecond)
		defer tick.Stop()
		for {
			for _, h := range hosts {
				if !h.running() {
					continue
				}
				// Errors are expected while a node stops or starts.
				if ps, err := h.peers(ctx); err == nil {
					v := crossNeighborhood(h, ps, byID)
					w.mu.Lock()
					w.violations = append(w.violations, v...)
					w.mu.Unlock()
				}
			}
			w.mu.Lock()
			w.rounds++
			w.mu.Unlock()
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	return w
}

// stop ends the watcher and returns what it saw. Safe to call twice.
func (w *isolationWatch) stop() (rounds int, violations []string) {
	w.cancel()
	w.wg.Wait()
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.rounds, w.violations
}

// logNotes reports what the node logs say about neighborhood separation,
// for the reader rather than as a verdict (log wording is not an API).
func logNotes(t *testing.T, l *lab) {
	t.Helper()
	for _, h := range l.hosts {
		b, err := os.ReadFile(h.logPath)
		if err != nil {
			t.Error(err)
			continue
		}
		s := string(b)
		t.Logf("%s log: %d mDNS answers from another neighborhood ignored, %d connections dropped as not of this neighborhood",
			h.label, strings.Count(s, "ignoring node of another neighborhood"), strings.Count(s, "not of this neighborhood; disconnecting"))
	}
}
