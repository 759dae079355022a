package node_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/porchlight-mesh/porchlight/api"
	"github.com/porchlight-mesh/porchlight/clips"
	"github.com/porchlight-mesh/porchlight/node"
	"github.com/porchlight-mesh/porchlight/record"
	"github.com/porchlight-mesh/porchlight/record/pb"
	"github.com/porchlight-mesh/porchlight/requests"
)

// omGrace is the yield grace of the nodes of TestYieldOmissionFlaggedEverywhere:
// every node of a neighborhood judges with the same.
const omGrace = 2 * time.Second

// omitFromYield is the modified agency of the test: it writes, itself, the
// Yield records of a request counting every clip it received but those of
// omit (as an agency under-reporting would).
func omitFromYield(t *testing.T, agency *node.Node, request *record.Signed, omit peer.ID) {
	t.Helper()
	ev, err := agency.Sharing().Evidence()
	if err != nil {
		t.Fatal(err)
	}
	y := &pb.Yield{RequestSeq: request.Seq(), RequestId: request.ID[:]}
	for _, e := range ev {
		if e.Transfer.Owner() == omit || string(e.Grant.G.GetRequestId()) != string(request.ID[:]) {
			continue
		}
		c := requests.YieldCommitment(request.ID, e.Grant.ID, e.Transfer.ClipID())
		y.Shares = append(y.Shares, &pb.YieldShare{Commitment: c[:], Size: e.Transfer.T.GetSize(), VideoMs: 6000})
		y.NewHomes++
	}
	if len(y.Shares) == 0 {
		t.Fatal("nothing received to count")
	}
	if _, err := agency.Mesh().Append(func(e *pb.Entry) { e.Body = &pb.Entry_Yield{Yield: y} }); err != nil {
		t.Fatalf("append the under-reporting yield: %v", err)
	}
}

// TestYieldOmissionFlaggedEverywhere: three homes share a clip each for an
// agency's request; the agency fetches all three, hands each home its
// receipt, and counts only two in its yield. Once its log passes the grace,
// the omitted home sees its clip proven missing, publishes the proof after
// confirming, and every node shows the omission, with the proof, on the
// agency; the feed shows no post for it.
func TestYieldOmissionFlaggedEverywhere(t *testing.T) {
	issuerKey, _, _ := crypto.GenerateEd25519Key(rand.Reader)
	issuer, _ := peer.IDFromPrivateKey(issuerKey)
	mk := initTrusting(t, issuer)
	// run starts a node; the agency's own yield writer is off (noYields):
	// omitFromYield writes its yield, as a modified agency would.
	run := func(dir string, noYields bool, peers ...string) *node.Node {
		n, err := node.Start(node.Options{Dir: dir, Peers: peers, DisableMDNS: true, Logger: quiet, YieldGrace: omGrace, SyncInterval: 500 * time.Millisecond, NoYieldWriter: noYields})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = n.Close() })
		return n
	}
	da := mk("Springfield PD", "")
	agency := run(da, true)
	dirs := []string{mk("10 Maple St", "40.7148,-74.0060"), mk("12 Maple St", "40.7149,-74.0061"), mk("14 Maple St", "40.7147,-74.0059")}
	var homes []*node.Node
	for _, d := range dirs {
		homes = append(homes, run(d, false, agency.Mesh().Addrs()[0].String()))
	}
	everyone := append([]*node.Node{agency}, homes...)
	dirOf := map[*node.Node]string{agency: da, homes[0]: dirs[0], homes[1]: dirs[1], homes[2]: dirs[2]}

	now := time.Now()
	jur, _ := requests.ParseArea("circle:40.7128,-74.0060,5000")
	cred, err := requests.Certify(issuerKey, agency.ID(), "Springfield PD", jur, now.Add(-time.Hour), now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if err := agency.Mesh().PublishDoc(cred.Raw); err != nil {
		t.Fatal(err)
	}
	var created map[string]string
	if code := apiCall(t, agency, da, "POST", "/api/v1/requests", api.NewRequestJSON{Case: "2026-1142", Incident: "package theft", Contact: "desk",
		Area: "circle:40.7140,-74.0055,300", From: now.Add(-3 * time.Hour), To: now.Add(-time.Hour)}, &created); code != http.StatusCreated {
		t.Fatalf("request: %d", code)
	}
	rid, _ := record.ParseID(created["id"])
	request, err := agency.Store().Record(rid)
	if err != nil {
		t.Fatal(err)
	}

	// Each home shares one clip of its own for the request.
	clipOf := map[peer.ID]record.ID{}
	for i, h := range homes {
		pollUntil(t, 30*time.Second, "the request at home "+dirs[i], func() bool {
			var reqs []api.RequestJSON
			apiCall(t, h, dirs[i], "GET", "/api/v1/requests", nil, &reqs)
			return len(reqs) == 1 && reqs[0].CoversHome
		})
		b := make([]byte, 50_000)
		_, _ = rand.Read(b)
		m, err := h.Clips().Import(context.Background(), bytes.NewReader(b), clips.ImportMeta{Camera: "porch", Start: now.Add(-2 * time.Hour), MediaType: "video/mp4"})
		if err != nil {
			t.Fatal(err)
		}
		clipOf[h.ID()] = m.ClipID()
		var g api.GrantJSON
		if code := apiCall(t, h, dirs[i], "POST", "/api/v1/grants", api.NewGrantJSON{Request: created["id"], Clips: []string{m.ClipID().String()}}, &g); code != http.StatusCreated {
			t.Fatalf("share: %d", code)
		}
	}
	// The agency fetches all three and hands each home its receipt.
	checks := func(i int) []api.OmissionCheckJSON {
		var cs []api.OmissionCheckJSON
		if code := apiCall(t, homes[i], dirs[i], "GET", "/api/v1/requests/"+created["id"]+"/omissions", nil, &cs); code != http.StatusOK {
			t.Fatalf("omission checks: %d", code)
		}
		return cs
	}
	for i := range homes {
		pollUntil(t, 30*time.Second, "the agency's receipt at home "+dirs[i], func() bool {
			cs := checks(i)
			return len(cs) == 1 && cs[0].Receipt && cs[0].Clip == clipOf[homes[i].ID()].String()
		})
	}

	// The modified agency counts two of the three, then, past the grace,
	// writes on (it closes the request).
	omitted := homes[2]
	omitFromYield(t, agency, request, omitted.ID())
	cs := checks(2)
	if cs[0].State != string(requests.OmissionPending) {
		t.Fatalf("before the agency's log passes the grace: %+v, want pending", cs[0])
	}
	due := *cs[0].Due
	pollUntil(t, 30*time.Second, "the grace to pass", func() bool { return time.Now().After(due.Add(10 * time.Millisecond)) })
	if code := apiCall(t, agency, da, "POST", "/api/v1/requests/"+created["id"]+"/close", map[string]string{"note": "done"}, nil); code != http.StatusOK {
		t.Fatalf("close: %d", code)
	}
	pollUntil(t, 30*time.Second, "the omitted home to see its clip missing", func() bool { return checks(2)[0].State == string(requests.OmissionProven) })
	for i := range homes[:2] {
		pollUntil(t, 30*time.Second, "a counted home to see its clip counted", func() bool { return checks(i)[0].State == string(requests.OmissionNotProven) })
	}

	// Publishing needs the explicit confirmation; a counted home has
	// nothing to publish.
	if code := apiCall(t, omitted, dirs[2], "POST", "/api/v1/requests/"+created["id"]+"/omissions", api.PublishOmissionJSON{}, nil); code != http.StatusBadRequest {
		t.Fatalf("publish without confirmation: %d, want 400", code)
	}
	if code := apiCall(t, homes[0], dirs[0], "POST", "/api/v1/requests/"+created["id"]+"/omissions", api.PublishOmissionJSON{Confirm: true}, nil); code != http.StatusConflict {
		t.Fatalf("publish by a counted home: %d, want 409", code)
	}
	var pub struct{ Records []string }
	if code := apiCall(t, omitted, dirs[2], "POST", "/api/v1/requests/"+created["id"]+"/omissions", api.PublishOmissionJSON{Confirm: true}, &pub); code != http.StatusCreated || len(pub.Records) != 1 {
		t.Fatalf("publish: %d %+v", code, pub)
	}

	// Every node flags the agency, with the proof.
	for _, n := range everyone {
		var flagged api.AgencyJSON
		pollUntil(t, 30*time.Second, "the omission on node "+dirOf[n], func() bool {
			var ags []api.AgencyJSON
			apiCall(t, n, dirOf[n], "GET", "/api/v1/agencies", nil, &ags)
			if len(ags) == 1 && len(ags[0].YieldOmissions) == 1 {
				flagged = ags[0]
				return true
			}
			return false
		})
		o := flagged.YieldOmissions[0]
		if o.Home != omitted.ID().String() || o.Request != created["id"] || o.Record != pub.Records[0] {
			t.Fatalf("node %s shows %+v", dirOf[n], o)
		}
		raw, err := base64.StdEncoding.DecodeString(o.Proof)
		if err != nil {
			t.Fatal(err)
		}
		sr, err := record.Open(raw, time.Now())
		if err != nil {
			t.Fatalf("the proof does not open: %v", err)
		}
		p, err := requests.OpenOmission(sr)
		if err != nil || p.Clip != clipOf[omitted.ID()] || p.Agency != agency.ID() {
			t.Fatalf("the proof: %+v, %v", p, err)
		}
		var feed []api.PostJSON
		apiCall(t, n, dirOf[n], "GET", "/api/v1/feed", nil, &feed)
		for _, post := range feed {
			if post.ID == o.Record {
				t.Fatalf("node %s shows the omission record as a post", dirOf[n])
			}
		}
	}
}
