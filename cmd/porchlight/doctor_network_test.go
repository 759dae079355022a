package main

import (
	"strings"
	"testing"

	"github.com/porchlight-mesh/porchlight/api"
	"github.com/porchlight-mesh/porchlight/mesh"
)

// TestJudgeNetwork: doctor's network section for the homes a street has,
// and what it tells each to do.
func TestJudgeNetwork(t *testing.T) {
	up := api.AnchorStatus{PeerID: "A", Connected: true, RTTMillis: 23, Reservation: true}
	down := api.AnchorStatus{PeerID: "B"}
	cases := []struct {
		name    string
		st      api.Status
		anchors []api.AnchorStatus
		want    map[string]string // check name -> status, and a word its detail or fix has ("STATUS word")
	}{
		{"public anchor", api.Status{Reachability: mesh.ReachabilityPublic, NAT: mesh.NATUnknown, Anchor: true}, nil,
			map[string]string{"reachable": "OK anchor", "NAT": "OK reachable", "anchors": "OK reachable", "relay": ""}},
		{"behind a NAT that punches, with an anchor", api.Status{Reachability: mesh.ReachabilityPrivate, NAT: mesh.NATEndpointIndependent}, []api.AnchorStatus{up},
			map[string]string{"reachable": "WARN 7781", "NAT": "OK hole punching works", "anchor": "OK rtt 23 ms", "relay": "OK A"}},
		{"symmetric NAT", api.Status{Reachability: mesh.ReachabilityPrivate, NAT: mesh.NATEndpointDependent}, []api.AnchorStatus{up},
			map[string]string{"NAT": "WARN CGNAT", "relay": "OK A"}},
		{"no anchor", api.Status{Reachability: mesh.ReachabilityPrivate, NAT: mesh.NATUnknown}, nil,
			map[string]string{"anchors": "WARN anchor add", "relay": "WARN anchor add"}},
		{"anchors, none answers", api.Status{Reachability: mesh.ReachabilityUnknown, NAT: mesh.NATUnknown}, []api.AnchorStatus{down},
			map[string]string{"reachable": "WARN anchor add", "anchor": "WARN anchor rm B", "anchors": "WARN none of the 1", "relay": "WARN anchor add"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := map[string]checkResult{}
			for _, r := range judgeNetwork(c.st, c.anchors) {
				got[r.Name] = r
			}
			for name, want := range c.want {
				r, ok := got[name]
				if want == "" {
					if ok {
						t.Errorf("%s: %+v, want no such check", name, r)
					}
					continue
				}
				status, word, _ := strings.Cut(want, " ")
				if !ok || r.Status != status || !strings.Contains(r.Detail+" "+r.Fix, word) {
					t.Errorf("%s: %+v, want %s mentioning %q", name, r, status, word)
				}
			}
		})
	}
}

// TestBareCircuitHidden: the relay transport's own listener, a bare
// /p2p-circuit, is no address anyone dials: status and doctor leave it out
// of what they print and keep the anchors' relayed addresses.
func TestBareCircuitHidden(t *testing.T) {
	const self = "12D3KooWHome"
	relayed := "/ip4/203.0.113.10/tcp/7781/p2p/12D3KooWAnchorA/p2p-circuit/p2p/" + self
	st := api.Status{Reachability: mesh.ReachabilityPrivate, NAT: mesh.NATUnknown,
		Addrs: []string{"/p2p-circuit", "/ip4/192.168.1.20/tcp/7781/p2p/" + self},
		Addresses: api.AddressesStatus{
			Listen:   []string{"/p2p-circuit", "/ip4/0.0.0.0/tcp/7781"},
			Observed: []string{"/p2p-circuit/p2p/" + self},
			Relay:    []string{"/p2p-circuit/p2p/" + self, relayed},
		}}
	var b strings.Builder
	printNetwork(&b, st)
	for _, a := range dialable(st.Addrs) {
		b.WriteString("address: " + a + "\n")
	}
	for _, r := range judgeNetwork(st, []api.AnchorStatus{{PeerID: "12D3KooWAnchorB", Addrs: []string{"/p2p-circuit", "/ip4/203.0.113.11/tcp/7781"}}}) {
		b.WriteString(r.Detail + "\n")
	}
	out := b.String()
	for _, line := range strings.Split(out, "\n") {
		for _, f := range strings.Fields(line) {
			if strings.HasPrefix(f, "/p2p-circuit") || strings.HasPrefix(f, "(/p2p-circuit") {
				t.Errorf("printed a bare circuit: %q", line)
			}
		}
	}
	for _, want := range []string{"relayed:       " + relayed, "relayed addresses: " + relayed, "(/ip4/203.0.113.11/tcp/7781)", "address: /ip4/192.168.1.20/tcp/7781"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}
