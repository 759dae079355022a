package mesh

import (
	"fmt"
	"strings"
	"testing"

	"github.com/libp2p/go-libp2p/core/network"
	ma "github.com/multiformats/go-multiaddr"
)

// fakeConn is the part of a network.Conn that connPath reads.
type fakeConn struct {
	network.Conn
	remote  ma.Multiaddr
	limited bool
}

func (c fakeConn) RemoteMultiaddr() ma.Multiaddr { return c.remote }
func (c fakeConn) Stat() network.ConnStats {
	return network.ConnStats{Stats: network.Stats{Limited: c.limited}}
}

func TestConnPath(t *testing.T) {
	for _, c := range []struct {
		name    string
		remote  string
		limited bool
		want    Path
	}{
		{"loopback", "/ip4/127.0.0.1/tcp/7781", false, PathLAN},
		{"rfc1918", "/ip4/192.168.1.20/tcp/7781", false, PathLAN},
		{"ula", "/ip6/fd00::1/udp/7781/quic-v1", false, PathLAN},
		{"public v4", "/ip4/1.2.3.4/tcp/7781", false, PathDirect},
		{"public v6", "/ip6/2001:4860::1/udp/7781/quic-v1", false, PathDirect},
		{"circuit", "/ip4/1.2.3.4/tcp/7781/p2p/12D3KooWLRPJAA5o6Ct1yRkdUgVyqhwcCVdsF9Y8Dm2iAs3kWYzn/p2p-circuit", true, PathRelayed},
		{"limited without circuit", "/ip4/1.2.3.4/tcp/7781", true, PathRelayed},
	} {
		if got := connPath(fakeConn{remote: ma.StringCast(c.remote), limited: c.limited}); got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
}

// TestNATKindFromObservations: one local address seen under different
// public ports by two observers is an endpoint-dependent NAT; under the
// same one, endpoint-independent; a single observer, or private
// observations, tell nothing.
func TestNATKindFromObservations(t *testing.T) {
	local := ma.StringCast("/ip4/192.168.1.20/tcp/7781")
	for _, c := range []struct {
		name string
		seen [][2]string // observer's address, observed address
		want string
	}{
		{"none", nil, NATUnknown},
		{"one observer", [][2]string{{"/ip4/5.6.7.8/tcp/4001", "/ip4/1.2.3.4/tcp/7781"}}, NATUnknown},
		{"same port twice", [][2]string{{"/ip4/5.6.7.8/tcp/4001", "/ip4/1.2.3.4/tcp/7781"}, {"/ip4/9.9.9.9/tcp/4001", "/ip4/1.2.3.4/tcp/7781"}}, NATEndpointIndependent},
		{"port per remote", [][2]string{{"/ip4/5.6.7.8/tcp/4001", "/ip4/1.2.3.4/tcp/40001"}, {"/ip4/9.9.9.9/tcp/4001", "/ip4/1.2.3.4/tcp/40002"}}, NATEndpointDependent},
		{"private observer", [][2]string{{"/ip4/10.0.0.1/tcp/4001", "/ip4/1.2.3.4/tcp/1"}, {"/ip4/5.6.7.8/tcp/4001", "/ip4/1.2.3.4/tcp/2"}}, NATUnknown},
	} {
		o := natObservations{byLocal: map[string]map[string]string{}}
		for _, s := range c.seen {
			o.add(local, ma.StringCast(s[0]), ma.StringCast(s[1]))
		}
		if got := o.kind(); got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
		distinct := map[string]bool{}
		for _, s := range c.seen {
			if !strings.HasPrefix(s[0], "/ip4/10.") {
				distinct[s[1]] = true
			}
		}
		if got := o.addrs(); len(got) != len(distinct) {
			t.Errorf("%s: observed %v, want %d addresses", c.name, got, len(distinct))
		}
	}
	// Bounded: a flood of observers keeps at most maxObservations.
	o := natObservations{byLocal: map[string]map[string]string{}}
	for i := range 100 {
		o.add(local, ma.StringCast(fmt.Sprintf("/ip4/5.6.7.%d/tcp/4001", i)), ma.StringCast("/ip4/1.2.3.4/tcp/7781"))
	}
	if n := len(o.byLocal[local.String()]); n > maxObservations {
		t.Errorf("%d observations kept", n)
	}
}

func TestLoopbackOnly(t *testing.T) {
	for _, c := range []struct {
		addrs []string
		want  bool
	}{
		{[]string{"/ip4/127.0.0.1/tcp/0"}, true},
		{[]string{"/ip4/127.0.0.1/tcp/0", "/ip6/::1/udp/0/quic-v1"}, true},
		{[]string{"/ip4/127.0.0.1/tcp/0", "/ip4/0.0.0.0/tcp/7781"}, false},
		{nil, false},
	} {
		if got := loopbackOnly(c.addrs); got != c.want {
			t.Errorf("%v: %v, want %v", c.addrs, got, c.want)
		}
	}
}

func TestRelayOf(t *testing.T) {
	a := ma.StringCast("/ip4/1.2.3.4/tcp/7781/p2p/12D3KooWLRPJAA5o6Ct1yRkdUgVyqhwcCVdsF9Y8Dm2iAs3kWYzn/p2p-circuit/p2p/12D3KooWBrXBs7Lj8c7Ac8hV6V5pZ2qJ3Dz3d5TuxyKfYh1jNv2Z")
	r, ok := relayOf(a)
	if !ok || r.String() != "12D3KooWLRPJAA5o6Ct1yRkdUgVyqhwcCVdsF9Y8Dm2iAs3kWYzn" {
		t.Errorf("relay of %s = %s, %v", a, r, ok)
	}
	if _, ok := relayOf(ma.StringCast("/ip4/1.2.3.4/tcp/7781")); ok {
		t.Error("a direct address has a relay")
	}
}
