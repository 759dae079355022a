package lab

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/porchlight-mesh/porchlight/api"
	"github.com/porchlight-mesh/porchlight/feed"
)

// TestNATBench measures issue 14's Performance figures in the NAT lab
// (natnet_test.go), each beside its one-LAN baseline in the same run:
//
//   - join: a fresh home behind router B joins with an invite made by a
//     home behind router A; the time from `porchlight join` (and from
//     `porchlight run`) until its first member neighbor and until it holds
//     the whole feed. Baseline: a fresh home joins a neighborhood of the
//     same shape whose homes share one LAN, with an invite from one of them.
//   - relayed → direct: the home behind B restarts; the time from its
//     relayed connection to the home behind A until the first direct one.
//   - propagation: posts from the homes behind A, B and C (symmetric NAT)
//     until every other member holds them, against the same number of
//     posts from the one-LAN homes, interleaved.
//   - bytes relayed per post: the anchor's porchlight_relay_bytes_total
//     over the NAT posts, less what it relays idle in as long.
//
// It is opt-in (PORCHLIGHT_NATBENCH=1, as root): it takes minutes and its
// figures mean something only on a quiet machine. The Markdown table goes
// to the log and to the file PORCHLIGHT_NATBENCH_OUT names; targets are
// reported (met or by how much missed), not enforced, since a shared
// machine's load moves them; a post or join that never completes fails.
//
//	sudo PORCHLIGHT_NATBENCH=1 PORCHLIGHT_NATBENCH_OUT=/tmp/natbench.md \
//	    go test -count=1 -v -timeout 30m -run TestNATBench ./lab/
//
// Sizes: PORCHLIGHT_NATBENCH_JOINS (20 each side), _TRIALS (12 restarts),
// _POSTS (per home, at most and by default 4: the feed's per-author burst
// of 5, which every node enforces, less the home's profile; so 16 posts
// and 64 samples a side, and the nearest-rank p99 is the slowest). PORCHLIGHT_NATBENCH_LOGS=DIR keeps the nodes' logs.
func TestNATBench(t *testing.T) {
	if os.Getenv(natBenchEnv) != "1" {
		t.Skipf("the NAT lab benchmark is opt-in: set %s=1 and run as root (it builds network namespaces and takes several minutes)", natBenchEnv)
	}
	natPrerequisites(t)
	joins := nbSize(t, natBenchEnv+"_JOINS", 20)
	trials := nbSize(t, natBenchEnv+"_TRIALS", 12)
	// The API and every receiver hold an author to the feed's limits (a
	// charter can only tighten them): a burst of 5, its profile (written
	// at join) one of them.
	maxPosts := feed.DefaultLimits.Burst - 1
	posts := nbSize(t, natBenchEnv+"_POSTS", maxPosts)
	if posts > maxPosts {
		t.Fatalf("%s_POSTS=%d: a home may post only %d times back to back (feed.DefaultLimits' burst, less its profile)", natBenchEnv, posts, maxPosts)
	}
	ctx := t.Context()
	rep := &nbReport{began: time.Now(), uptime: []string{"start: " + nbUptime()}}

	bin := buildBinary(t, t.TempDir())
	l := newNATLab(t, bin)
	if dir := os.Getenv(natBenchEnv + "_LOGS"); dir != "" {
		// Registered after the lab's cleanup, so it runs first, while the
		// logs are still there.
		t.Cleanup(func() { nbKeepLogs(t, l, dir) })
	}
	ra := l.addRouter("A", 21, "192.168.10", false)
	rb := l.addRouter("B", 22, "10.20.0", false)
	rc := l.addRouter("C", 23, "172.16.30", true)
	rl := l.addRouter("L", 25, "192.168.50", false)
	nat := &nbHood{label: "NAT lab", anchor: l.addAnchorHost("Maple St anchor"), joinRouter: rb}
	lan := &nbHood{label: "one LAN", anchor: l.addAnchorHost("Elm St anchor"), joinRouter: rl}
	nat.homes = []*natNode{l.addHome(ra, "1 Maple St"), l.addHome(ra, "2 Maple St"), l.addHome(rb, "3 Maple St"), l.addHome(rc, "4 Maple St")}
	for i := range nat.homes {
		lan.homes = append(lan.homes, l.addHome(rl, fmt.Sprintf("%d Elm St", i+1)))
	}
	a1, a2, b1, c1 := nat.homes[0], nat.homes[1], nat.homes[2], nat.homes[3]
	t.Logf("NAT bench lab %s: anchors %s (Maple St), %s (Elm St); routers A %s, B %s, C %s (symmetric), L %s (the Elm St homes' one LAN)",
		l.suffix, nat.anchor.ip, lan.anchor.ip, ra.wanIP, rb.wanIP, rc.wanIP, rl.wanIP)
	l.checkIsolation(t)
	if t.Failed() {
		t.FailNow()
	}

	// Each anchor founds its neighborhood; its homes join with its invite.
	for _, hd := range []*nbHood{nat, lan} {
		hd.want = map[string]bool{}
		hd.api = map[*natNode]*nbAPI{}
		a := hd.anchor
		mustCLI(t, a, 0, "init", "--found", strings.TrimSuffix(a.name, " anchor"), "--name", a.name)
		setConfig(t, a, "anchor = true")
		l.start(t, a)
		hd.api[a] = nbReady(t, a)
		inv := lastLine(string(mustCLI(t, a, 0, "invite", "create", "--uses", strconv.Itoa(len(hd.homes)))))
		for _, h := range hd.homes {
			mustCLI(t, h, time.Minute, "join", inv, "--name", h.name)
		}
	}
	for _, hd := range []*nbHood{nat, lan} {
		for _, h := range hd.homes {
			l.start(t, h)
		}
	}
	for _, hd := range []*nbHood{nat, lan} {
		for _, h := range hd.homes {
			hd.api[h] = nbReady(t, h)
		}
	}
	// Homes that start together meet the mesh's rendezvous bug: a home
	// asks the anchor for its members' peer records on connect, before
	// its roster has synced the others' admissions, refuses their records
	// ("refused peer record: ... is not a member (stranger)") and does not
	// ask again, so homes behind different NATs may never meet. Once every
	// roster is complete, one restart of each home gets them the records.
	for _, hd := range []*nbHood{nat, lan} {
		took := poll(t, hd.label+" rosters complete", 60*time.Second, 100*time.Millisecond, func() error {
			for _, h := range hd.homes {
				var ms []api.MemberInfo
				if err := hd.api[h].do(ctx, http.MethodGet, "/api/v1/members", nil, &ms); err != nil {
					return err
				}
				if len(ms) < len(hd.homes)+1 {
					return fmt.Errorf("%s knows %d of %d members", h.label, len(ms), len(hd.homes)+1)
				}
			}
			return nil
		})
		t.Logf("%s: every home knew every member %v after starting; restarting each once (rendezvous bug)", hd.label, took.Round(time.Millisecond))
		for _, h := range hd.homes {
			natStop(t, h)
			hd.api[h].close()
			l.start(t, h)
			hd.api[h] = nbReady(t, h)
		}
	}
	rep.notes = append(rep.notes, "setup restarts every home once after its roster is complete, to get round the rendezvous bug "+
		"(a home refuses the anchor's peer records of members its roster does not know yet and does not ask again)")
	settle := func(what string) {
		t.Helper()
		took := poll(t, "settling "+what, 90*time.Second, 100*time.Millisecond, func() error {
			if err := nat.connected(ctx, map[*natNode][]nbWant{
				nat.anchor: {{a1, ""}, {a2, ""}, {b1, ""}, {c1, ""}},
				a1:         {{a2, "lan"}, {b1, ""}},
				a2:         {{a1, "lan"}, {b1, ""}},
				b1:         {{a1, ""}, {a2, ""}},
				c1:         {{nat.anchor, ""}},
			}); err != nil {
				return err
			}
			w := map[*natNode][]nbWant{}
			for _, h := range lan.homes {
				w[h] = append(w[h], nbWant{lan.anchor, ""})
				for _, o := range lan.homes {
					if o != h {
						w[h] = append(w[h], nbWant{o, "lan"})
					}
				}
			}
			return lan.connected(ctx, w)
		})
		// b1 should also be direct (hole punched) to one home behind A:
		// router A keeps port 7781 for one of its homes per remote, so the
		// other is behind an endpoint-dependent NAT to b1 and stays
		// relayed. Measured below, so waited for here but not required.
		direct, err := waitFor(time.Now(), natDirectTimeout, 100*time.Millisecond, func() error {
			var errs []error
			for _, a := range []*natNode{a1, a2} {
				err := nat.connected(ctx, map[*natNode][]nbWant{a: {{b1, "direct"}}, b1: {{a, "direct"}}})
				if err == nil {
					return nil
				}
				errs = append(errs, err)
			}
			return errors.Join(errs...)
		})
		if err != nil {
			rep.notes = append(rep.notes, fmt.Sprintf("%s: b1 direct to neither home behind A within %v: %v. %s", what, natDirectTimeout, err, noHolePunchBug(ctx, b1, a1, a2)))
			t.Logf("settled (%s) in %v, but b1 is direct to neither home behind A: %v", what, took.Round(time.Millisecond), err)
		} else {
			t.Logf("settled (%s) in %v, b1 direct to a home behind A %v later", what, took.Round(time.Millisecond), direct.Round(time.Millisecond))
		}
		nat.logPeers(t, ctx)
		logNetwork(t, ctx, nat.anchor, a1, a2, b1, c1)
	}
	settle("after start")

	// Relayed → direct: restart b1; it comes back behind router B with a1
	// and a2 reachable only through the anchor until a hole is punched (to
	// one of them: see settle).
	rep.uptime = append(rep.uptime, "relayed→direct: "+nbUptime())
	relayedOnly := 0
	for i := range trials {
		s, err := nat.relayedToDirect(t, ctx, l, b1, a1, a2)
		if err != nil {
			t.Errorf("relayed→direct trial %d: %v", i+1, err)
			continue
		}
		t.Logf("relayed→direct trial %d: %s", i+1, s)
		rep.direct = append(rep.direct, s)
		if s.direct {
			relayedOnly = 0
			continue
		}
		// Two trials in a row without a direct connection: the rest would
		// only spend their deadlines the same way.
		if relayedOnly++; relayedOnly == 2 && i+1 < trials {
			rep.notes = append(rep.notes, fmt.Sprintf("relayed→direct: stopped after %d trials, the last two never direct within %v. %s",
				i+1, natDirectTimeout, noHolePunchBug(ctx, b1, a1, a2)))
			break
		}
	}
	settle("after the restarts")

	// Post propagation, NAT and one LAN interleaved post by post.
	rep.uptime = append(rep.uptime, "propagation: "+nbUptime())
	for _, hd := range []*nbHood{nat, lan} {
		hd.arrivals = newNBArrivals()
		for _, h := range append([]*natNode{hd.anchor}, hd.homes...) {
			if err := hd.api[h].events(ctx, t, func(typ string, data []byte) {
				if typ != "post" {
					return
				}
				var ev struct {
					ID string `json:"id"`
				}
				if json.Unmarshal(data, &ev) == nil {
					hd.arrivals.add(ev.ID, h, time.Now())
				}
			}); err != nil {
				t.Fatalf("%s: event stream: %v", h.label, err)
			}
		}
	}
	// Warm-up posts by the anchors (not counted): gossip meshes formed,
	// first-use costs paid, and no home's post allowance spent.
	for _, hd := range []*nbHood{nat, lan} {
		for i := range 2 {
			hd.propagate(t, ctx, hd.anchor, fmt.Sprintf("warm-up %d", i+1))
		}
	}
	// Each home posts in turn, one NAT post a second, each followed by the
	// LAN twin's: the two neighborhoods share the machine's load. One a
	// second is the load for the anchor's cost, and slower than
	// the mesh's debounced sync to relayed neighbors (~1 s), so the
	// anchor's byte counter over the posts (and 3 s after the last, for
	// the last sync), less what it relays idle in as long, is what posts
	// cost it.
	rep.relayedPairs = nat.relayedPairs(t, ctx)
	idleBytes, idleFor := nat.relayWindow(t, ctx, 15*time.Second)
	before, lanBefore := nat.relayBytes(t, ctx), lan.relayBytes(t, ctx)
	began := time.Now()
	pace := time.NewTicker(time.Second)
	for round := range posts {
		for i := range nat.homes {
			for _, hd := range []*nbHood{nat, lan} {
				lat := hd.propagate(t, ctx, hd.homes[i], fmt.Sprintf("round %d", round+1))
				hd.latencies = append(hd.latencies, lat...)
				hd.byAuthor(hd.homes[i], lat)
			}
			<-pace.C
		}
	}
	pace.Stop()
	nat.relayWindow(t, ctx, 3*time.Second)
	rep.postsEach = posts * len(nat.homes)
	rep.bytesFor = time.Since(began)
	rep.relayBytes = nat.relayBytes(t, ctx) - before
	rep.lanRelayBytes = lan.relayBytes(t, ctx) - lanBefore
	rep.relayIdle = idleBytes / idleFor.Seconds() * rep.bytesFor.Seconds()

	// Joins: a fresh home behind B (b1 stopped, so the newcomer is alone
	// behind its router and must cross the NATs) with an invite from a1;
	// a fresh home on the Elm St LAN with an invite from its first home.
	natStop(t, b1)
	rep.uptime = append(rep.uptime, "joins: "+nbUptime())
	for i := range joins {
		for _, hd := range []*nbHood{nat, lan} {
			j, err := hd.join(t, ctx, l, i+1)
			if err != nil {
				t.Errorf("%s join %d: %v", hd.label, i+1, err)
				continue
			}
			t.Logf("%s join %d: %s", hd.label, i+1, j)
			hd.joins = append(hd.joins, j)
		}
	}
	rep.uptime = append(rep.uptime, "end: "+nbUptime())
	rep.nat, rep.lan = nat, lan

	table := rep.markdown()
	t.Logf("NAT bench results:\n%s", table)
	if out := os.Getenv(natBenchEnv + "_OUT"); out != "" {
		if err := os.WriteFile(out, []byte(table), 0o644); err != nil {
			t.Errorf("write %s: %v", out, err)
		}
	}
}

const natBenchEnv = "PORCHLIGHT_NATBENCH"

func nbSize(t *testing.T, env string, def int) int {
	t.Helper()
	s := os.Getenv(env)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		t.Fatalf("%s=%q: want a positive number", env, s)
	}
	return n
}

func nbUptime() string {
	out, err := exec.Command("uptime").Output()
	if err != nil {
		return "uptime: " + err.Error()
	}
	return strings.TrimSpace(string(out))
}

func nbKeepLogs(t *testing.T, l *natLab, dir string) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Logf("keep logs: %v", err)
		return
	}
	for _, n := range l.nodes {
		b, err := os.ReadFile(n.logPath)
		if err != nil {
			continue
		}
		if err := os.WriteFile(filepath.Join(dir, n.label+".log"), b, 0o644); err != nil {
			t.Logf("keep logs: %v", err)
		}
	}
	t.Logf("the nodes' logs are in %s", dir)
}

// nbAPI calls one lab node's local API from the test process. The API
// listens on the loopback of the node's namespace, so connections are
// dialled from inside it; keep-alive spares a dial per call, which keeps
// fast polling cheap.
type nbAPI struct {
	h     *natNode
	url   string
	token string
	hc    *http.Client
}

func newNBAPI(h *natNode) (*nbAPI, error) {
	addr, err := os.ReadFile(filepath.Join(h.dir, "api.addr"))
	if err != nil {
		return nil, err
	}
	tok, err := os.ReadFile(filepath.Join(h.dir, "api.token"))
	if err != nil {
		return nil, err
	}
	url := strings.TrimSpace(string(addr))
	if !strings.Contains(url, "://") {
		url = "http://" + url
	}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, a string) (c net.Conn, err error) {
			err = inNS(h.ns, func() error {
				c, err = (&net.Dialer{}).DialContext(ctx, network, a)
				return err
			})
			return c, err
		},
		MaxIdleConnsPerHost: 4,
	}
	return &nbAPI{h: h, url: url, token: strings.TrimSpace(string(tok)), hc: &http.Client{Transport: tr}}, nil
}

func (a *nbAPI) close() { a.hc.CloseIdleConnections() }

func (a *nbAPI) do(ctx context.Context, method, path string, in, out any) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.url+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+a.token)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := a.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s on %s: %s: %s", method, path, a.h.label, resp.Status, bytes.TrimSpace(b))
	}
	if out == nil {
		return nil
	}
	if s, ok := out.(*string); ok {
		*s = string(b)
		return nil
	}
	return json.Unmarshal(b, out)
}

func (a *nbAPI) status(ctx context.Context) (api.Status, error) {
	var st api.Status
	return st, a.do(ctx, http.MethodGet, "/api/v1/status", nil, &st)
}

func (a *nbAPI) peers(ctx context.Context) ([]api.PeerJSON, error) {
	var ps []api.PeerJSON
	return ps, a.do(ctx, http.MethodGet, "/api/v1/peers", nil, &ps)
}

func (a *nbAPI) feedIDs(ctx context.Context) (map[string]bool, error) {
	var ps []struct {
		ID string `json:"id"`
	}
	if err := a.do(ctx, http.MethodGet, "/api/v1/feed?limit=1000", nil, &ps); err != nil {
		return nil, err
	}
	out := make(map[string]bool, len(ps))
	for _, p := range ps {
		out[p.ID] = true
	}
	return out, nil
}

// metric is the value of an unlabelled metric of /metrics (0 if absent).
func (a *nbAPI) metric(ctx context.Context, name string) (float64, error) {
	var text string
	if err := a.do(ctx, http.MethodGet, "/metrics", nil, &text); err != nil {
		return 0, err
	}
	for _, line := range strings.Split(text, "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == name {
			return strconv.ParseFloat(f[1], 64)
		}
	}
	return 0, nil
}

// events streams the node's server-sent events to fn (on a goroutine of
// its own) until the test ends. It returns once the stream is open, so no
// event published after it returns is missed.
func (a *nbAPI) events(ctx context.Context, t *testing.T, fn func(typ string, data []byte)) error {
	ctx, cancel := context.WithCancel(ctx)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.url+"/api/v1/events", nil)
	if err != nil {
		cancel()
		return err
	}
	req.Header.Set("Authorization", "Bearer "+a.token)
	resp, err := a.hc.Do(req)
	if err != nil {
		cancel()
		return err
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		cancel()
		return fmt.Errorf("GET /api/v1/events: %s", resp.Status)
	}
	r := bufio.NewReader(resp.Body)
	// The server writes a comment line once it has subscribed.
	if _, err := r.ReadString('\n'); err != nil {
		resp.Body.Close()
		cancel()
		return fmt.Errorf("event stream: %w", err)
	}
	done := make(chan struct{})
	t.Cleanup(func() {
		cancel()
		resp.Body.Close()
		<-done
	})
	go func() {
		defer close(done)
		var typ string
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			line = strings.TrimRight(line, "\r\n")
			switch {
			case strings.HasPrefix(line, "event: "):
				typ = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				fn(typ, []byte(strings.TrimPrefix(line, "data: ")))
			case line == "":
				typ = ""
			}
		}
	}()
	return nil
}

// nbReady waits until the node's API answers and records its peer ID.
func nbReady(t *testing.T, h *natNode) *nbAPI {
	t.Helper()
	var a *nbAPI
	poll(t, h.label+" API up", readyTimeout, 20*time.Millisecond, func() error {
		if !h.running() {
			t.Fatalf("%s: not running; its log: %s", h.label, logTailFile(h.logPath, 20))
		}
		if a == nil {
			var err error
			if a, err = newNBAPI(h); err != nil {
				return err
			}
		}
		st, err := a.status(t.Context())
		if err != nil {
			return err
		}
		h.peerID = st.PeerID
		return nil
	})
	t.Cleanup(a.close)
	return a
}

// nbHood is one neighborhood of the bench: the NAT street or its one-LAN
// twin.
type nbHood struct {
	label      string
	anchor     *natNode
	homes      []*natNode
	joinRouter *router // where fresh homes join
	api        map[*natNode]*nbAPI
	want       map[string]bool // every post of the neighborhood
	arrivals   *nbArrivals

	latencies []time.Duration // one per post and receiver
	authors   map[*natNode][]time.Duration
	joins     []nbJoin
}

// nbWant is a neighbor a node must list, on path (any when "").
type nbWant struct {
	peer *natNode
	path string
}

func (hd *nbHood) connected(ctx context.Context, want map[*natNode][]nbWant) error {
	for h, ws := range want {
		ps, err := hd.api[h].peers(ctx)
		if err != nil {
			return err
		}
		for _, w := range ws {
			i := slices.IndexFunc(ps, func(p api.PeerJSON) bool { return p.PeerID == w.peer.peerID })
			switch {
			case i < 0:
				return fmt.Errorf("%s does not list %s", h.label, w.peer.label)
			case w.path != "" && ps[i].Path != w.path:
				return fmt.Errorf("%s reaches %s on path %s %v, want %s", h.label, w.peer.label, ps[i].Path, ps[i].Addrs, w.path)
			}
		}
	}
	return nil
}

func (hd *nbHood) logPeers(t *testing.T, ctx context.Context) {
	t.Helper()
	for _, h := range append([]*natNode{hd.anchor}, hd.homes...) {
		a := hd.api[h]
		if a == nil || !h.running() {
			continue
		}
		ps, err := a.peers(ctx)
		if err != nil {
			t.Logf("%s peers: %v", h.label, err)
			continue
		}
		var parts []string
		for _, p := range ps {
			parts = append(parts, fmt.Sprintf("%s %s %.1fms", p.Name, p.Path, p.RTTMillis))
		}
		t.Logf("%s peers: %s", h.label, strings.Join(parts, "; "))
	}
}

// relayedPairs lists the pairs of homes whose connection is relayed.
func (hd *nbHood) relayedPairs(t *testing.T, ctx context.Context) []string {
	t.Helper()
	var out []string
	for i, h := range hd.homes {
		ps, err := hd.api[h].peers(ctx)
		if err != nil {
			t.Fatalf("%s peers: %v", h.label, err)
		}
		for _, o := range hd.homes[i+1:] {
			if slices.ContainsFunc(ps, func(p api.PeerJSON) bool { return p.PeerID == o.peerID && p.Path == "relayed" }) {
				out = append(out, h.label+"–"+o.label)
			}
		}
	}
	return out
}

// nbDirect is one relayed → direct trial.
type nbDirect struct {
	direct      bool          // a direct connection came within natDirectTimeout
	relayedSeen bool          // the relayed connection was seen alone before the direct one
	toDirect    time.Duration // relayed connection → first direct connection
	fromRun     time.Duration // `porchlight run` → first direct connection
	addr        string        // the direct connection's remote address
	peer        string        // the neighbor it connected to directly
}

func (d nbDirect) String() string {
	if !d.direct {
		return fmt.Sprintf("no direct connection within %v of the restart (relayed seen: %v)", natDirectTimeout, d.relayedSeen)
	}
	how := "relayed seen alone first"
	if !d.relayedSeen {
		how = "relayed and direct seen together: timed from the neighbor's handshake"
	}
	return fmt.Sprintf("relayed→direct %v, run→direct %v (%s; direct to %s via %s)",
		d.toDirect.Round(time.Millisecond), d.fromRun.Round(time.Millisecond), how, d.peer, d.addr)
}

// relayedToDirect restarts h and times, on h's list of neighbors, its
// connection to the first of targets to go from relayed (only /p2p-circuit
// addresses) to direct (one that is not). When the first sighting of that
// neighbor already has both, the relayed connection's time is the
// neighbor's handshake (Since), which ran on it.
func (hd *nbHood) relayedToDirect(t *testing.T, ctx context.Context, l *natLab, h *natNode, targets ...*natNode) (nbDirect, error) {
	t.Helper()
	natStop(t, h)
	hd.api[h].close()
	l.start(t, h)
	run := time.Now()
	a := nbReady(t, h)
	hd.api[h] = a
	var d nbDirect
	relayed := map[*natNode]time.Time{}
	deadline := run.Add(natDirectTimeout)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for ; ; <-tick.C {
		if time.Now().After(deadline) {
			d.relayedSeen = len(relayed) > 0
			return d, nil
		}
		ps, err := a.peers(ctx)
		now := time.Now()
		if err != nil {
			continue
		}
		for _, o := range targets {
			i := slices.IndexFunc(ps, func(p api.PeerJSON) bool { return p.PeerID == o.peerID })
			if i < 0 {
				continue
			}
			var circuit bool
			direct := ""
			for _, ad := range ps[i].Addrs {
				if strings.Contains(ad, "/p2p-circuit") {
					circuit = true
				} else if direct == "" {
					direct = ad
				}
			}
			if direct == "" {
				if _, ok := relayed[o]; circuit && !ok {
					relayed[o] = now
				}
				continue
			}
			from, ok := relayed[o]
			if !ok {
				from = ps[i].Since
			}
			d.direct, d.relayedSeen, d.peer = true, ok, o.label
			d.toDirect = now.Sub(from)
			d.fromRun = now.Sub(run)
			d.addr = direct
			if want := "/ip4/" + o.router.wanIP + "/"; !strings.HasPrefix(direct, want) {
				return d, fmt.Errorf("%s's first direct connection to %s is %s, not through router %s's %s", h.label, o.label, direct, o.router.label, o.router.wanIP)
			}
			return d, nil
		}
	}
}

// nbArrivals records when each node's event stream announced each post.
type nbArrivals struct {
	mu     sync.Mutex
	at     map[string]map[*natNode]time.Time
	notify chan struct{}
}

func newNBArrivals() *nbArrivals {
	return &nbArrivals{at: map[string]map[*natNode]time.Time{}, notify: make(chan struct{}, 1)}
}

func (r *nbArrivals) add(id string, h *natNode, at time.Time) {
	r.mu.Lock()
	if r.at[id] == nil {
		r.at[id] = map[*natNode]time.Time{}
	}
	if _, ok := r.at[id][h]; !ok {
		r.at[id][h] = at
	}
	r.mu.Unlock()
	select {
	case r.notify <- struct{}{}:
	default:
	}
}

// wait returns when each node in hs had post id, waiting until deadline.
func (r *nbArrivals) wait(id string, hs []*natNode, deadline time.Time) (map[*natNode]time.Time, error) {
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	for {
		r.mu.Lock()
		got := map[*natNode]time.Time{}
		for h, at := range r.at[id] {
			got[h] = at
		}
		r.mu.Unlock()
		var missing []string
		for _, h := range hs {
			if _, ok := got[h]; !ok {
				missing = append(missing, h.label)
			}
		}
		if len(missing) == 0 {
			return got, nil
		}
		select {
		case <-r.notify:
		case <-timer.C:
			return got, fmt.Errorf("post %s not on %s within the deadline", id, strings.Join(missing, ", "))
		}
	}
}

// propagate posts from author through its API and returns how long every
// other member of the neighborhood took to store it.
func (hd *nbHood) propagate(t *testing.T, ctx context.Context, author *natNode, what string) []time.Duration {
	t.Helper()
	var others []*natNode
	for _, h := range append([]*natNode{hd.anchor}, hd.homes...) {
		if h != author {
			others = append(others, h)
		}
	}
	start := time.Now()
	var p api.PostJSON
	if err := hd.api[author].do(ctx, http.MethodPost, "/api/v1/posts", api.NewPostJSON{
		Kind: "general", Text: fmt.Sprintf("%s: %s from %s at %s", hd.label, what, author.label, start.Format(time.RFC3339Nano)),
	}, &p); err != nil {
		t.Fatalf("%s: post: %v", author.label, err)
	}
	hd.want[p.ID] = true
	got, err := hd.arrivals.wait(p.ID, others, start.Add(natBenchPostTimeout))
	if err != nil {
		t.Fatalf("%s (%s, %s): %v", hd.label, author.label, what, err)
	}
	var out []time.Duration
	for _, h := range others {
		out = append(out, got[h].Sub(start))
	}
	return out
}

// natBenchPostTimeout bounds one post's way to every member: a post that
// takes longer is lost as far as the bench is concerned.
const natBenchPostTimeout = 15 * time.Second

func (hd *nbHood) byAuthor(h *natNode, lat []time.Duration) {
	if hd.authors == nil {
		hd.authors = map[*natNode][]time.Duration{}
	}
	hd.authors[h] = append(hd.authors[h], lat...)
}

func (hd *nbHood) relayBytes(t *testing.T, ctx context.Context) float64 {
	t.Helper()
	v, err := hd.api[hd.anchor].metric(ctx, "porchlight_relay_bytes_total")
	if err != nil {
		t.Fatalf("%s anchor metrics: %v", hd.label, err)
	}
	return v
}

// relayWindow waits d and returns what the anchor relayed meanwhile.
func (hd *nbHood) relayWindow(t *testing.T, ctx context.Context, d time.Duration) (float64, time.Duration) {
	t.Helper()
	before := hd.relayBytes(t, ctx)
	start := time.Now()
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
	case <-ctx.Done():
		t.Fatal(ctx.Err())
	}
	return hd.relayBytes(t, ctx) - before, time.Since(start)
}

// nbJoin is one fresh home joining.
type nbJoin struct {
	joinCmd       time.Duration // `porchlight join` ran this long
	neighbor      time.Duration // join began → first member neighbor listed
	feed          time.Duration // join began → whole feed held
	runToNeighbor time.Duration // `porchlight run` began → first member neighbor
	runToFeed     time.Duration
	first         string // who the first neighbor was, and on which path
	posts         int
	home          time.Duration // join began → first neighbor that is a home, not the anchor (0: none in time)
	homeWho       string
}

func (j nbJoin) String() string {
	home := fmt.Sprintf("no home neighbor within %v of the feed", natBenchHomeWait)
	if j.home > 0 {
		home = fmt.Sprintf("first home neighbor %v (%s)", j.home.Round(time.Millisecond), j.homeWho)
	}
	return fmt.Sprintf("join command %v; first neighbor %v (%s), whole feed (%d posts) %v after the join began; %v and %v after run began; %s",
		j.joinCmd.Round(time.Millisecond), j.neighbor.Round(time.Millisecond), j.first, j.posts, j.feed.Round(time.Millisecond),
		j.runToNeighbor.Round(time.Millisecond), j.runToFeed.Round(time.Millisecond), home)
}

// natBenchHomeWait is how long after having the feed a fresh home is
// watched for a neighbor that is a home (not the anchor).
const natBenchHomeWait = 5 * time.Second

// natBenchJoinTimeout bounds a fresh home's way to the whole feed from
// the start of its join.
const natBenchJoinTimeout = 60 * time.Second

// join adds fresh home n behind hd.joinRouter, has the first home invite
// it, and times its join; the home is stopped afterwards.
func (hd *nbHood) join(t *testing.T, ctx context.Context, l *natLab, n int) (nbJoin, error) {
	t.Helper()
	var j nbJoin
	inviter := hd.homes[0]
	h := l.addHome(hd.joinRouter, fmt.Sprintf("%s newcomer %d", hd.label, n))
	inv := lastLine(string(mustCLI(t, inviter, 0, "invite", "create")))
	names := map[string]string{hd.anchor.peerID: hd.anchor.label}
	for _, o := range hd.homes {
		names[o.peerID] = o.label
	}

	began := time.Now()
	out := mustCLI(t, h, natBenchJoinTimeout, "join", inv, "--name", h.name)
	j.joinCmd = time.Since(began)
	if !strings.Contains(string(out), "joined:") {
		t.Logf("%s: join did not admit it at once: %s", h.label, bytes.TrimSpace(out))
	}
	l.start(t, h)
	run := time.Now()
	defer func() {
		if h.running() {
			natStop(t, h)
		}
	}()
	var a *nbAPI
	defer func() {
		if a != nil {
			a.close()
		}
	}()
	deadline := began.Add(natBenchJoinTimeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var feedAt time.Time
	for ; ; <-tick.C {
		now := time.Now()
		if j.feed > 0 && (j.home > 0 || now.After(feedAt.Add(natBenchHomeWait))) {
			return j, nil
		}
		if now.After(deadline) && j.feed == 0 {
			return j, fmt.Errorf("%s: no whole feed within %v of the join (first neighbor: %v; log: %s)", h.label, natBenchJoinTimeout, j.first, logTailFile(h.logPath, 30))
		}
		if !h.running() {
			return j, fmt.Errorf("%s exited; log: %s", h.label, logTailFile(h.logPath, 30))
		}
		if a == nil {
			var err error
			if a, err = newNBAPI(h); err != nil {
				continue
			}
		}
		if j.first == "" || j.home == 0 {
			ps, err := a.peers(ctx)
			if err != nil || len(ps) == 0 {
				continue
			}
			now = time.Now()
			if j.first == "" {
				j.neighbor, j.runToNeighbor = now.Sub(began), now.Sub(run)
				j.first = fmt.Sprintf("%s on path %s", cmp.Or(names[ps[0].PeerID], ps[0].Name), ps[0].Path)
			}
			if i := slices.IndexFunc(ps, func(p api.PeerJSON) bool { return p.PeerID != hd.anchor.peerID }); i >= 0 && j.home == 0 {
				j.home = now.Sub(began)
				j.homeWho = fmt.Sprintf("%s on path %s", cmp.Or(names[ps[i].PeerID], ps[i].Name), ps[i].Path)
			}
		}
		if j.feed > 0 {
			continue
		}
		ids, err := a.feedIDs(ctx)
		if err != nil || !nbHasAll(ids, hd.want) {
			continue
		}
		feedAt = time.Now()
		j.feed, j.runToFeed, j.posts = feedAt.Sub(began), feedAt.Sub(run), len(hd.want)
	}
}

func nbHasAll(have, want map[string]bool) bool {
	for id := range want {
		if !have[id] {
			return false
		}
	}
	return true
}

// nbPercentile is the nearest-rank p-th percentile (0 < p <= 1).
func nbPercentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(math.Ceil(p*float64(len(s)))) - 1
	return s[max(i, 0)]
}

// nbReport is the bench's result table.
type nbReport struct {
	began         time.Time
	uptime        []string
	notes         []string // what went wrong, for the reader of the table
	nat, lan      *nbHood
	direct        []nbDirect
	postsEach     int
	relayedPairs  []string      // pairs of homes on path relayed during the bytes phase
	bytesFor      time.Duration // the posts and 3 s after
	relayBytes    float64
	lanRelayBytes float64
	relayIdle     float64 // what the anchor would have relayed idle in bytesFor
}

func nbMS(d time.Duration) string {
	switch {
	case d >= 10*time.Second:
		return fmt.Sprintf("%.1f s", d.Seconds())
	case d >= time.Second:
		return fmt.Sprintf("%.2f s", d.Seconds())
	}
	return fmt.Sprintf("%d ms", d.Milliseconds())
}

// nbVerdict says whether got met target, or by how much it missed.
func nbVerdict(got, target time.Duration) string {
	if got <= target {
		return "met"
	}
	return fmt.Sprintf("**missed by %s (%.1f×)**", nbMS(got-target), float64(got)/float64(target))
}

func (r *nbReport) markdown() string {
	var b strings.Builder
	field := func(js []nbJoin, f func(nbJoin) time.Duration) []time.Duration {
		var out []time.Duration
		for _, j := range js {
			out = append(out, f(j))
		}
		return out
	}
	nat, lan := r.nat, r.lan
	nn := field(nat.joins, func(j nbJoin) time.Duration { return j.neighbor })
	ln := field(lan.joins, func(j nbJoin) time.Duration { return j.neighbor })
	fmt.Fprintf(&b, "| Measure | NAT lab | One LAN (same run) | Target | Result |\n|---|---|---|---|---|\n")
	fmt.Fprintf(&b, "| Join → first member neighbor, median (n = %d / %d) | %s | %s | ≤ 3 s | %s |\n",
		len(nn), len(ln), nbMS(nbPercentile(nn, .5)), nbMS(nbPercentile(ln, .5)), nbVerdict(nbPercentile(nn, .5), 3*time.Second))
	fmt.Fprintf(&b, "| Join → first member neighbor, p95 | %s | %s | ≤ 10 s | %s |\n",
		nbMS(nbPercentile(nn, .95)), nbMS(nbPercentile(ln, .95)), nbVerdict(nbPercentile(nn, .95), 10*time.Second))
	homes := func(js []nbJoin) (out []time.Duration) {
		for _, j := range js {
			if j.home > 0 {
				out = append(out, j.home)
			}
		}
		return out
	}
	nh, lh := homes(nat.joins), homes(lan.joins)
	fmt.Fprintf(&b, "| Join → first home neighbor (not the anchor), median / p95 (homes met within %s of the feed: %d of %d / %d of %d) | %s / %s | %s / %s | – | reported |\n",
		nbMS(natBenchHomeWait), len(nh), len(nat.joins), len(lh), len(lan.joins),
		nbMS(nbPercentile(nh, .5)), nbMS(nbPercentile(nh, .95)), nbMS(nbPercentile(lh, .5)), nbMS(nbPercentile(lh, .95)))
	rows := []struct {
		what string
		f    func(nbJoin) time.Duration
	}{
		{"Join → whole feed", func(j nbJoin) time.Duration { return j.feed }},
		{"`join` command alone", func(j nbJoin) time.Duration { return j.joinCmd }},
		{"`run` → first member neighbor", func(j nbJoin) time.Duration { return j.runToNeighbor }},
		{"`run` → whole feed", func(j nbJoin) time.Duration { return j.runToFeed }},
	}
	for _, row := range rows {
		x, y := field(nat.joins, row.f), field(lan.joins, row.f)
		fmt.Fprintf(&b, "| %s, median / p95 | %s / %s | %s / %s | – | reported |\n",
			row.what, nbMS(nbPercentile(x, .5)), nbMS(nbPercentile(x, .95)), nbMS(nbPercentile(y, .5)), nbMS(nbPercentile(y, .95)))
	}
	var rd, run []time.Duration
	seen := 0
	for _, d := range r.direct {
		if !d.direct {
			continue
		}
		rd = append(rd, d.toDirect)
		run = append(run, d.fromRun)
		if d.relayedSeen {
			seen++
		}
	}
	if len(rd) == 0 {
		fmt.Fprintf(&b, "| Relayed → direct (b1 restarts; to a home behind A), median | never direct in %d trials (%v each) | – | ≤ 2 s | **missed: no direct connection** |\n",
			len(r.direct), natDirectTimeout)
	} else {
		fmt.Fprintf(&b, "| Relayed → direct (b1 restarts; to a home behind A), median (n = %d of %d trials; relayed seen alone first in %d) | %s (max %s) | – | ≤ 2 s | %s |\n",
			len(rd), len(r.direct), seen, nbMS(nbPercentile(rd, .5)), nbMS(nbPercentile(rd, 1)), nbVerdict(nbPercentile(rd, .5), 2*time.Second))
		fmt.Fprintf(&b, "| `run` → direct after the restart, median / max | %s / %s | – | – | reported |\n", nbMS(nbPercentile(run, .5)), nbMS(nbPercentile(run, 1)))
	}
	np99, lp99 := nbPercentile(nat.latencies, .99), nbPercentile(lan.latencies, .99)
	ratio := float64(np99) / float64(max(lp99, time.Microsecond))
	res := "met"
	if ratio > 1.5 {
		res = fmt.Sprintf("**missed: %.2f× (%s over 1.5×)**", ratio, nbMS(np99-lp99*3/2))
	}
	fmt.Fprintf(&b, "| Post propagation p99, nearest rank (%d posts each, %d samples each) | %s | %s | NAT ≤ 1.5× LAN | %.2f×, %s |\n",
		r.postsEach, len(nat.latencies), nbMS(np99), nbMS(lp99), ratio, res)
	fmt.Fprintf(&b, "| Post propagation p50 / p90 / max | %s / %s / %s | %s / %s / %s | – | reported |\n",
		nbMS(nbPercentile(nat.latencies, .5)), nbMS(nbPercentile(nat.latencies, .9)), nbMS(nbPercentile(nat.latencies, 1)),
		nbMS(nbPercentile(lan.latencies, .5)), nbMS(nbPercentile(lan.latencies, .9)), nbMS(nbPercentile(lan.latencies, 1)))
	for i := range nat.homes {
		x, y := nat.authors[nat.homes[i]], lan.authors[lan.homes[i]]
		fmt.Fprintf(&b, "| … posts by %s vs %s: p50 / p99 | %s / %s | %s / %s | – | reported |\n",
			nat.homes[i].label, lan.homes[i].label, nbMS(nbPercentile(x, .5)), nbMS(nbPercentile(x, .99)), nbMS(nbPercentile(y, .5)), nbMS(nbPercentile(y, .99)))
	}
	per := (r.relayBytes - r.relayIdle) / float64(max(r.postsEach, 1))
	fmt.Fprintf(&b, "| Bytes relayed per post (anchor's `porchlight_relay_bytes_total`; %d posts, one a second; relayed pairs: %s) | %.0f B (%.0f B in %s, less %.0f B idle) | %.0f B in all | – | reported |\n",
		r.postsEach, cmp.Or(strings.Join(r.relayedPairs, ", "), "none"), per, r.relayBytes, nbMS(r.bytesFor), r.relayIdle, r.lanRelayBytes)
	for _, n := range r.notes {
		fmt.Fprintf(&b, "\nNote: %s\n", n)
	}
	fmt.Fprintf(&b, "\nLoad (`uptime`) during the run, %s long:\n\n", time.Since(r.began).Round(time.Second))
	for _, u := range r.uptime {
		fmt.Fprintf(&b, "- %s\n", u)
	}
	return b.String()
}
