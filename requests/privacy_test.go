package requests_test

import (
	"crypto/rand"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/porchlight-mesh/porchlight/requests"
)

// TestMatchingSendsNothing checks the privacy property of docs/
// threat-model.md: whether a home is covered by a request never leaves the
// home. A covered and an uncovered home, both connected straight to the
// agency, see the request; neither writes anything to the network because
// of it, so the agency observes the same thing from both: no new record in
// either home's log, and both homes' logs identical in length before and
// after. Declining is doing nothing.
func TestMatchingSendsNothing(t *testing.T) {
	issuerKey, _, _ := crypto.GenerateEd25519Key(rand.Reader)
	issuer, _ := peer.IDFromPrivateKey(issuerKey)
	center := metersNorth(cityHall, 200)
	far := metersNorth(cityHall, 3000)
	covered := newNetNode(t, "covered", &center, issuer)
	uncovered := newNetNode(t, "uncovered", &far, issuer)
	agency := newNetNode(t, "agency", nil, issuer)
	covered.connect(agency)
	uncovered.connect(agency)

	// Let every node publish its profile and settle.
	waitFor(t, "the agency holds both homes' profiles", func() bool {
		a, _ := agency.db.Head(covered.m.ID())
		b, _ := agency.db.Head(uncovered.m.ID())
		return a.Max == 1 && b.Max == 1
	})

	now := time.Now()
	cred, err := requests.Certify(issuerKey, agency.m.ID(), "Springfield PD", mustArea(t, "circle:40.7128,-74.0060,5000"), now.Add(-time.Hour), now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if err := agency.m.PublishDoc(cred.Raw); err != nil {
		t.Fatal(err)
	}
	req, err := agency.svc.Create(requests.NewRequest{
		Case: "2026-1142", Incident: "package theft", Contact: "desk",
		Area: requests.Area{Center: center, Radius: 300}, From: now.Add(-2 * time.Hour), To: now.Add(-time.Hour),
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range []*netNode{covered, uncovered} {
		waitFor(t, h.name+" sees the request", func() bool { return len(h.list(t)) == 1 })
	}
	if !covered.list(t)[0].CoversHome || uncovered.list(t)[0].CoversHome {
		t.Fatal("covers_home is wrong; the test's premise does not hold")
	}
	// Give any (wrong) reaction time to happen: a full periodic-sync-free
	// window in which both homes keep talking to the agency.
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		for _, h := range []*netNode{covered, uncovered} {
			own, _ := h.db.Head(h.m.ID())
			seen, _ := agency.db.Head(h.m.ID())
			if own.Max != 1 || seen.Max != 1 {
				t.Fatalf("%s wrote to its log after seeing the request (own head %d, agency sees %d): matching must send nothing", h.name, own.Max, seen.Max)
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	if _, err := agency.db.Record(req.ID); err != nil {
		t.Fatal(err)
	}
}
