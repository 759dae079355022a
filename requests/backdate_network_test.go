package requests_test

import (
	"crypto/rand"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/porchlight-mesh/porchlight/mesh"
	"github.com/porchlight-mesh/porchlight/record"
	"github.com/porchlight-mesh/porchlight/record/pb"
	"github.com/porchlight-mesh/porchlight/requests"
	"github.com/porchlight-mesh/porchlight/store"
)

// appendBackdated signs by hand, with the agency's key, the next record of
// its log: a request under cred dated at. It stores it in the agency's own
// database past the agency's rules, as modified software would, for its
// neighbors to fetch by sync. This is what a revoked or lapsed agency that
// keeps its key can do.
func appendBackdated(t *testing.T, agency *netNode, cred *record.Doc, area requests.Area, at time.Time) *record.Signed {
	t.Helper()
	head, err := agency.db.Head(agency.m.ID())
	if err != nil {
		t.Fatal(err)
	}
	e := &pb.Entry{
		Author: []byte(agency.m.ID()), Seq: head.Max + 1, Prev: head.ID[:], Created: at.UnixMilli(), Neighborhood: "maple-st",
		Body: &pb.Entry_Request{Request: &pb.Request{
			Credential: cred.ID[:], CaseNumber: "2026-1199", Incident: "backdated", Contact: "desk",
			Area: area.ToPB(), From: at.Add(-2 * time.Hour).UnixMilli(), To: at.Add(-time.Hour).UnixMilli(),
		}},
	}
	s, err := record.SealAt(e, agency.key, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if res, err := agency.db.Ingest(s); err != nil || res.Gap {
		t.Fatalf("store the backdated request in the agency's log: %+v, %v", res, err)
	}
	return s
}

// refusedEverywhere connects the agency to every home and waits until each
// has refused s with reason (by sync: the agency gossiped it to nobody).
func refusedEverywhere(t *testing.T, agency *netNode, homes []*netNode, s *record.Signed, reason record.Reason) {
	t.Helper()
	for _, h := range homes {
		before := h.m.Rejected(string(reason))
		agency.connect(h)
		waitFor(t, h.name+" refuses the backdated request ("+string(reason)+")", func() bool {
			return h.m.Rejected(string(reason)) > before
		})
	}
	for _, h := range homes {
		if _, err := h.db.Record(s.ID); err == nil {
			t.Fatalf("%s stored the backdated request", h.name)
		}
		for _, l := range h.list(t) {
			if l.ID == s.ID {
				t.Fatalf("%s lists the backdated request", h.name)
			}
		}
	}
}

// TestRevokedAgencyCannotBackdateOnTheNetwork: an issuer revokes an agency,
// naming the last position of its log; the agency, offline and still
// holding its key, signs a request dated a millisecond before the
// revocation, after all its earlier records, and connects to every home.
// Every home refuses it; the request made before the revocation stays.
func TestRevokedAgencyCannotBackdateOnTheNetwork(t *testing.T) {
	issuerKey, _, _ := crypto.GenerateEd25519Key(rand.Reader)
	issuer, _ := peer.IDFromPrivateKey(issuerKey)
	center := metersNorth(cityHall, 200)
	var homes []*netNode
	for i := range 3 {
		p := metersNorth(center, float64(100*i))
		homes = append(homes, newNetNode(t, "home-"+string(rune('a'+i)), &p, issuer))
		if i > 0 {
			homes[i].connect(homes[i-1])
		}
	}
	agency := newNetNode(t, "Springfield PD", nil, issuer)
	agency.connect(homes[0])

	now := time.Now()
	cred, err := requests.Certify(issuerKey, agency.m.ID(), "Springfield PD", mustArea(t, "circle:40.7128,-74.0060,5000"), now.Add(-time.Hour), now.Add(365*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if err := agency.m.PublishDoc(cred.Raw); err != nil {
		t.Fatal(err)
	}
	area := requests.Area{Center: center, Radius: 300}
	req, err := agency.svc.Create(requests.NewRequest{
		Case: "2026-1142", Incident: "package theft", Contact: "desk",
		Area: area, From: now.Add(-3 * time.Hour), To: now.Add(-time.Hour),
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range homes {
		waitFor(t, h.name+" sees the request", func() bool { return len(h.list(t)) == 1 })
	}

	// The issuer reads the agency's last position from a home and revokes
	// through it.
	ag, ok, err := homes[2].svc.Agency(agency.m.ID(), time.Now())
	if err != nil || !ok {
		t.Fatalf("Agency = %v, %v", ok, err)
	}
	if own, _ := agency.db.Head(agency.m.ID()); ag.Head != own.Max {
		t.Fatalf("a home shows the agency's head at seq %d; the agency's own is %d", ag.Head, own.Max)
	}
	agency.stop()
	revokedAt := time.Now().Add(time.Minute) // the issuer's clock may run ahead; any time after the request
	rev, err := requests.RevokeThrough(issuerKey, cred, revokedAt, ag.Head, "key compromised")
	if err != nil {
		t.Fatal(err)
	}
	if err := homes[0].m.PublishDoc(rev.Raw); err != nil {
		t.Fatal(err)
	}
	for _, h := range homes {
		waitFor(t, h.name+" marks the old request revoked", func() bool {
			l := h.list(t)
			return len(l) == 1 && l[0].ID == req.ID && l[0].Revoked && !l[0].AfterRevocation
		})
	}

	agency.start() // alone: it has not heard of the revocation
	forged := appendBackdated(t, agency, cred, area, revokedAt.Add(-time.Millisecond))
	refusedEverywhere(t, agency, homes, forged, record.ReasonRevoked)

	// A late joiner, syncing from a home, gets the history and not the
	// forgery; from the agency itself, it refuses the forgery too.
	newcomer := newNetNode(t, "newcomer", &center, issuer)
	newcomer.connect(homes[2])
	waitFor(t, "the newcomer has the old request, revoked", func() bool {
		l := newcomer.list(t)
		return len(l) == 1 && l[0].ID == req.ID && l[0].Revoked
	})
	refusedEverywhere(t, agency, []*netNode{newcomer}, forged, record.ReasonRevoked)
}

// TestLapsedAgencyCannotBackdateOnTheNetwork: an agency's first credential
// (a wide jurisdiction) expires; the issuer renews it for a smaller one and
// the agency makes a request under the renewal. It then signs a request
// under the expired credential, dated before its expiry, for an area only
// the old jurisdiction covered. Every home refuses it: its log already shows
// a later time.
func TestLapsedAgencyCannotBackdateOnTheNetwork(t *testing.T) {
	issuerKey, _, _ := crypto.GenerateEd25519Key(rand.Reader)
	issuer, _ := peer.IDFromPrivateKey(issuerKey)
	center := metersNorth(cityHall, 200)
	var homes []*netNode
	for i := range 3 {
		p := metersNorth(center, float64(100*i))
		homes = append(homes, newNetNode(t, "home-"+string(rune('a'+i)), &p, issuer))
		if i > 0 {
			homes[i].connect(homes[i-1])
		}
	}
	agency := newNetNode(t, "Springfield PD", nil, issuer)
	agency.connect(homes[0])

	now := time.Now()
	expires := now.Add(3 * time.Second)
	wide, err := requests.Certify(issuerKey, agency.m.ID(), "Springfield PD", mustArea(t, "circle:40.7128,-74.0060,5000"), now.Add(-time.Hour), expires)
	if err != nil {
		t.Fatal(err)
	}
	narrow, err := requests.Certify(issuerKey, agency.m.ID(), "Springfield PD", requests.Area{Center: cityHall, Radius: 1000}, expires, expires.Add(365*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []*record.Doc{wide, narrow} {
		if err := agency.m.PublishDoc(d.Raw); err != nil {
			t.Fatal(err)
		}
	}
	for time.Now().Before(expires.Add(10 * time.Millisecond)) {
		time.Sleep(10 * time.Millisecond)
	}
	renewed, err := agency.svc.Create(requests.NewRequest{
		Case: "2026-1142", Incident: "package theft", Contact: "desk",
		Area: requests.Area{Center: cityHall, Radius: 300}, From: time.Now().Add(-3 * time.Hour), To: time.Now().Add(-time.Hour),
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range homes {
		waitFor(t, h.name+" sees the request under the renewal", func() bool {
			l := h.list(t)
			return len(l) == 1 && l[0].ID == renewed.ID
		})
	}
	agency.stop()
	agency.start()
	far := requests.Area{Center: metersNorth(cityHall, 3000), Radius: 300} // only the old jurisdiction covers it
	forged := appendBackdated(t, agency, wide, far, expires.Add(-time.Millisecond))
	refusedEverywhere(t, agency, homes, forged, record.ReasonTime)
}

// TestAgencyClockSteppingBackStillWrites: times in an agency's log may not
// go backwards, so an agency whose clock steps back (NTP, a dead RTC
// battery) dates its next request as its latest record instead of writing
// one every node would refuse.
func TestAgencyClockSteppingBackStillWrites(t *testing.T) {
	issuerKey, _, _ := crypto.GenerateEd25519Key(rand.Reader)
	issuer, _ := peer.IDFromPrivateKey(issuerKey)
	key, _, _ := crypto.GenerateEd25519Key(rand.Reader)
	var mu sync.Mutex
	clock := time.Now()
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	db, err := store.Open(store.Config{Dir: t.TempDir(), Neighborhood: "maple-st", Logger: netLog, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	svc, err := requests.New(requests.Config{Store: db, Trusted: []peer.ID{issuer}, Logger: netLog})
	if err != nil {
		t.Fatal(err)
	}
	m, err := mesh.New(mesh.Config{Key: key, Store: db, Name: "Springfield PD", Rules: svc, ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}, Logger: netLog, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	if err := svc.SetAppender(m); err != nil {
		t.Fatal(err)
	}
	cred, err := requests.Certify(issuerKey, m.ID(), "Springfield PD", mustArea(t, "circle:40.7128,-74.0060,5000"), clock.Add(-time.Hour), clock.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if err := m.PublishDoc(cred.Raw); err != nil {
		t.Fatal(err)
	}
	in := requests.NewRequest{Case: "1", Incident: "theft", Contact: "desk", Area: requests.Area{Center: cityHall, Radius: 300}, From: clock.Add(-2 * time.Hour), To: clock.Add(-time.Hour)}
	first, err := svc.Create(in)
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	clock = clock.Add(-2 * time.Minute)
	mu.Unlock()
	in.Case = "2"
	second, err := svc.Create(in)
	if err != nil {
		t.Fatalf("Create after the clock stepped back: %v", err)
	}
	if !second.Created().Equal(first.Created()) {
		t.Fatalf("second request dated %v; want the first's time %v", second.Created(), first.Created())
	}
}
