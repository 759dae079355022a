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
// works), fully-random gives each remote its own (symmetric); two homes
// behind plain masquerade punch a UDP hole to each other (what DCUtR does
// for QUIC) and a home behind the symmetric NAT cannot; and unsolicited
// inbound traffic, even routed straight at a LAN address, never reaches a
// home.
func TestNATLabNetwork(t *testing.T) {
	natPrerequisites(t)
	l := newNATLab(t, "")
	an1 := l.addAnchorHost("anchor one")
	an2 := l.addAnchorHost("anchor two")
	ra := l.addRouter("A", 21, "192.168.10", false)
	rb := l.addRouter("B", 22, "10.20.0", false)
	rc := l.addRouter("C", 23, "172.16.30", true)
	a1 := l.addHome(ra, "a1")
	l.addHome(ra, "a2")
	b1 := l.addHome(rb, "b1")
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
		// At the router's public address: the router drops it.
		err := dialFrom(t, an1.ns, fmt.Sprintf("%s:7782", ra.wanIP), 0)
		if ne, ok := err.(net.Error); err == nil || !ok || !ne.Timeout() {
			t.Errorf("anchor1 dialling router A's %s:7782: %v, want a timeout (dropped)", ra.wanIP, err)
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
	t.Run("udp hole punch", func(t *testing.T) {
		echo := udpIn(t, an1.ns, 7001)
		go func() { // tells each sender the address it came from
			buf := make([]byte, 64)
			for {
				n, from, err := echo.ReadFromUDP(buf)
				if err != nil {
					return
				}
				echo.WriteToUDP([]byte(from.String()), from)
				_ = n
			}
		}()
		public := func(c *net.UDPConn) *net.UDPAddr {
			t.Helper()
			if _, err := c.WriteToUDP([]byte("?"), &net.UDPAddr{IP: net.ParseIP(an1.ip), Port: 7001}); err != nil {
				t.Fatal(err)
			}
			c.SetReadDeadline(time.Now().Add(3 * time.Second))
			buf := make([]byte, 64)
			n, _, err := c.ReadFromUDP(buf)
			if err != nil {
				t.Fatalf("no answer from anchor1: %v", err)
			}
			a, err := net.ResolveUDPAddr("udp4", string(buf[:n]))
			if err != nil {
				t.Fatal(err)
			}
			return a
		}
		// punch: both send to each other's public address every 50 ms for
		// up to 3 s; it reports what each received.
		punch := func(x, y *natNode, port int) (bool, bool) {
			cx, cy := udpIn(t, x.ns, port), udpIn(t, y.ns, port)
			px, py := public(cx), public(cy)
			got := func(c *net.UDPConn, to *net.UDPAddr, res chan<- bool) {
				deadline := time.Now().Add(3 * time.Second)
				buf := make([]byte, 64)
				for time.Now().Before(deadline) {
					c.WriteToUDP([]byte("punch"), to)
					c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
					if n, _, err := c.ReadFromUDP(buf); err == nil && string(buf[:n]) == "punch" {
						c.WriteToUDP([]byte("punch"), to) // so the other side hears it too
						res <- true
						return
					}
				}
				res <- false
			}
			rx, ry := make(chan bool, 1), make(chan bool, 1)
			go got(cx, py, rx)
			go got(cy, px, ry)
			okx, oky := <-rx, <-ry
			t.Logf("%s (public %s) <-> %s (public %s): %s heard %v, %s heard %v", x.label, px, y.label, py, x.label, okx, y.label, oky)
			return okx, oky
		}
		if okA, okB := punch(a1, b1, 7790); !okA || !okB {
			t.Errorf("a1 and b1 behind plain masquerade did not punch a UDP hole (a1 heard %v, b1 heard %v)", okA, okB)
		}
		if okA, okC := punch(a1, c1, 7791); okA || okC {
			t.Errorf("a1 and c1 punched a UDP hole through the symmetric NAT (a1 heard %v, c1 heard %v)", okA, okC)
		}
	})
}

// udpIn opens a UDP socket on port in namespace ns, closed when the test
// ends.
func udpIn(t *testing.T, ns string, port int) *net.UDPConn {
	t.Helper()
	var c *net.UDPConn
	if err := inNS(ns, func() (err error) {
		c, err = net.ListenUDP("udp4", &net.UDPAddr{Port: port})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}
