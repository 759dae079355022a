package lab

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	manet "github.com/multiformats/go-multiaddr/net"
	"golang.org/x/sys/unix"
)

// The NAT lab: an isolated "internet" and home routers, every part of it a
// network namespace, so the root namespace gets no link, address or rule.
//
//	internet namespace: bridge, no address, no route
//	  ├─ anchor namespaces (anchor1, anchor2)    internetPrefix.10, .11
//	  └─ router namespaces A, B, C, D            WAN internetPrefix.21 ...
//	       nftables masquerade out of the WAN (C: fully-random, i.e. a
//	       symmetric NAT), forward policy drop except replies and the LAN
//	       └─ LAN bridge, router .1
//	            └─ home namespaces, private address, default route via .1
//
// Nothing has a route beyond the lab's addresses, so no packet a node sends
// can leave its namespaces (checkIsolation proves it).

// internetPrefix is the lab internet's /24. It must look public to libp2p
// (not RFC 1918, TEST-NET, CGNAT or loopback: those are private or
// unroutable, and hole punching and AutoNAT treat them so); the lab is
// isolated, so borrowing a real block sends nothing to its owner.
const internetPrefix = "64.99.7"

// natNSPrefix starts the name of every namespace of this lab, followed by
// the creating process's PID, so sweepNATLeftovers can tell a crashed
// run's namespaces from those of a run still going.
const natNSPrefix = "pln-"

// natLab is one NAT lab: its namespaces, routers and nodes.
type natLab struct {
	t      *testing.T
	procs  *lab // runs the nodes: binary, data directory, test log
	suffix string
	inet   string // the internet namespace
	bridge string // the internet bridge, inside inet
	// namespaces in creation order; close deletes them in reverse.
	namespaces []string
	routers    []*router
	nodes      []*natNode
	anchorN    int
}

// router is one home router namespace.
type router struct {
	label     string // "A"
	ns        string
	wan       string // WAN interface (in ns)
	lanBridge string // LAN bridge (in ns)
	wanIP     string // its public address on the internet
	lanPrefix string // "192.168.10": the LAN is lanPrefix.0/24, the router .1
	symmetric bool   // masquerade fully-random
	homes     []*natNode
}

// natNode is a porchlight node in the lab: a home behind a router, or an
// anchor (router nil) on the internet.
type natNode struct {
	*host
	router *router
	eth    string // its interface (in its namespace)
}

// natPrerequisites is checkPrerequisites plus nftables.
func natPrerequisites(t *testing.T) {
	t.Helper()
	checkPrerequisites(t)
	if _, err := exec.LookPath("nft"); err != nil {
		unavailable(t, "the nft command (nftables) is not installed: "+err.Error())
	}
}

// newNATLab builds the internet namespace and its bridge. Its cleanup,
// registered first, kills every node and deletes every namespace (with
// their links and nftables tables), passed or failed.
func newNATLab(t *testing.T, bin string) *natLab {
	t.Helper()
	sweepNATLeftovers(t)
	l := &natLab{t: t, suffix: randomHex(3)}
	l.procs = &lab{t: t, bin: bin, dir: t.TempDir(), suffix: l.suffix}
	t.Cleanup(l.close)
	l.inet = l.addNS("inet")
	l.bridge = "plbr" + l.suffix
	l.must("-n", l.inet, "link", "add", l.bridge, "type", "bridge")
	l.must("-n", l.inet, "link", "set", l.bridge, "up")
	l.must("-n", l.inet, "link", "set", "lo", "up")
	return l
}

func (l *natLab) must(args ...string) {
	l.t.Helper()
	if err := ip(args...); err != nil {
		l.t.Fatal(err)
	}
}

// run runs a command in namespace ns (ip netns exec).
func (l *natLab) run(ns string, argv ...string) {
	l.t.Helper()
	out, err := exec.Command("ip", append([]string{"netns", "exec", ns}, argv...)...).CombinedOutput()
	if err != nil {
		l.t.Fatalf("in %s: %s: %v: %s", ns, strings.Join(argv, " "), err, strings.TrimSpace(string(out)))
	}
}

// addNS creates namespace pln-PID-SUFFIX-role.
func (l *natLab) addNS(role string) string {
	l.t.Helper()
	ns := fmt.Sprintf("%s%d-%s-%s", natNSPrefix, os.Getpid(), l.suffix, role)
	if err := ip("netns", "add", ns); err != nil {
		if len(l.namespaces) == 0 {
			unavailable(l.t, "cannot create a network namespace: "+err.Error())
		}
		l.t.Fatal(err)
	}
	l.namespaces = append(l.namespaces, ns)
	return ns
}

// plug joins namespace ns to the internet bridge by a veth pair: eth (in
// ns, with addr/24) and port (in the internet namespace, on the bridge).
func (l *natLab) plug(ns, eth, port, addr string) {
	l.t.Helper()
	l.must("-n", ns, "link", "add", eth, "type", "veth", "peer", "name", port, "netns", l.inet)
	l.must("-n", l.inet, "link", "set", port, "master", l.bridge)
	l.must("-n", l.inet, "link", "set", port, "up")
	l.must("-n", ns, "addr", "add", addr+"/24", "dev", eth)
	l.must("-n", ns, "link", "set", eth, "up")
	l.must("-n", ns, "link", "set", "lo", "up")
}

// addRouter creates router label's namespace with its WAN on the internet
// at internetPrefix.wanHost, a LAN bridge at lanPrefix.1, forwarding, and
// the nftables rules of DESIGN.md (Testing lab), plus a counter of the
// replies let in from the internet (inboundReplies) and, as on a real home
// router, a drop of unsolicited packets from the internet to the router
// itself. Without that drop the router answers a hole punch that arrives
// before its home's own packet left, conntrack keeps that exchange, and
// the home's packet then gets another public port: no hole punch would
// ever work in a lab whose links have no latency.
func (l *natLab) addRouter(label string, wanHost int, lanPrefix string, symmetric bool) *router {
	l.t.Helper()
	low := strings.ToLower(label)
	r := &router{
		label:     label,
		ns:        l.addNS("router" + low),
		wan:       "plw" + l.suffix,
		lanBridge: "pll" + l.suffix,
		wanIP:     fmt.Sprintf("%s.%d", internetPrefix, wanHost),
		lanPrefix: lanPrefix,
		symmetric: symmetric,
	}
	l.routers = append(l.routers, r)
	l.plug(r.ns, r.wan, "plw"+l.suffix+low, r.wanIP)
	l.must("-n", r.ns, "link", "add", r.lanBridge, "type", "bridge")
	l.must("-n", r.ns, "addr", "add", lanPrefix+".1/24", "dev", r.lanBridge)
	l.must("-n", r.ns, "link", "set", r.lanBridge, "up")
	l.run(r.ns, "sh", "-c", "echo 1 > /proc/sys/net/ipv4/ip_forward")

	masq := "masquerade"
	if symmetric {
		masq = "masquerade fully-random" // a new public port per mapping: symmetric NAT
	}
	// "fwd" is an nft keyword: the chain is called forwarding.
	rules := fmt.Sprintf(`table ip nat%[1]s {
	chain postrouting {
		type nat hook postrouting priority 100; policy accept;
		oifname "%[2]s" %[4]s
	}
}
table ip filter%[1]s {
	chain forwarding {
		type filter hook forward priority 0; policy drop;
		iifname "%[2]s" ct state established,related counter accept
		ct state established,related accept
		iifname "%[3]s" accept
	}
	chain inbound {
		type filter hook input priority 0; policy accept;
		iifname "%[2]s" ct state established,related accept
		iifname "%[2]s" drop
	}
}
`, l.suffix, r.wan, r.lanBridge, masq)
	f := filepath.Join(l.procs.dir, "nft-"+low+".conf")
	if err := os.WriteFile(f, []byte(rules), 0o600); err != nil {
		l.t.Fatal(err)
	}
	l.run(r.ns, "nft", "-f", f)
	return r
}

// addHome creates home number len(r.homes)+1 behind r (label "a1"...), at
// lanPrefix.(10+n); the node is not initialized.
func (l *natLab) addHome(r *router, name string) *natNode {
	l.t.Helper()
	n := len(r.homes) + 1
	label := fmt.Sprintf("%s%d", strings.ToLower(r.label), n)
	h := &natNode{host: l.newHost(label, name), router: r, eth: "ple" + l.suffix}
	l.nodes = append(l.nodes, h)
	h.ns = l.addNS(label)
	h.ip = fmt.Sprintf("%s.%d", r.lanPrefix, 10+n)
	r.homes = append(r.homes, h)
	port := fmt.Sprintf("plh%s%d", l.suffix, n)
	l.must("-n", h.ns, "link", "add", h.eth, "type", "veth", "peer", "name", port, "netns", r.ns)
	l.must("-n", r.ns, "link", "set", port, "master", r.lanBridge)
	l.must("-n", r.ns, "link", "set", port, "up")
	l.must("-n", h.ns, "addr", "add", h.ip+"/24", "dev", h.eth)
	l.must("-n", h.ns, "link", "set", h.eth, "up")
	l.must("-n", h.ns, "link", "set", "lo", "up")
	l.must("-n", h.ns, "route", "add", "default", "via", r.lanPrefix+".1")
	// Without a multicast route mDNS fails with "setsockopt: no such device".
	l.must("-n", h.ns, "route", "add", "224.0.0.0/4", "dev", h.eth)
	return h
}

// addAnchorHost creates a namespace on the internet for an anchor at
// internetPrefix.(10+n-1); the node is not initialized.
func (l *natLab) addAnchorHost(name string) *natNode {
	l.t.Helper()
	l.anchorN++
	label := fmt.Sprintf("anchor%d", l.anchorN)
	h := &natNode{host: l.newHost(label, name), eth: "ple" + l.suffix}
	l.nodes = append(l.nodes, h)
	h.ns = l.addNS(label)
	h.ip = fmt.Sprintf("%s.%d", internetPrefix, 9+l.anchorN)
	l.plug(h.ns, h.eth, fmt.Sprintf("pla%s%d", l.suffix, l.anchorN), h.ip)
	l.must("-n", h.ns, "route", "add", "224.0.0.0/4", "dev", h.eth)
	return h
}

func (l *natLab) newHost(label, name string) *host {
	h := &host{lab: l.procs, label: label, name: name}
	h.dir = filepath.Join(l.procs.dir, label)
	h.logPath = filepath.Join(l.procs.dir, label+".log")
	if err := os.MkdirAll(h.dir, 0o700); err != nil {
		l.t.Fatal(err)
	}
	return h
}

// close kills every node and any other process left in the lab's
// namespaces, shows the nodes' logs when the test failed, and deletes the
// nftables tables and the namespaces (which takes their links along).
func (l *natLab) close() {
	t := l.t
	for _, n := range l.nodes {
		n.kill()
	}
	for _, ns := range l.namespaces {
		killNSProcs(t, ns)
	}
	if t.Failed() {
		for _, n := range l.nodes {
			b, err := os.ReadFile(n.logPath)
			if err != nil {
				continue
			}
			t.Logf("----- %s (%s) stderr -----\n%s", n.label, n.name, logTail(string(b), maxLogLines))
		}
	}
	for _, r := range l.routers {
		for _, table := range []string{"nat", "filter"} {
			if err := exec.Command("ip", "netns", "exec", r.ns, "nft", "delete", "table", "ip", table+l.suffix).Run(); err != nil {
				t.Logf("cleanup: nft delete table %s%s in %s: %v", table, l.suffix, r.ns, err)
			}
		}
	}
	for i := len(l.namespaces) - 1; i >= 0; i-- {
		if err := ip("netns", "del", l.namespaces[i]); err != nil && !strings.Contains(err.Error(), "No such file") {
			t.Errorf("cleanup: %v", err)
		}
	}
	// Nothing of the lab may be left behind, and nothing was ever made in
	// the root namespace.
	if out, err := exec.Command("ip", "-o", "link", "show").Output(); err == nil && strings.Contains(string(out), l.suffix) {
		t.Errorf("cleanup: a link named with %s is in the root namespace:\n%s", l.suffix, out)
	}
	if out, err := exec.Command("ip", "netns", "list").Output(); err == nil && strings.Contains(string(out), "-"+l.suffix+"-") {
		t.Errorf("cleanup: namespaces of this lab are left:\n%s", out)
	}
}

// killNSProcs SIGKILLs every process in namespace ns: a CLI call that
// outlived its context would keep the namespace alive after `ip netns del`.
func killNSProcs(t *testing.T, ns string) {
	out, err := exec.Command("ip", "netns", "pids", ns).Output()
	if err != nil {
		return
	}
	for _, f := range strings.Fields(string(out)) {
		pid, err := strconv.Atoi(f)
		if err == nil && pid > 1 && pid != os.Getpid() {
			t.Logf("killing leftover process %d in %s", pid, ns)
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// natNSName matches this lab's namespace names and captures the PID.
var natNSName = regexp.MustCompile(`^` + natNSPrefix + `(\d+)-[0-9a-f]+-[a-z0-9]+$`)

// sweepNATLeftovers deletes the namespaces of NAT labs whose test process
// is gone (killed before its cleanup ran); a live run's are left alone.
func sweepNATLeftovers(t *testing.T) {
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		m := natNSName.FindStringSubmatch(f[0])
		if m == nil {
			continue
		}
		pid, _ := strconv.Atoi(m[1])
		if pid == os.Getpid() || !errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) {
			continue
		}
		killNSProcs(t, f[0])
		if err := ip("netns", "del", f[0]); err != nil {
			t.Logf("sweeping a crashed run's namespace: %v", err)
		} else {
			t.Logf("swept %s, left by process %d which is gone", f[0], pid)
		}
	}
}

// inNS runs f on an OS thread that has entered namespace ns; sockets f
// creates live there. The thread goes back to its own namespace before it
// is unlocked. It must never exit instead: the nodes are started with
// Pdeathsig, which Linux sends when the forking thread exits, and that
// thread may be this one.
func inNS(ns string, f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("open this thread's namespace: %w", err)
			return
		}
		defer unix.Close(orig)
		fd, err := unix.Open("/run/netns/"+ns, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("open namespace %s: %w", ns, err)
			return
		}
		defer unix.Close(fd)
		if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("enter namespace %s: %w", ns, err)
			return
		}
		err = f()
		if rerr := unix.Setns(orig, unix.CLONE_NEWNET); rerr != nil {
			// Stuck in ns: stay locked, so the thread exits with this
			// goroutine rather than serving others from the wrong
			// namespace.
			errc <- errors.Join(err, fmt.Errorf("leave namespace %s: %w", ns, rerr))
			return
		}
		runtime.UnlockOSThread()
		errc <- err
	}()
	return <-errc
}

// listenIn opens a TCP listener on port in namespace ns; each accepted
// connection's remote address (what the far side's NAT made of the
// dialer) goes to the returned channel, and the connection is kept open
// until the test ends.
func listenIn(t *testing.T, ns string, port int) <-chan string {
	t.Helper()
	var ln net.Listener
	if err := inNS(ns, func() (err error) {
		ln, err = net.Listen("tcp4", fmt.Sprintf(":%d", port))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	seen := make(chan string, 16)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
			seen <- c.RemoteAddr().String()
		}
	}()
	return seen
}

// dialFrom dials addr from namespace ns, from local port localPort when
// not 0 (SO_REUSEADDR and SO_REUSEPORT, as libp2p dials from its listen
// port). The connection is closed when the test ends.
func dialFrom(t *testing.T, ns, addr string, localPort int) error {
	t.Helper()
	d := net.Dialer{Timeout: 2 * time.Second}
	if localPort != 0 {
		d.LocalAddr = &net.TCPAddr{Port: localPort}
		d.Control = func(_, _ string, c syscall.RawConn) error {
			var serr error
			err := c.Control(func(fd uintptr) {
				serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
				if serr == nil {
					serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
				}
			})
			if err != nil {
				return err
			}
			return serr
		}
	}
	return inNS(ns, func() error {
		c, err := d.DialContext(context.Background(), "tcp", addr)
		if err != nil {
			return err
		}
		t.Cleanup(func() { c.Close() })
		return nil
	})
}

// hostAddrs are the root namespace's global addresses: what the lab must
// not reach.
func hostAddrs(t *testing.T) []net.IP {
	t.Helper()
	ifaces, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	var out []net.IP
	for _, ifc := range ifaces {
		addrs, err := ifc.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			ipn, ok := a.(*net.IPNet)
			if ok && ipn.IP.IsGlobalUnicast() {
				out = append(out, ipn.IP)
			}
		}
	}
	return out
}

// checkIsolation proves the lab is sealed: no namespace but the homes has
// a default route (the internet has none at all), and from every home a
// TCP dial to each of the host's addresses, on a port the host listens
// on, fails as unreachable rather than connecting or being refused.
func (l *natLab) checkIsolation(t *testing.T) {
	t.Helper()
	if !manet.IsPublicAddr(mustMultiaddr(t, "/ip4/"+internetPrefix+".10/tcp/1")) {
		t.Fatalf("%s.0/24 is not public to libp2p: the lab would not test traversal", internetPrefix)
	}
	homes := map[string]bool{}
	for _, r := range l.routers {
		for _, h := range r.homes {
			homes[h.ns] = true
		}
	}
	for _, ns := range l.namespaces {
		out, err := exec.Command("ip", "-n", ns, "route", "show", "default").CombinedOutput()
		if err != nil {
			t.Fatalf("ip -n %s route show default: %v: %s", ns, err, out)
		}
		if has := strings.TrimSpace(string(out)) != ""; has != homes[ns] {
			t.Errorf("%s: default route %q (want one only in homes, via their router)", ns, strings.TrimSpace(string(out)))
		}
	}
	// A listener in the root namespace: if a home could reach it, the dial
	// would connect (or be refused, if the port were wrong).
	ln, err := net.Listen("tcp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	addrs := hostAddrs(t)
	if len(addrs) == 0 {
		t.Log("isolation: the host has no global address to try")
	}
	for _, r := range l.routers {
		for _, h := range r.homes {
			for _, a := range addrs {
				err := dialFrom(t, h.ns, net.JoinHostPort(a.String(), strconv.Itoa(port)), 0)
				switch {
				case err == nil:
					t.Errorf("isolation: %s connected to the host's %s", h.label, a)
				case errors.Is(err, syscall.ECONNREFUSED):
					t.Errorf("isolation: %s reached the host's %s (refused)", h.label, a)
				case errors.Is(err, syscall.ENETUNREACH), errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, os.ErrDeadlineExceeded):
				default:
					var ne net.Error
					if !errors.As(err, &ne) || !ne.Timeout() {
						t.Errorf("isolation: %s dialling the host's %s: unexpected %v", h.label, a, err)
					}
				}
			}
		}
	}
	t.Logf("isolation: no default route outside the homes; %d host address(es) unreachable from %d homes", len(addrs), len(homes))
}
