package lab

import (
	"errors"
	"fmt"
	"net"
	"syscall"
	"testing"
	"time"

	ma "github.com/multiformats/go-multiaddr"
)

func mustMultiaddr(t *testing.T, s string) ma.Multiaddr {
	t.Helper()
	a, err := ma.NewMultiaddr(s)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestNATLabNetwork checks the NAT lab's network alone, no porchlight: it
// is sealed off from the host; a home's connections leave with its
// router's public address; plain masquerade keeps one public port per
// local port whoever the remote (endpoint-independent: hole punching
// works), fully-random gives each remote its own (symmetric); and
// unsolicited inbound traffic, even routed straight at a LAN address,
// never reaches a home.
func TestNATLabNetwork(t *testing.T) {
	natPrerequisites(t)
	l := newNATLab(t, "")
	an1 := l.addAnchorHost("anchor one")
	an2 := l.addAnchorHost("anchor two")
	ra := l.addRouter("A", 21, "192.168.10", false)
	rc := l.addRouter("C", 23, "172.16.30", true)
	a1 := l.addHome(ra, "a1")
	l.addHome(ra, "a2")
	c1 := l.addHome(rc, "c1")

	t.Run("isolation", l.checkIsolation)

	const port = 7000
	seen1 := listenIn(t, an1.ns, port)
	seen2 := listenIn(t, an2.ns, port)
	next := func(ch <-chan string, what string) *net.TCPAddr {
		t.Helper()
		select {
		case s := <-ch:
			a, err := net.ResolveTCPAddr("tcp4", s)
			if err != nil {
				t.Fatal(err)
			}
			return a
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: no connection arrived", what)
			return nil
		}
	}
	mappings := func(h *natNode, localPort int) (*net.TCPAddr, *net.TCPAddr) {
		t.Helper()
		for _, an := range []*natNode{an1, an2} {
			if err := dialFrom(t, h.ns, fmt.Sprintf("%s:%d", an.ip, port), localPort); err != nil {
				t.Fatalf("%s dialling %s: %v", h.label, an.label, err)
			}
		}
		return next(seen1, h.label+" to anchor1"), next(seen2, h.label+" to anchor2")
	}

	t.Run("masquerade", func(t *testing.T) {
		x, y := mappings(a1, 7781)
		t.Logf("a1 (%s:7781) seen as %s by anchor1 and %s by anchor2", a1.ip, x, y)
		if x.IP.String() != ra.wanIP || y.IP.String() != ra.wanIP {
			t.Errorf("a1 seen as %s and %s, want router A's public %s", x.IP, y.IP, ra.wanIP)
		}
		if x.Port != y.Port {
			t.Errorf("plain masquerade mapped one local port to %d and %d: not endpoint-independent", x.Port, y.Port)
		}
	})
	t.Run("fully-random", func(t *testing.T) {
		x, y := mappings(c1, 7781)
		t.Logf("c1 (%s:7781) seen as %s by anchor1 and %s by anchor2", c1.ip, x, y)
		if x.IP.String() != rc.wanIP || y.IP.String() != rc.wanIP {
			t.Errorf("c1 seen as %s and %s, want router C's public %s", x.IP, y.IP, rc.wanIP)
		}
		if x.Port == y.Port {
			t.Errorf("masquerade fully-random mapped one local port to %d for both remotes: not symmetric", x.Port)
		}
	})
	t.Run("inbound dropped", func(t *testing.T) {
		inbound := listenIn(t, a1.ns, 7782)
		// At the router's public address: no forward, the router answers.
		err := dialFrom(t, an1.ns, fmt.Sprintf("%s:7782", ra.wanIP), 0)
		if err == nil {
			t.Errorf("anchor1 connected to router A's %s:7782", ra.wanIP)
		}
		// Routed straight at the LAN address: the forward policy drops it.
		l.must("-n", an1.ns, "route", "add", ra.lanPrefix+".0/24", "via", ra.wanIP)
		err2 := dialFrom(t, an1.ns, fmt.Sprintf("%s:7782", a1.ip), 0)
		l.must("-n", an1.ns, "route", "del", ra.lanPrefix+".0/24", "via", ra.wanIP)
		var ne net.Error
		if err2 == nil || errors.Is(err2, syscall.ECONNREFUSED) || !errors.As(err2, &ne) || !ne.Timeout() {
			t.Errorf("anchor1 dialling a1's LAN address through router A: %v, want a timeout (dropped)", err2)
		}
		select {
		case s := <-inbound:
			t.Errorf("a1 accepted an unsolicited connection from %s", s)
		default:
		}
		t.Logf("unsolicited inbound: at the router %v; routed to the LAN %v", err, err2)
	})
}
