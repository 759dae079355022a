package mesh

import (
	"context"
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/hashicorp/mdns"
	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/net/swarm"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	"github.com/miekg/dns"
	ma "github.com/multiformats/go-multiaddr"
	"golang.org/x/time/rate"
)

func mustNet(t *testing.T, cidr string) *net.IPNet {
	t.Helper()
	ip, n, err := net.ParseCIDR(cidr)
	if err != nil {
		t.Fatal(err)
	}
	n.IP = ip
	return n
}

func TestOnLink(t *testing.T) {
	lan := []*net.IPNet{mustNet(t, "192.168.1.20/24"), mustNet(t, "fe80::1/64")}
	for _, c := range []struct {
		name, addr string
		want       bool
	}{
		{"neighbor on the LAN", "/ip4/192.168.1.30/tcp/7781", true},
		{"this LAN's broadcast-ish last address", "/ip4/192.168.1.255/tcp/7781", true},
		{"another private network (VPN)", "/ip4/10.8.0.5/tcp/7781", false},
		{"a public host", "/ip4/203.0.113.9/tcp/443", false},
		{"loopback", "/ip4/127.0.0.1/tcp/22", false},
		{"IPv6 link-local on the LAN", "/ip6/fe80::abcd/tcp/7781", true},
		{"IPv6 global", "/ip6/2001:db8::1/tcp/7781", false},
		{"DNS name (no IP to check)", "/dns4/example.com/tcp/7781", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := onLink(ma.StringCast(c.addr), lan); got != c.want {
				t.Fatalf("onLink(%s) = %v, want %v", c.addr, got, c.want)
			}
		})
	}
}

func TestDialBackoff(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	b := newDialBackoff(func() time.Time { return now }, mdnsBackoffMin, mdnsBackoffMax)
	id := peer.ID("stranger")
	a := ma.StringCast("/ip4/192.168.1.9/tcp/4444")
	if !b.allowed(peerKey(id)) || !b.allowed(addrKey(a)) {
		t.Fatal("a fresh peer must be allowed")
	}
	b.failed(id, []ma.Multiaddr{a})
	if b.allowed(peerKey(id)) || b.allowed(addrKey(a)) {
		t.Fatal("allowed right after a failed dial")
	}
	now = now.Add(mdnsBackoffMin - time.Second)
	if b.allowed(addrKey(a)) {
		t.Fatal("allowed before the minimum backoff passed")
	}
	now = now.Add(2 * time.Second)
	if !b.allowed(addrKey(a)) {
		t.Fatal("not allowed after the backoff passed")
	}
	// Each failure doubles the delay, up to the maximum.
	var delays []time.Duration
	for range 8 {
		b.failed(id, nil)
		e := b.m[peerKey(id)]
		delays = append(delays, e.delay)
		now = e.until
	}
	if delays[1] != 2*delays[0] || delays[len(delays)-1] != mdnsBackoffMax {
		t.Fatalf("delays %v: want doubling up to %v", delays, mdnsBackoffMax)
	}
	b.succeeded(id, []ma.Multiaddr{a})
	if !b.allowed(peerKey(id)) || !b.allowed(addrKey(a)) {
		t.Fatal("a successful dial must clear the backoff")
	}
}

func TestDialBackoffIsBounded(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	b := newDialBackoff(func() time.Time { return now }, mdnsBackoffMin, mdnsBackoffMax)
	for i := range 3 * maxBackoffEntries {
		b.failed(peer.ID(rune(i)), nil)
		now = now.Add(time.Millisecond)
	}
	if len(b.m) > maxBackoffEntries {
		t.Fatalf("%d entries, want at most %d", len(b.m), maxBackoffEntries)
	}
}

func testZone(t testing.TB) mdns.Zone {
	t.Helper()
	z, err := mdns.NewMDNSService("inst", ServiceName, "", "h.local.", 7781, []net.IP{net.ParseIP("192.168.1.20")}, []string{"pl=1"})
	if err != nil {
		t.Fatal(err)
	}
	return z
}

func TestRespond(t *testing.T) {
	z := testZone(t)
	q := func(f func(*dns.Msg)) *dns.Msg {
		m := new(dns.Msg)
		m.SetQuestion(ServiceName+".local.", dns.TypePTR)
		m.Id = 77
		if f != nil {
			f(m)
		}
		return m
	}
	for _, c := range []struct {
		name   string
		query  *dns.Msg
		answer bool
		id     uint16
	}{
		{"multicast query", q(nil), true, 0},
		{"unicast-response query (QU bit)", q(func(m *dns.Msg) { m.Question[0].Qclass |= 1 << 15 }), true, 77},
		{"another service", q(func(m *dns.Msg) { m.Question[0].Name = "_http._tcp.local." }), false, 0},
		{"a response, not a query", q(func(m *dns.Msg) { m.Response = true }), false, 0},
		{"non-zero opcode", q(func(m *dns.Msg) { m.Opcode = dns.OpcodeUpdate }), false, 0},
		{"non-zero rcode", q(func(m *dns.Msg) { m.Rcode = dns.RcodeServerFailure }), false, 0},
		{"truncated", q(func(m *dns.Msg) { m.Truncated = true }), false, 0},
		{"too many questions", q(func(m *dns.Msg) {
			for range maxQuestions {
				m.Question = append(m.Question, m.Question[0])
			}
		}), false, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := respond(z, c.query)
			if (r != nil) != c.answer {
				t.Fatalf("answered %v, want %v", r != nil, c.answer)
			}
			if r != nil && r.Id != c.id {
				t.Fatalf("id %d, want %d", r.Id, c.id)
			}
		})
	}
}

func FuzzResponderAnswer(f *testing.F) {
	m := new(dns.Msg)
	m.SetQuestion(ServiceName+".local.", dns.TypePTR)
	b, _ := m.Pack()
	f.Add(b)
	f.Add([]byte{})
	r := &responder{zones: map[int]mdns.Zone{}, limits: map[int]*rate.Limiter{}}
	r.zones[1] = testZone(f)
	r.limits[1] = rate.NewLimiter(rate.Inf, 1)
	f.Fuzz(func(t *testing.T, packet []byte) {
		out := r.answer(1, packet)
		if len(out) > 0 {
			var resp dns.Msg
			if err := resp.Unpack(out); err != nil || !resp.Response {
				t.Fatalf("answer is not a response: %v", err)
			}
		}
	})
}

// TestAddrBookRedialIsCapped: the address book redials a member that
// failed within a minute at most, however often it failed (a partition's
// two halves find each other again within a minute of it healing).
func TestAddrBookRedialIsCapped(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	b := newDialBackoff(func() time.Time { return now }, addrBookRedialMin, addrBookRedialMax)
	id := peer.ID("member")
	var delays []time.Duration
	for range 10 {
		b.failed(id, nil)
		e := b.m[peerKey(id)]
		delays = append(delays, e.delay)
		now = e.until
	}
	want := []time.Duration{15 * time.Second, 30 * time.Second, time.Minute}
	for i, d := range delays {
		if w := want[min(i, len(want)-1)]; d != w {
			t.Fatalf("delays %v: want %v then %v", delays, want, time.Minute)
		}
	}
}

// TestSwarmDialBackoffIsRecognized: a second dial of an address that just
// failed is refused by libp2p's own backoff with an error that is
// swarm.ErrDialBackoff, which the address book does not count as a
// failure of the peer.
func TestSwarmDialBackoffIsRecognized(t *testing.T) {
	h, err := libp2p.New(libp2p.NoListenAddrs, libp2p.Transport(tcp.NewTCPTransport))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close() // nothing listens there now
	key, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	other, err := peer.IDFromPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	ai := peer.AddrInfo{ID: other, Addrs: []ma.Multiaddr{ma.StringCast(fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", port))}}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.Connect(ctx, ai); err == nil || errors.Is(err, swarm.ErrDialBackoff) {
		t.Fatalf("first dial: %v, want a refused connection", err)
	}
	if err := h.Connect(ctx, ai); !errors.Is(err, swarm.ErrDialBackoff) {
		t.Fatalf("second dial: %v, want swarm.ErrDialBackoff", err)
	}
}
