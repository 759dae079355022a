package lab

import (
	"crypto/rand"
	"fmt"
	"net"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/mdns"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/miekg/dns"
	"golang.org/x/sys/unix"

	"github.com/porchlight-mesh/porchlight/mesh"
)

// inNetns runs f on a goroutine whose OS thread has entered namespace ns:
// sockets f opens live there (and keep living there when other goroutines
// use them). Afterwards the thread goes back to the namespace it came from;
// if it cannot, it stays locked and dies with the goroutine, so nothing else
// ever runs in the namespace by accident. (A goroutine that exits locked on
// the main thread wedges that thread instead of ending it: left in the lab's
// namespace, it would make the whole test process one of the namespace's
// pids, which the lab's cleanup kills.)
func inNetns(ns string, f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		home, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			errc <- fmt.Errorf("open own namespace: %w", err)
			return
		}
		defer unix.Close(home)
		fd, err := unix.Open("/var/run/netns/"+ns, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			errc <- fmt.Errorf("open namespace %s: %w", ns, err)
			return
		}
		err = unix.Setns(fd, unix.CLONE_NEWNET)
		unix.Close(fd)
		if err != nil {
			errc <- fmt.Errorf("enter namespace %s: %w", ns, err)
			return
		}
		err = f()
		if unix.Setns(home, unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		}
		errc <- err
	}()
	return <-errc
}

// mdnsQuery sends one mDNS query for Porchlight nodes from inside h's
// namespace, on its LAN interface, and returns the answers.
func mdnsQuery(t *testing.T, h *host) []*mdns.ServiceEntry {
	t.Helper()
	var out []*mdns.ServiceEntry
	err := inNetns(h.ns, func() error {
		ifi, err := net.InterfaceByName(h.eth)
		if err != nil {
			return err
		}
		entries := make(chan *mdns.ServiceEntry, 64)
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			for e := range entries {
				out = append(out, e)
			}
		}()
		err = mdns.Query(&mdns.QueryParam{Service: "_porchlight._tcp", Domain: "local", Timeout: time.Second,
			Interface: ifi, Entries: entries, DisableIPv6: true})
		close(entries)
		wg.Wait()
		return err
	})
	if err != nil {
		t.Fatalf("mdns query from %s: %v", h.label, err)
	}
	return out
}

// addSecondNetwork gives h a second interface on a network of its own (a
// VPN or a container bridge, say) with address subnet.1/24.
func addSecondNetwork(t *testing.T, l *lab, h *host, subnet string) {
	t.Helper()
	br := l.addBridge()
	outer, inner := "plx"+l.suffix, "ply"+l.suffix
	t.Cleanup(func() { _ = ip("link", "del", outer) }) // gone with the namespace already, normally
	l.must("link", "add", outer, "type", "veth", "peer", "name", inner)
	l.must("link", "set", inner, "netns", h.ns)
	l.must("link", "set", outer, "addrgenmode", "none")
	l.must("link", "set", outer, "master", br)
	l.must("link", "set", outer, "up")
	l.must("-n", h.ns, "addr", "add", subnet+".1/24", "dev", inner)
	l.must("-n", h.ns, "link", "set", inner, "up")
}

// An mDNS answer on the LAN carries only the node's LAN addresses, once:
// not its addresses on other networks (a VPN, containers), and not an
// answer from the responder of another interface (issue 11 item 17).
func TestMDNSAnswersOnlyWithTheAskingInterfacesAddresses(t *testing.T) {
	checkPrerequisites(t)
	l := newLab(t, buildBinary(t, t.TempDir()))
	node := l.addHost("Node", "maple")
	asker := l.addHost("Asker", "maple") // never started: only asks
	other := "10.98." + strings.TrimPrefix(l.subnet, "10.99.")
	addSecondNetwork(t, l, node, other)
	node.start()
	waitReady(t, node)

	var answers []*mdns.ServiceEntry
	poll(t, "an mDNS answer from the node", 20*time.Second, 500*time.Millisecond, func() error {
		answers = nil
		for _, e := range mdnsQuery(t, asker) {
			if strings.Contains(strings.Join(e.InfoFields, " "), "id="+node.peerID) {
				answers = append(answers, e)
			}
		}
		if len(answers) == 0 {
			return fmt.Errorf("no answer")
		}
		return nil
	})
	for _, e := range answers {
		addrs := []string{}
		if e.AddrV4 != nil {
			addrs = append(addrs, e.AddrV4.String())
		}
		for _, f := range e.InfoFields {
			if a, ok := strings.CutPrefix(f, "a="); ok {
				addrs = append(addrs, a)
			}
		}
		t.Logf("answer %s: addresses %v", e.Name, addrs)
		for _, a := range addrs {
			if strings.Contains(a, other+".") {
				t.Errorf("the LAN learned the node's address on another network: %s (answer %v)", a, e.InfoFields)
			}
		}
		if len(addrs) == 0 || !strings.Contains(strings.Join(addrs, " "), node.ip) {
			t.Errorf("answer %v does not carry the node's LAN address %s", e.InfoFields, node.ip)
		}
	}
}

// rotatingZone answers every query as a new Porchlight node of the
// neighborhood, with a fresh peer ID each time and the addresses given.
type rotatingZone struct {
	nb, ip string
	addrs  []string
}

func (z *rotatingZone) Records(q dns.Question) []dns.RR {
	k, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		return nil
	}
	id, _ := peer.IDFromPrivateKey(k)
	txt := []string{"pl=1", "id=" + id.String(), "nt=" + mesh.DiscoveryTag(z.nb)}
	for _, a := range z.addrs {
		txt = append(txt, "a="+a)
	}
	s, err := mdns.NewMDNSService(id.String(), "_porchlight._tcp", "", "rogue.local.", 4444, []net.IP{net.ParseIP(z.ip)}, txt)
	if err != nil {
		return nil
	}
	return s.Records(q)
}

// A stranger on the LAN answering mDNS queries cannot make the node dial
// hosts of its choosing (issue 11 item 18): an address outside the
// answering interface's network is never dialled, and one on it is not
// dialled again for a while after a failed dial, even when every answer
// names a new peer ID.
func TestMDNSStrangerCannotSteerDials(t *testing.T) {
	checkPrerequisites(t)
	l := newLab(t, buildBinary(t, t.TempDir()))
	node := l.addHost("Node", "maple")
	rogue := l.addHost("Rogue", "maple") // never started: a stranger's machine
	// An address of the rogue's that is not on the LAN, which the node can
	// reach (as a real LAN can reach the internet) through a route.
	offLink := "10.97." + strings.TrimPrefix(l.subnet, "10.99.") + ".9"
	l.must("-n", rogue.ns, "addr", "add", offLink+"/32", "dev", rogue.eth)
	l.must("-n", node.ns, "route", "add", offLink+"/32", "via", rogue.ip)

	var onLinkDials, offLinkDials atomic.Int64
	var firstOnLink atomic.Int64
	listen := func(addr string, n *atomic.Int64) {
		var ln net.Listener
		if err := inNetns(rogue.ns, func() (err error) { ln, err = net.Listen("tcp4", addr); return err }); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				if n.Add(1) == 1 && n == &onLinkDials {
					firstOnLink.Store(time.Now().UnixNano())
				}
				c.Close() // not a libp2p node: the dial fails
			}
		}()
	}
	listen(rogue.ip+":4444", &onLinkDials)
	listen(offLink+":4444", &offLinkDials)

	zone := &rotatingZone{nb: "maple", ip: rogue.ip, addrs: []string{
		"/ip4/" + rogue.ip + "/tcp/4444", "/ip4/" + offLink + "/tcp/4444"}}
	var srv *mdns.Server
	if err := inNetns(rogue.ns, func() error {
		ifi, err := net.InterfaceByName(rogue.eth)
		if err != nil {
			return err
		}
		srv, err = mdns.NewServer(&mdns.Config{Zone: zone, Iface: ifi})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Shutdown() })

	node.start()
	waitReady(t, node)
	poll(t, "the node's first dial of the on-link address", 30*time.Second, 200*time.Millisecond, func() error {
		if onLinkDials.Load() == 0 {
			return fmt.Errorf("no dial yet")
		}
		return nil
	})
	// The node queries after 0, 2 and 5 s, then every 10 s: in the 28 s
	// after the first dial it sees at least four more answers, each naming
	// a new peer. Without the backoff each one is dialled. Watch the whole
	// window (nothing happening is the point), failing as soon as it does.
	window := time.Unix(0, firstOnLink.Load()).Add(28 * time.Second)
	for time.Now().Before(window) && onLinkDials.Load() <= 1 && offLinkDials.Load() == 0 {
		time.Sleep(200 * time.Millisecond)
	}
	on, off := onLinkDials.Load(), offLinkDials.Load()
	t.Logf("in 28 s after the first dial: %d dials of the on-link address, %d of the off-link one", on, off)
	if off != 0 {
		t.Errorf("the node dialled an address outside its LAN %d times because a stranger's mDNS answer named it", off)
	}
	if on > 1 {
		t.Errorf("the node dialled the stranger's address %d times in 28 s; after a failed dial it must back off (at least %s)", on, "30s")
	}
}
