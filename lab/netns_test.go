package lab

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// requireEnv names the environment variable that turns "cannot run the lab
// here" from a skip into a failure, so CI cannot pass by skipping.
const requireEnv = "PORCHLIGHT_REQUIRE_LAB"

// unavailable skips the test with reason, or fails it when requireEnv=1.
func unavailable(t *testing.T, reason string) {
	t.Helper()
	if os.Getenv(requireEnv) == "1" {
		t.Fatalf("lab cannot run: %s (%s=1 forbids skipping)", reason, requireEnv)
	}
	t.Skipf("lab cannot run: %s; run as root on Linux with iproute2 (set %s=1 to make this a failure)", reason, requireEnv)
}

// checkPrerequisites skips (or fails, see unavailable) unless this process
// can build network namespaces.
func checkPrerequisites(t *testing.T) {
	t.Helper()
	switch {
	case runtime.GOOS != "linux":
		unavailable(t, "network namespaces need Linux, this is "+runtime.GOOS)
	case os.Geteuid() != 0:
		unavailable(t, fmt.Sprintf("creating network namespaces needs root, running as uid %d", os.Geteuid()))
	}
	if _, err := exec.LookPath("ip"); err != nil {
		unavailable(t, "the ip command (iproute2) is not installed: "+err.Error())
	}
	if testing.Short() && os.Getenv(requireEnv) != "1" {
		t.Skip("lab takes about ten seconds plus a build of the binary; skipped in -short mode")
	}
}

// buildBinary builds the real cmd/porchlight into dir. `go test` puts
// GOROOT/bin first in PATH, so the go found there matches the toolchain
// running the test.
func buildBinary(t *testing.T, dir string) string {
	t.Helper()
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("no go on PATH to build the binary with (go test puts its own first): %v", err)
	}
	bin := filepath.Join(dir, "porchlight")
	start := time.Now()
	cmd := exec.Command(gobin, "build", "-o", bin, "github.com/porchlight-mesh/porchlight/cmd/porchlight")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build porchlight: %v\n%s", err, out)
	}
	t.Logf("built %s in %v", bin, time.Since(start).Round(time.Millisecond))
	return bin
}

// lab is a bridge in the root namespace with one network namespace per
// host hanging off it by a veth pair. Only the namespaces have addresses,
// so nothing the nodes send leaves the lab.
type lab struct {
	t      *testing.T
	bin    string
	dir    string
	suffix string // random, in every name, so parallel runs do not clash
	subnet string // "10.99.X"
	bridge string
	extra  []string // more bridges (addBridge), removed by close
	hosts  []*host
}

// host is one namespace and the porchlight node that lives in it.
type host struct {
	lab          *lab
	label        string // h1
	ns           string
	veth         string // root-namespace end, enslaved to the bridge
	eth          string // namespace end
	ip           string
	dir          string // data directory
	logPath      string // the node's stderr, across restarts
	name         string // --name
	neighborhood string
	peerID       string // from status, once running

	mu   sync.Mutex
	proc *proc // nil when not running
	runs int
}

// proc is one run of `porchlight run`.
type proc struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when Wait returns
	err  error         // Wait's result, valid after done
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// newLab builds the bridge. Its cleanup (registered here, so it runs after
// every cleanup registered later) kills the nodes and removes every
// namespace and link, whether or not the test passed.
func newLab(t *testing.T, bin string) *lab {
	t.Helper()
	var x [1]byte
	if _, err := rand.Read(x[:]); err != nil {
		t.Fatal(err)
	}
	l := &lab{
		t:      t,
		bin:    bin,
		dir:    t.TempDir(), // registered before our cleanup, so removed after the nodes die
		suffix: randomHex(3),
		subnet: fmt.Sprintf("10.99.%d", 1+int(x[0])%254),
	}
	l.bridge = "plbr" + l.suffix
	t.Cleanup(l.close)

	// The first command doubles as the probe for "root but not allowed"
	// (a container without CAP_NET_ADMIN).
	if err := ip("link", "add", l.bridge, "type", "bridge"); err != nil {
		l.bridge = "" // nothing to delete
		unavailable(t, "cannot create a bridge: "+err.Error())
	}
	// No IPv6 link-local address on the root-namespace side: the root
	// namespace stays out of the lab's traffic.
	l.must("link", "set", l.bridge, "addrgenmode", "none")
	l.must("link", "set", l.bridge, "up")
	return l
}

// ip runs `ip args...`.
func ip(args ...string) error {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

func (l *lab) must(args ...string) {
	l.t.Helper()
	if err := ip(args...); err != nil {
		l.t.Fatal(err)
	}
}

// addHost creates namespace number len(hosts)+1, joined to the lab's bridge
// by a veth pair (the ip commands below are the whole recipe), and runs
// `porchlight init` for it, with initArgs added; the node is not started.
func (l *lab) addHost(name, neighborhood string, initArgs ...string) *host {
	l.t.Helper()
	n := len(l.hosts) + 1
	h := &host{
		lab:          l,
		label:        fmt.Sprintf("h%d", n),
		ns:           fmt.Sprintf("pl-%s-h%d", l.suffix, n),
		veth:         fmt.Sprintf("plv%s%d", l.suffix, n),
		eth:          fmt.Sprintf("ple%s%d", l.suffix, n),
		ip:           fmt.Sprintf("%s.%d", l.subnet, n),
		name:         name,
		neighborhood: neighborhood,
	}
	h.dir = filepath.Join(l.dir, h.label)
	h.logPath = filepath.Join(l.dir, h.label+".log")
	l.hosts = append(l.hosts, h) // before creating anything, so close removes it

	l.must("netns", "add", h.ns)
	l.must("link", "add", h.veth, "type", "veth", "peer", "name", h.eth)
	l.must("link", "set", h.eth, "netns", h.ns)
	l.must("link", "set", h.veth, "addrgenmode", "none")
	l.must("link", "set", h.veth, "master", l.bridge)
	l.must("link", "set", h.veth, "up")
	l.must("-n", h.ns, "addr", "add", h.ip+"/24", "dev", h.eth)
	l.must("-n", h.ns, "link", "set", h.eth, "up")
	l.must("-n", h.ns, "link", "set", "lo", "up")
	// Without a multicast route mDNS fails with "setsockopt: no such device".
	l.must("netns", "exec", h.ns, "ip", "route", "add", "224.0.0.0/4", "dev", h.eth)

	if err := os.MkdirAll(h.dir, 0o700); err != nil {
		l.t.Fatal(err)
	}
	args := append([]string{"init", "--name", name, "--neighborhood", neighborhood,
		"--api", "127.0.0.1:7780", "--listen", "/ip4/0.0.0.0/tcp/7781"}, initArgs...)
	if _, err := h.cli(context.Background(), args...); err != nil {
		l.t.Fatalf("%s: %v", h.label, err)
	}
	return h
}

// close kills every node, then removes namespaces, veths and the bridge.
// On failure it first copies each node's log into the test log.
func (l *lab) close() {
	t := l.t
	for _, h := range l.hosts {
		h.kill()
	}
	// Anything else still inside a namespace (a CLI call that outlived its
	// context, say) would keep the namespace alive after `ip netns del`.
	for _, h := range l.hosts {
		out, err := exec.Command("ip", "netns", "pids", h.ns).Output()
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(out)) {
			var pid int
			if _, err := fmt.Sscan(f, &pid); err == nil && pid > 1 && pid != os.Getpid() {
				t.Logf("killing leftover process %d in %s", pid, h.ns)
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	}
	if t.Failed() {
		for _, h := range l.hosts {
			b, err := os.ReadFile(h.logPath)
			if err != nil {
				continue
			}
			t.Logf("----- %s (%s, %s) stderr -----\n%s", h.label, h.name, h.ns, logTail(string(b), maxLogLines))
		}
	}
	for _, h := range l.hosts {
		// Deleting either end of a veth deletes the pair; the namespace end
		// may already be gone if the namespace was.
		if err := ip("link", "del", h.veth); err != nil && !strings.Contains(err.Error(), "Cannot find device") {
			t.Errorf("cleanup: %v", err)
		}
		if err := ip("netns", "del", h.ns); err != nil && !strings.Contains(err.Error(), "No such file") {
			t.Errorf("cleanup: %v", err)
		}
	}
	for _, b := range append([]string{l.bridge}, l.extra...) {
		if b == "" {
			continue
		}
		if err := ip("link", "del", b); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	}
}

// addBridge creates one more bridge with nothing on it, removed by close: a
// partition moves hosts' veths onto it.
func (l *lab) addBridge() string {
	l.t.Helper()
	b := fmt.Sprintf("plbr%s%d", l.suffix, len(l.extra)+2)
	l.extra = append(l.extra, b) // before creating it, so close removes it
	l.must("link", "add", b, "type", "bridge")
	l.must("link", "set", b, "addrgenmode", "none")
	l.must("link", "set", b, "up")
	return b
}

// maxLogLines bounds each node's log in the test output on failure.
const maxLogLines = 400

// logTail drops Badger's debug chatter, which never explains a lab
// failure, and keeps the last max lines of what remains.
func logTail(log string, max int) string {
	var keep []string
	for _, line := range strings.Split(strings.TrimRight(log, "\n"), "\n") {
		if !strings.Contains(line, "component=badger") {
			keep = append(keep, line)
		}
	}
	if len(keep) <= max {
		return strings.Join(keep, "\n")
	}
	return fmt.Sprintf("[%d earlier lines left out]\n%s", len(keep)-max, strings.Join(keep[len(keep)-max:], "\n"))
}

// start launches `porchlight run` in the host's namespace, appending its
// stderr to logPath.
func (h *host) start() {
	t := h.lab.t
	t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.proc != nil {
		t.Fatalf("%s: already running", h.label)
	}
	h.runs++
	f, err := os.OpenFile(h.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close() // the child has its own copy
	fmt.Fprintf(f, "===== lab: run %d of %s, started %s =====\n", h.runs, h.label, time.Now().Format(time.RFC3339Nano))
	// `ip netns exec` execs in place (no fork), so the PID is the node's
	// and SIGTERM reaches it directly.
	cmd := exec.Command("ip", "netns", "exec", h.ns, h.lab.bin, "--data", h.dir, "--log-level", "debug", "run")
	cmd.Stdout = f
	cmd.Stderr = f
	// Own process group, so kill can take everything the node started;
	// Pdeathsig so a crashed test binary does not leave nodes behind.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("%s: start node: %v", h.label, err)
	}
	p := &proc{cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	h.proc = p
}

func (h *host) running() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.proc != nil
}

// stop sends SIGTERM and waits for a clean exit (status 0).
func (h *host) stop(timeout time.Duration) time.Duration {
	h.lab.t.Helper()
	return h.stopFor(h.lab.t, timeout)
}

// stopFor is stop failing t (a subtest) rather than the lab's test.
func (h *host) stopFor(t *testing.T, timeout time.Duration) time.Duration {
	t.Helper()
	h.mu.Lock()
	p := h.proc
	h.mu.Unlock()
	if p == nil {
		t.Fatalf("%s: not running", h.label)
	}
	start := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("%s: SIGTERM: %v", h.label, err)
	}
	select {
	case <-p.done:
	case <-time.After(timeout):
		t.Fatalf("%s: still running %v after SIGTERM", h.label, timeout)
	}
	h.mu.Lock()
	h.proc = nil
	h.mu.Unlock()
	if p.err != nil {
		t.Fatalf("%s: after SIGTERM: %v (want exit status 0)", h.label, p.err)
	}
	return time.Since(start)
}

// kill SIGKILLs the node's process group and waits for it.
func (h *host) kill() {
	h.mu.Lock()
	p := h.proc
	h.proc = nil
	h.mu.Unlock()
	if p == nil {
		return
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		h.lab.t.Errorf("%s: node pid %d did not die after SIGKILL", h.label, p.cmd.Process.Pid)
	}
}

// cli runs `porchlight --data DIR args...` inside the host's namespace,
// where the API is on the namespace's own loopback, and returns stdout.
func (h *host) cli(ctx context.Context, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	argv := append([]string{"netns", "exec", h.ns, h.lab.bin, "--data", h.dir}, args...)
	cmd := exec.CommandContext(ctx, "ip", argv...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.Bytes(), fmt.Errorf("porchlight %s: %v: %s", strings.Join(args, " "), err, bytes.TrimSpace(stderr.Bytes()))
	}
	return stdout.Bytes(), nil
}

// cliJSON runs a command with --json and decodes its output into v.
func (h *host) cliJSON(ctx context.Context, v any, args ...string) error {
	out, err := h.cli(ctx, append(args, "--json")...)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(out, v); err != nil {
		return fmt.Errorf("porchlight %s --json: %v in %q", strings.Join(args, " "), err, out)
	}
	return nil
}

// The JSON the CLI prints, declared here rather than imported from api so
// the lab checks the CLI's output contract as a script would see it.
type (
	statusJSON struct {
		PeerID       string `json:"peer_id"`
		Name         string `json:"name"`
		Neighborhood string `json:"neighborhood"`
		API          string `json:"api"`
		Peers        int    `json:"peers"`
	}
	peerJSON struct {
		PeerID string   `json:"peer_id"`
		Name   string   `json:"name"`
		Addrs  []string `json:"addrs"`
	}
	postJSON struct {
		ID         string    `json:"id"`
		Author     string    `json:"author"`
		AuthorName string    `json:"author_name"`
		Kind       string    `json:"kind"`
		Text       string    `json:"text"`
		Created    time.Time `json:"created"`
	}
)

func (h *host) status(ctx context.Context) (statusJSON, error) {
	var st statusJSON
	err := h.cliJSON(ctx, &st, "status")
	return st, err
}

func (h *host) peers(ctx context.Context) ([]peerJSON, error) {
	var ps []peerJSON
	err := h.cliJSON(ctx, &ps, "peers")
	return ps, err
}

func (h *host) feed(ctx context.Context) ([]postJSON, error) {
	var ps []postJSON
	err := h.cliJSON(ctx, &ps, "feed")
	return ps, err
}

// post writes a post and returns its ID, the last line the command prints.
func (h *host) post(ctx context.Context, text string, extra ...string) string {
	t := h.lab.t
	t.Helper()
	out, err := h.cli(ctx, append([]string{"post", text}, extra...)...)
	if err != nil {
		t.Fatalf("%s: %v", h.label, err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	id := strings.TrimSpace(lines[len(lines)-1])
	if id == "" {
		t.Fatalf("%s: post printed no ID: %q", h.label, out)
	}
	return id
}

// poll calls cond every interval until it returns nil or timeout passes,
// then fails the test with cond's last error. It returns how long it took.
func poll(t *testing.T, what string, timeout, interval time.Duration, cond func() error) time.Duration {
	t.Helper()
	start := time.Now()
	deadline := start.Add(timeout)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		err := cond()
		if err == nil {
			return time.Since(start)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not done within %v: %v", what, timeout, err)
		}
		<-tick.C
	}
}
