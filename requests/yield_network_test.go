package requests_test

import (
	"crypto/rand"
	"crypto/sha256"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/porchlight-mesh/porchlight/record"
	"github.com/porchlight-mesh/porchlight/record/pb"
	"github.com/porchlight-mesh/porchlight/requests"
)

// appendForged signs by hand the next record of n's log and stores it in
// n's own database past its rules, as modified software would, for its
// neighbors to fetch by sync.
func appendForged(t *testing.T, n *netNode, body func(*pb.Entry)) *record.Signed {
	t.Helper()
	head, err := n.db.Head(n.m.ID())
	if err != nil {
		t.Fatal(err)
	}
	e := &pb.Entry{Author: []byte(n.m.ID()), Seq: head.Max + 1, Created: time.Now().UnixMilli(), Neighborhood: "maple-st"}
	if head.Max > 0 {
		e.Prev = head.ID[:]
	}
	body(e)
	s, err := record.SealAt(e, n.key, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if res, err := n.db.Ingest(s); err != nil || res.Gap {
		t.Fatalf("store the forged record in %s's log: %+v, %v", n.name, res, err)
	}
	return s
}

// TestYieldOnTheNetwork: an agency's node writes the yield of three homes'
// clips; every home shows 3 clips from 3 homes. Then a modified agency
// counts one of them again, and a home writes a Yield for the agency's
// request: every home refuses each, with its reason, and the figures stay.
func TestYieldOnTheNetwork(t *testing.T) {
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
	req, err := agency.svc.Create(requests.NewRequest{
		Case: "2026-1142", Incident: "package theft", Contact: "desk",
		Area: requests.Area{Center: center, Radius: 300}, From: now.Add(-3 * time.Hour), To: now.Add(-time.Hour),
	})
	if err != nil {
		t.Fatal(err)
	}
	var received []requests.ReceivedClip
	for i, h := range homes {
		received = append(received, requests.ReceivedClip{Request: req.ID, Grant: sha256.Sum256([]byte{'g', byte(i)}), Clip: sha256.Sum256([]byte{'c', byte(i)}), Home: h.m.ID(), Bytes: 1 << 20, VideoMS: 6000})
	}
	if _, err := agency.svc.WriteYields(received); err != nil {
		t.Fatal(err)
	}
	yieldOf := func(n *netNode) requests.Yield {
		for _, l := range n.list(t) {
			if l.ID == req.ID {
				return l.Yield
			}
		}
		return requests.Yield{}
	}
	for _, h := range homes {
		waitFor(t, h.name+" shows 3 clips from 3 homes", func() bool { y := yieldOf(h); return y.Clips == 3 && y.Homes == 3 })
	}

	// A modified agency counts home a's clip a second time.
	agency.stop()
	agency.start()
	c := requests.YieldCommitment(req.ID, received[0].Grant, received[0].Clip)
	twice := appendForged(t, agency, func(e *pb.Entry) {
		e.Body = &pb.Entry_Yield{Yield: &pb.Yield{RequestSeq: req.Seq(), RequestId: req.ID[:], NewHomes: 0,
			Shares: []*pb.YieldShare{{Commitment: c[:], Size: 1 << 20, VideoMs: 6000}}}}
	})
	refusedEverywhere(t, agency, homes, twice, record.ReasonYieldTwice)

	// A home writes a Yield for the agency's request.
	rogue := newNetNode(t, "home-rogue", &center, issuer)
	for range 3 { // a log as long as the agency's, so the Yield is well-formed
		appendForged(t, rogue, func(e *pb.Entry) { e.Body = &pb.Entry_Post{Post: &pb.Post{Kind: "general", Text: "hello"}} })
	}
	fake := sha256.Sum256([]byte("made up"))
	forged := appendForged(t, rogue, func(e *pb.Entry) {
		e.Body = &pb.Entry_Yield{Yield: &pb.Yield{RequestSeq: req.Seq(), RequestId: req.ID[:], NewHomes: 1,
			Shares: []*pb.YieldShare{{Commitment: fake[:], Size: 1, VideoMs: 1}}}}
	})
	refusedEverywhere(t, rogue, homes, forged, record.ReasonYieldNotAgency)

	for _, h := range homes {
		if y := yieldOf(h); y.Clips != 3 || y.Homes != 3 {
			t.Errorf("%s: yield %+v after the forgeries; want 3 clips from 3 homes", h.name, y)
		}
	}
}
