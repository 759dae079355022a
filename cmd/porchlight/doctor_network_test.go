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
