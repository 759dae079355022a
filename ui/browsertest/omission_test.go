package browsertest

import (
	"crypto/rand"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/porchlight-mesh/porchlight/clips"
	clipspb "github.com/porchlight-mesh/porchlight/clips/pb"
	"github.com/porchlight-mesh/porchlight/node"
	"github.com/porchlight-mesh/porchlight/record"
	"github.com/porchlight-mesh/porchlight/record/pb"
	"github.com/porchlight-mesh/porchlight/requests"
	"github.com/porchlight-mesh/porchlight/store"
)

// TestYieldOmissionAuditAndFlag: a home whose shared clip an agency
// received (its receipt is kept) and left out of its yield past the grace
// checks its shares from the request's card, reads what publishing
// reveals, publishes, and the agency is flagged on the agencies list and
// its page. The agency's log (a request 40 minutes ago, a note 5 minutes
// ago, no yield) is signed with the agency's key and stored on the home
// directly, so the grace has passed without waiting for it.
func TestYieldOmissionAuditAndFlag(t *testing.T) {
	b := browser(t)
	issuerKey, _, _ := crypto.GenerateEd25519Key(rand.Reader)
	issuer, _ := peer.IDFromPrivateKey(issuerKey)
	home := startNode(t, nodeOpts{name: "12 Maple St", location: "40.7148,-74.0060", trusted: []string{issuer.String()}})
	agencyKey, _, _ := crypto.GenerateEd25519Key(rand.Reader)
	agency, _ := peer.IDFromPrivateKey(agencyKey)
	now := time.Now()
	jur, _ := requests.ParseArea("circle:40.7128,-74.0060,5000")
	cred, err := requests.Certify(issuerKey, agency, "Springfield PD", jur, now.Add(-24*time.Hour), now.Add(365*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if err := home.Mesh().PublishDoc(cred.Raw); err != nil {
		t.Fatal(err)
	}
	area, _ := requests.ParseArea("circle:40.7140,-74.0055,300")
	var prev record.ID
	sign := func(seq uint64, created time.Time, body func(*pb.Entry)) *record.Signed {
		e := &pb.Entry{Author: []byte(agency), Seq: seq, Created: created.UnixMilli(), Neighborhood: "maple-st"}
		if seq > 1 {
			e.Prev = prev[:]
		}
		body(e)
		s, err := record.SealAt(e, agencyKey, created)
		if err != nil {
			t.Fatal(err)
		}
		if res, err := home.Store().Ingest(s); err != nil || res.Outcome != store.Added {
			t.Fatalf("store the agency's seq %d: %v %v", seq, res.Outcome, err)
		}
		prev = s.ID
		return s
	}
	req := sign(1, now.Add(-40*time.Minute), func(e *pb.Entry) {
		e.Body = &pb.Entry_Request{Request: &pb.Request{Credential: cred.ID[:], CaseNumber: "2026-1142", Incident: "package theft", Contact: "desk",
			Area: area.ToPB(), From: now.Add(-3 * time.Hour).UnixMilli(), To: now.Add(-time.Hour).UnixMilli()}}
	})

	// The home's grant of a clip to the agency, served and receipted 35
	// minutes ago.
	homeKey, err := node.LoadKey(home.dir)
	if err != nil {
		t.Fatal(err)
	}
	grants, err := clips.OpenGrants(clips.GrantsConfig{DB: home.Store(), Self: home.ID()})
	if err != nil {
		t.Fatal(err)
	}
	clip := record.IDOf([]byte("the porch clip"))
	gid := make([]byte, clips.GrantIDLen)
	_, _ = rand.Read(gid)
	g, err := clips.SealGrant(&clipspb.Grant{GrantId: gid, Owner: []byte(home.ID()), Grantee: []byte(agency), ClipIds: [][]byte{clip[:]},
		RequestId: req.ID[:], Issued: now.Add(-39 * time.Minute).UnixMilli(), Expires: now.Add(24 * time.Hour).UnixMilli()}, homeKey)
	if err != nil {
		t.Fatal(err)
	}
	if err := grants.Put(g); err != nil {
		t.Fatal(err)
	}
	audit, err := clips.NewAudit(home.Store())
	if err != nil {
		t.Fatal(err)
	}
	if err := audit.Record(clips.Entry{Time: now.Add(-36 * time.Minute), Peer: agency, Clip: clip, Grant: g.GrantID(), Served: true, Bytes: 4096}); err != nil {
		t.Fatal(err)
	}
	tr, err := clips.SealTransfer(&clipspb.Transfer{ClipId: clip[:], GrantId: gid, Owner: []byte(home.ID()), Receiver: []byte(agency),
		Received: now.Add(-35 * time.Minute).UnixMilli(), Sha256: clip[:], Size: 4096, Grant: g.ID[:]}, agencyKey)
	if err != nil {
		t.Fatal(err)
	}
	if err := grants.PutReceipt(tr, agency, now); err != nil {
		t.Fatal(err)
	}
	// The agency writes on past the grace, with no yield counting it.
	sign(2, now.Add(-5*time.Minute), func(e *pb.Entry) {
		e.Body = &pb.Entry_Update{Update: &pb.RequestUpdate{RequestSeq: 1, RequestId: req.ID[:], Note: "canvassing"}}
	})

	ctx := tab(t, b)
	home.login(t, ctx)
	step(t, ctx, "the requests", chromedp.Navigate(home.base()+"/#requests"))
	waitJS(t, ctx, "the check button", "document.querySelector('#requests .omission-check')", 10*time.Second)
	step(t, ctx, "check my shares", chromedp.Click(chromedp.CSS("#requests .omission-check")))
	waitJS(t, ctx, "the missing clip and the warning", "document.querySelector('.omission-audit').textContent.includes('missing from the yield') && document.querySelector('.omission-audit .warning').textContent.includes('every clip ID it names')", 10*time.Second)
	labelled(t, ctx, "omission-audit")
	shot(t, ctx, "omission-audit")
	step(t, ctx, "publish", chromedp.Click(chromedp.CSS(".omission-publish")))
	waitJS(t, ctx, "published", "document.querySelector('.omission-audit').textContent.includes('Published 1 omission proof')", 10*time.Second)

	step(t, ctx, "the agencies list", chromedp.Navigate(home.base()+"/#agencies"))
	waitJS(t, ctx, "the omission tag", "[...document.querySelectorAll('#agencies .tag.bad')].some(e => e.textContent === 'yield omission')", 10*time.Second)
	step(t, ctx, "the agency's page", chromedp.Navigate(home.base()+"/#agency/"+agency.String()))
	waitJS(t, ctx, "the omission warning", "document.getElementById('yield-omissions') && document.getElementById('yield-omissions').textContent.includes('left out of its published yield')", 10*time.Second)
	shot(t, ctx, "agency-yield-omission")
}
