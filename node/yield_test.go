package node_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/porchlight-mesh/porchlight/api"
	"github.com/porchlight-mesh/porchlight/clips"
	"github.com/porchlight-mesh/porchlight/node"
	"github.com/porchlight-mesh/porchlight/record/pb"
	"github.com/porchlight-mesh/porchlight/requests"
)

// TestYieldOfThreeHomes: three homes share a clip each for an agency's
// request; the agency's node counts them in signed Yield records of its
// public log, so every node shows 3 clips from 3 homes; each home's audit
// finds its own clip included, which only it (and the agency) can check.
func TestYieldOfThreeHomes(t *testing.T) {
	issuerKey, _, _ := crypto.GenerateEd25519Key(rand.Reader)
	issuer, _ := peer.IDFromPrivateKey(issuerKey)
	mk := initTrusting(t, issuer)
	da := mk("Springfield PD", "")
	agency := start(t, da)
	defer agency.Close()
	type home struct {
		dir  string
		n    *node.Node
		clip string
	}
	var homes []*home
	for i := range 3 {
		h := &home{dir: mk(fmt.Sprintf("1%d Maple St", i), "40.7148,-74.0060")}
		h.n = start(t, h.dir, agency.Mesh().Addrs()[0].String())
		defer h.n.Close()
		homes = append(homes, h)
	}

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
	rid := created["id"]
	listed := func(n *node.Node, dir string) (api.RequestJSON, bool) {
		var reqs []api.RequestJSON
		apiCall(t, n, dir, "GET", "/api/v1/requests", nil, &reqs)
		for _, r := range reqs {
			if r.ID == rid {
				return r, true
			}
		}
		return api.RequestJSON{}, false
	}
	clip, err := os.ReadFile("../clips/testdata/front-door-2026-11-27T19-42-10Z.mp4")
	if err != nil {
		t.Fatal(err)
	}
	for i, h := range homes {
		pollUntil(t, 20*time.Second, "the home sees the request", func() bool { _, ok := listed(h.n, h.dir); return ok })
		b := append(append([]byte(nil), clip...), make([]byte, i+1)...) // three different clips
		m, err := h.n.Clips().Import(context.Background(), bytes.NewReader(b), clips.ImportMeta{Camera: "front-door",
			Start: now.Add(-2 * time.Hour), End: now.Add(-2*time.Hour + 6*time.Second), MediaType: "video/mp4"})
		if err != nil {
			t.Fatal(err)
		}
		h.clip = m.ClipID().String()
		var g api.GrantJSON
		if code := apiCall(t, h.n, h.dir, "POST", "/api/v1/grants", api.NewGrantJSON{Request: rid, Clips: []string{h.clip}}, &g); code != http.StatusCreated {
			t.Fatalf("share: %d %+v", code, g)
		}
	}

	// Every node: 3 clips, 3 homes, 18 s of video.
	type view struct {
		name string
		n    *node.Node
		dir  string
	}
	views := []view{{"agency", agency, da}}
	for i, h := range homes {
		views = append(views, view{fmt.Sprintf("home %d", i), h.n, h.dir})
	}
	for _, v := range views {
		var last api.RequestJSON
		pollUntil(t, 20*time.Second, v.name+" shows the yield", func() bool {
			last, _ = listed(v.n, v.dir)
			return last.ClipsReceived == 3 && last.HomesShared == 3
		})
		if last.VideoSeconds != 18 || last.YieldBytes < 3*int64(len(clip)) {
			t.Errorf("%s: yield %d bytes, %.3f s; want at least %d bytes, 18 s", v.name, last.YieldBytes, last.VideoSeconds, 3*len(clip))
		}
	}
	// The Yield records are the agency's own, in its log.
	h, err := agency.Store().Head(agency.ID())
	if err != nil {
		t.Fatal(err)
	}
	slots, _, err := agency.Store().Slots(agency.ID(), 1, int(h.Contig), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	yields := 0
	for _, sl := range slots {
		if s, err := agency.Store().Record(sl.ID); err == nil {
			if _, ok := s.Entry.GetBody().(*pb.Entry_Yield); ok {
				yields++
			}
		}
	}
	if yields == 0 {
		t.Fatal("no Yield record in the agency's log")
	}

	// Each home finds its own clip included.
	for i, h := range homes {
		a, err := apiClient(t, h.dir).AuditYield(context.Background(), rid)
		if err != nil {
			t.Fatal(err)
		}
		if a.Included != 1 || len(a.Clips) != 1 || a.Clips[0].Clip != h.clip || a.Clips[0].State != requests.YieldIncluded || a.Clips[0].YieldSeq == 0 {
			t.Errorf("home %d: audit = %+v; want its one clip included", i, a)
		}
	}
	// The agency shared nothing: its audit lists nothing.
	if a, err := apiClient(t, da).AuditYield(context.Background(), rid); err != nil || len(a.Clips) != 0 {
		t.Errorf("agency's audit = %+v, %v; want no clips", a, err)
	}
}

// TestYieldAfterRestart: the agency's node stops right after a clip
// arrives, before its Yield is written; started again on the same data
// directory, it writes the Yield from its transfer record, and the home
// sees the clip counted and included.
func TestYieldAfterRestart(t *testing.T) {
	issuerKey, _, _ := crypto.GenerateEd25519Key(rand.Reader)
	issuer, _ := peer.IDFromPrivateKey(issuerKey)
	mk := initTrusting(t, issuer)
	da, dh := mk("Springfield PD", ""), mk("12 Maple St", "40.7148,-74.0060")
	agency := start(t, da)
	defer func() { agency.Close() }()
	home := start(t, dh, agency.Mesh().Addrs()[0].String())
	defer home.Close()
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
	rid := created["id"]
	yieldOn := func(n *node.Node, dir string) int {
		var reqs []api.RequestJSON
		apiCall(t, n, dir, "GET", "/api/v1/requests", nil, &reqs)
		for _, r := range reqs {
			if r.ID == rid {
				return r.ClipsReceived
			}
		}
		return -1
	}
	pollUntil(t, 20*time.Second, "the home sees the request", func() bool { return yieldOn(home, dh) == 0 })
	clip, _ := os.ReadFile("../clips/testdata/front-door-2026-11-27T19-42-10Z.mp4")
	m, err := home.Clips().Import(context.Background(), bytes.NewReader(clip), clips.ImportMeta{Camera: "front-door", Start: now.Add(-2 * time.Hour), MediaType: "video/mp4"})
	if err != nil {
		t.Fatal(err)
	}
	if code := apiCall(t, home, dh, "POST", "/api/v1/grants", api.NewGrantJSON{Request: rid, Clips: []string{m.ClipID().String()}}, nil); code != http.StatusCreated {
		t.Fatalf("share: %d", code)
	}
	pollUntil(t, 20*time.Second, "the agency to receive the clip", func() bool {
		es, err := agency.Sharing().Evidence()
		return err == nil && len(es) == 1
	})
	agency.Close() // within the yield's delay: no Yield yet
	restarted := time.Now()
	agency = start(t, da, home.Mesh().Addrs()[0].String())
	pollUntil(t, 20*time.Second, "the home sees the clip counted", func() bool { return yieldOn(home, dh) == 1 })
	h, err := agency.Store().Head(agency.ID())
	if err != nil {
		t.Fatal(err)
	}
	last, err := agency.Store().Record(h.ID)
	if err != nil {
		t.Fatal(err)
	}
	if last.Entry.GetYield() == nil {
		t.Fatalf("the agency's last record is not its Yield: %T", last.Entry.GetBody())
	}
	if last.Created().Before(restarted) {
		t.Skipf("the Yield was written %s, before the agency stopped: this machine was too slow for the test's timing", last.Created())
	}
	a, err := apiClient(t, dh).AuditYield(context.Background(), rid)
	if err != nil || a.Included != 1 {
		t.Fatalf("home's audit = %+v, %v; want its clip included", a, err)
	}
}
