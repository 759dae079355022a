package node_test

// Attacks on consent, sharing and evidence (issue 11, items 1, 4, 9 and
// 11), played against real nodes on 127.0.0.1 by peers that hold nothing
// but their own keys.

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/porchlight-mesh/porchlight/api"
	"github.com/porchlight-mesh/porchlight/client"
	"github.com/porchlight-mesh/porchlight/clips"
	"github.com/porchlight-mesh/porchlight/clips/pb"
	"github.com/porchlight-mesh/porchlight/node"
	"github.com/porchlight-mesh/porchlight/record"
	"github.com/porchlight-mesh/porchlight/requests"
	"github.com/porchlight-mesh/porchlight/store"
)

// caseWorld is an agency with one open request and a home next door, both
// trusting the same issuer.
type caseWorld struct {
	agency, home *node.Node
	da, dh       string
	request      record.ID
	homeKey      crypto.PrivKey
	mk           func(name string) string
}

func newCaseWorld(t *testing.T) *caseWorld {
	t.Helper()
	issuerKey, _, _ := crypto.GenerateEd25519Key(rand.Reader)
	issuer, _ := peer.IDFromPrivateKey(issuerKey)
	w := &caseWorld{}
	w.mk = func(name string) string {
		dir := filepath.Join(t.TempDir(), "data")
		if err := node.Init(dir, node.Config{Name: name, Neighborhood: "maple-st", Location: "40.7148,-74.0060",
			API: "127.0.0.1:0", Listen: []string{"/ip4/127.0.0.1/tcp/0"}, TrustedIssuers: []string{issuer.String()}}); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	w.da, w.dh = w.mk("Springfield PD"), w.mk("12 Maple St")
	w.agency = start(t, w.da)
	t.Cleanup(func() { w.agency.Close() })
	w.home = start(t, w.dh, w.agency.Mesh().Addrs()[0].String())
	t.Cleanup(func() { w.home.Close() })
	var err error
	if w.homeKey, err = node.LoadKey(w.dh); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	jur, _ := requests.ParseArea("circle:40.7128,-74.0060,5000")
	cred, err := requests.Certify(issuerKey, w.agency.ID(), "Springfield PD", jur, now.Add(-time.Hour), now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if err := w.agency.Mesh().PublishDoc(cred.Raw); err != nil {
		t.Fatal(err)
	}
	var created map[string]string
	if code := apiCall(t, w.agency, w.da, "POST", "/api/v1/requests", api.NewRequestJSON{Case: "2026-1142", Incident: "package theft", Contact: "desk",
		Area: "circle:40.7140,-74.0055,300", From: now.Add(-3 * time.Hour), To: now.Add(-time.Hour)}, &created); code != http.StatusCreated {
		t.Fatalf("request: %d", code)
	}
	if w.request, err = record.ParseID(created["id"]); err != nil {
		t.Fatal(err)
	}
	waitPeers(t, w.agency, 1)
	waitPeers(t, w.home, 1)
	return w
}

func waitPeers(t *testing.T, n *node.Node, want int) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for len(n.Mesh().Peers()) < want {
		if time.Now().After(deadline) {
			t.Fatalf("%s has %d neighbors after 15 s, want %d", n.ID(), len(n.Mesh().Peers()), want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// evidence polls the agency's evidence list until it has want items or
// wait passes, and returns it.
func (w *caseWorld) evidence(t *testing.T, want int, wait time.Duration) []api.EvidenceJSON {
	t.Helper()
	deadline := time.Now().Add(wait)
	for {
		var ev []api.EvidenceJSON
		apiCall(t, w.agency, w.da, "GET", "/api/v1/evidence", nil, &ev)
		if len(ev) >= want && (want == 0 || ev[0].Verified) || time.Now().After(deadline) {
			return ev
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// homeShares has the home share a fresh clip with the agency in answer to
// the request, and waits until the agency holds it as evidence.
func (w *caseWorld) homeShares(t *testing.T) (*clips.SignedManifest, []byte) {
	t.Helper()
	clip, err := os.ReadFile("../clips/testdata/front-door-2026-11-27T19-42-10Z.mp4")
	if err != nil {
		t.Fatal(err)
	}
	m, err := w.home.Clips().Import(context.Background(), bytes.NewReader(clip), clips.ImportMeta{Camera: "front-door", Start: time.Now().Add(-2 * time.Hour), MediaType: "video/mp4"})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		var reqs []api.RequestJSON
		apiCall(t, w.home, w.dh, "GET", "/api/v1/requests", nil, &reqs)
		if len(reqs) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the home never saw the agency's request")
		}
		time.Sleep(20 * time.Millisecond)
	}
	var g api.GrantJSON
	if code := apiCall(t, w.home, w.dh, "POST", "/api/v1/grants", api.NewGrantJSON{Request: w.request.String(), Clips: []string{m.ClipID().String()}}, &g); code != http.StatusCreated {
		t.Fatalf("share with the agency: %d", code)
	}
	if ev := w.evidence(t, 1, 20*time.Second); len(ev) != 1 || !ev[0].Verified {
		t.Fatalf("the agency did not fetch the home's clip: %+v", ev)
	}
	return m, clip
}

// bundle exports the agency's bundle of clip: the status and the body.
func (w *caseWorld) bundle(t *testing.T, clip record.ID) (int, []byte) {
	t.Helper()
	var b bytes.Buffer
	_, err := apiClient(t, w.da).ExportEvidence(context.Background(), clip.String(), &b, nil)
	var refused *client.Error
	switch {
	case errors.As(err, &refused):
		return refused.Status, []byte(refused.Message)
	case err != nil:
		t.Fatal(err)
	}
	return http.StatusOK, b.Bytes()
}

// outsider is a libp2p peer that never joins the neighborhood, with a clip
// store and a clip server of its own.
type outsider struct {
	key   crypto.PrivKey
	id    peer.ID
	host  host.Host
	store *clips.Store
}

func newOutsider(t *testing.T) *outsider {
	t.Helper()
	o := &outsider{}
	o.key, _, _ = crypto.GenerateEd25519Key(rand.Reader)
	o.id, _ = peer.IDFromPrivateKey(o.key)
	h, err := libp2p.New(libp2p.Identity(o.key), libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"))
	if err != nil {
		t.Fatal(err)
	}
	o.host = h
	db, err := clips.OpenDB(t.TempDir(), quiet)
	if err != nil {
		t.Fatal(err)
	}
	records, err := store.Open(store.Config{Dir: t.TempDir(), Neighborhood: "maple-st", Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if o.store, err = clips.New(clips.Config{DB: db, Key: o.key, Logger: quiet}); err != nil {
		t.Fatal(err)
	}
	audit, err := clips.NewAudit(records)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := clips.NewServer(clips.ServerConfig{Host: h, Store: o.store, Audit: audit, Logger: quiet,
		Revoked: func(clips.GrantID) bool { return false }, InNeighborhood: func(peer.ID) bool { return true }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = srv.Close()
		_ = h.Close()
		_ = db.Close()
		_ = records.Close()
	})
	return o
}

func (o *outsider) connect(t *testing.T, n *node.Node) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := o.host.Connect(ctx, peer.AddrInfo{ID: n.ID(), Addrs: n.Mesh().Addrs()}); err != nil {
		t.Fatal(err)
	}
}

// sealGrant signs a grant by hand, with the grant ID of the caller's
// choosing.
func sealGrant(t *testing.T, key crypto.PrivKey, grantee peer.ID, gid clips.GrantID, request record.ID, ids ...record.ID) *clips.SignedGrant {
	t.Helper()
	owner, _ := peer.IDFromPrivateKey(key)
	now := time.Now()
	g := &pb.Grant{GrantId: gid[:], Owner: []byte(owner), Grantee: []byte(grantee), Issued: now.Add(-time.Minute).UnixMilli(), Expires: now.Add(24 * time.Hour).UnixMilli()}
	if grantee == "" {
		g.Grantee = nil
	}
	for _, id := range ids {
		g.ClipIds = append(g.ClipIds, id[:])
	}
	if !request.IsZero() {
		g.RequestId = request[:]
	}
	sg, err := clips.SealGrant(g, key)
	if err != nil {
		t.Fatal(err)
	}
	return sg
}

func randomGrantID() clips.GrantID {
	var id clips.GrantID
	_, _ = rand.Read(id[:])
	return id
}

// TestStrangerCannotPlantEvidence: a libp2p peer outside the neighborhood
// records a fabricated clip and delivers a grant for it in answer to the
// agency's real, public request. The agency must not fetch it: it would
// otherwise hold it as evidence "in" the case, with its own signed
// transfer record.
func TestStrangerCannotPlantEvidence(t *testing.T) {
	w := newCaseWorld(t)
	s := newOutsider(t)
	fake := bytes.Repeat([]byte("fabricated "), 8000)
	m, err := s.store.Import(context.Background(), bytes.NewReader(fake), clips.ImportMeta{Camera: "front-door", Start: time.Now().Add(-2 * time.Hour), MediaType: "video/mp4"})
	if err != nil {
		t.Fatal(err)
	}
	s.connect(t, w.agency)
	g := sealGrant(t, s.key, w.agency.ID(), randomGrantID(), w.request, m.ClipID())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = clips.Share(ctx, s.host, w.agency.ID(), g, []*clips.SignedManifest{m}) // refused or not, nothing may come of it
	if ev := w.evidence(t, 1, 3*time.Second); len(ev) != 0 {
		t.Fatalf("a stranger's fabricated clip became evidence in case 2026-1142: %+v", ev)
	}
	if _, err := w.agency.Clips().Manifest(m.ClipID()); err == nil {
		t.Fatal("the agency stored the stranger's clip")
	}
}

// TestOwnerTransferRecordCannotBeReplaced: after the agency received a
// home's clip, a neighbor delivers its own grant naming the same clip (with
// its own manifest of the same bytes). The agency's transfer record of the
// home's clip must stay, and the bundle must still export and verify.
func TestOwnerTransferRecordCannotBeReplaced(t *testing.T) {
	w := newCaseWorld(t)
	m, clip := w.homeShares(t)
	// A second neighbor, who got the same bytes (a post's clip, say).
	dx := w.mk("14 Maple St")
	x := start(t, dx, w.agency.Mesh().Addrs()[0].String())
	defer x.Close()
	waitPeers(t, x, 1)
	xKey, err := node.LoadKey(dx)
	if err != nil {
		t.Fatal(err)
	}
	xm, err := x.Clips().Import(context.Background(), bytes.NewReader(clip), clips.ImportMeta{Camera: "x", Start: time.Now().Add(-time.Hour), MediaType: "video/mp4"})
	if err != nil || xm.ClipID() != m.ClipID() {
		t.Fatalf("import the same bytes: %v", err)
	}
	g := sealGrant(t, xKey, w.agency.ID(), randomGrantID(), w.request, m.ClipID())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = clips.Share(ctx, x.Mesh().Host(), w.agency.ID(), g, []*clips.SignedManifest{xm})
	time.Sleep(2 * time.Second) // give a wrong fetch time to happen
	ev := w.evidence(t, 1, time.Second)
	if len(ev) != 1 || ev[0].Owner != w.home.ID().String() {
		t.Fatalf("evidence after the neighbor's grant: %+v, want the home's clip only", ev)
	}
	code, b := w.bundle(t, m.ClipID())
	if code != http.StatusOK {
		t.Fatalf("export: %d %s", code, b)
	}
	sum, err := clips.VerifyBundle(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("the bundle no longer verifies (%d bytes): %v", len(b), err)
	}
	if sum.Owner != w.home.ID() || sum.CaseNumber != "2026-1142" {
		t.Fatalf("bundle summary = %+v", sum)
	}
}

// TestHugeGrantStaysWithinBudget: a neighbor answers the request with a
// grant for a "clip" of 3 GiB. The agency must not start fetching it: it is
// past the per-owner budget.
func TestHugeGrantStaysWithinBudget(t *testing.T) {
	w := newCaseWorld(t)
	// The home's node plays the attacker: its clip server is replaced by
	// one that counts the agency's fetches.
	fetches := make(chan struct{}, 16)
	w.home.Mesh().Host().SetStreamHandler(clips.ClipProtocol, func(st network.Stream) {
		fetches <- struct{}{}
		_ = st.Reset()
	})
	const size = 3 << 30
	const cs = clips.MaxChunkSize
	zero := sha256.Sum256(make([]byte, cs))
	pm := &pb.Manifest{Camera: "front-door", Start: time.Now().Add(-2 * time.Hour).UnixMilli(), Size: size, MediaType: "video/mp4",
		ChunkSize: cs, Owner: []byte(w.home.ID()), Imported: time.Now().UnixMilli()}
	for range size / cs {
		pm.ChunkSha256 = append(pm.ChunkSha256, zero[:])
	}
	clipID := sha256.Sum256([]byte("3 GiB of nothing"))
	pm.ClipId = clipID[:]
	m, err := clips.SealManifest(pm, w.homeKey)
	if err != nil {
		t.Fatal(err)
	}
	g := sealGrant(t, w.homeKey, w.agency.ID(), randomGrantID(), w.request, m.ClipID())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := clips.Share(ctx, w.home.Mesh().Host(), w.agency.ID(), g, []*clips.SignedManifest{m}); err != nil {
		t.Fatalf("deliver: %v", err)
	}
	select {
	case <-fetches:
		t.Fatal("the agency started fetching a 3 GiB clip, past its per-owner budget")
	case <-time.After(3 * time.Second):
	}
}

// TestGrantIDCollisionCannotBlockRevoke: the grantee delivers to the owner
// a grant of its own that reuses the ID of the owner's grant. The owner's
// revoke must still work, and the clip must stop being served.
func TestGrantIDCollisionCannotBlockRevoke(t *testing.T) {
	d1, d2 := initDir(t, "owner"), initDir(t, "grantee")
	owner := start(t, d1)
	defer owner.Close()
	grantee := start(t, d2, owner.Mesh().Addrs()[0].String())
	defer grantee.Close()
	waitPeers(t, owner, 1)
	waitPeers(t, grantee, 1)
	clip, _ := os.ReadFile("../clips/testdata/front-door-2026-11-27T19-42-10Z.mp4")
	m, err := owner.Clips().Import(context.Background(), bytes.NewReader(clip), clips.ImportMeta{Camera: "front-door", Start: time.Now().Add(-time.Hour), MediaType: "video/mp4"})
	if err != nil {
		t.Fatal(err)
	}
	var gj api.GrantJSON
	if code := apiCall(t, owner, d1, "POST", "/api/v1/grants", api.NewGrantJSON{To: grantee.ID().String(), Clips: []string{m.ClipID().String()}}, &gj); code != http.StatusCreated {
		t.Fatalf("share: %d", code)
	}
	gs, err := grantee.Sharing().Grants()
	if err != nil || len(gs) != 1 {
		t.Fatalf("grantee's grants: %d, %v", len(gs), err)
	}
	real := gs[0]
	// The attack: a self-signed grant under the same ID, delivered to the owner.
	gKey, err := node.LoadKey(d2)
	if err != nil {
		t.Fatal(err)
	}
	collide := sealGrant(t, gKey, owner.ID(), real.GrantID(), record.ID{}, m.ClipID())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = clips.Share(ctx, grantee.Mesh().Host(), owner.ID(), collide, nil)

	if code := apiCall(t, owner, d1, "POST", "/api/v1/grants/"+gj.ID+"/revoke", struct{}{}, nil); code != http.StatusOK {
		t.Fatalf("the owner's revoke after the collision: %d, want 200", code)
	}
	err = func() error {
		_, err := clips.Fetch(ctx, grantee.Mesh().Host(), owner.ID(), real.Raw, m.ClipID(), 0, 0, io.Discard)
		return err
	}()
	if err == nil {
		t.Fatal("the revoked grant still fetches the clip")
	}
	var listed []api.GrantJSON
	apiCall(t, owner, d1, "GET", "/api/v1/grants", nil, &listed)
	for _, l := range listed {
		if l.ID == gj.ID && l.Owner == owner.ID().String() && !l.Revoked {
			t.Fatalf("the owner's grant is listed unrevoked: %+v", l)
		}
	}
}

// TestRetractedPostClipNotServed: a clip attached to a post stops being
// served once the post is retracted, even to a neighbor that kept the
// post's grant.
func TestRetractedPostClipNotServed(t *testing.T) {
	d1, d2 := initDir(t, "owner"), initDir(t, "neighbor")
	owner := start(t, d1)
	defer owner.Close()
	neighbor := start(t, d2, owner.Mesh().Addrs()[0].String())
	defer neighbor.Close()
	waitPeers(t, owner, 1)
	clip, _ := os.ReadFile("../clips/testdata/front-door-2026-11-27T19-42-10Z.mp4")
	m, err := owner.Clips().Import(context.Background(), bytes.NewReader(clip), clips.ImportMeta{Camera: "front-door", Start: time.Now().Add(-time.Hour), MediaType: "video/mp4"})
	if err != nil {
		t.Fatal(err)
	}
	var p api.PostJSON
	if code := apiCall(t, owner, d1, "POST", "/api/v1/posts", api.NewPostJSON{Kind: "safety", Text: "Someone tried our door", Clips: []string{m.ClipID().String()}}, &p); code != http.StatusCreated {
		t.Fatalf("post: %d", code)
	}
	pid, _ := record.ParseID(p.ID)
	post, err := owner.Store().Record(pid)
	if err != nil {
		t.Fatal(err)
	}
	grant := post.Entry.GetPost().GetClipGrant() // every neighbor has it
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := clips.Fetch(ctx, neighbor.Mesh().Host(), owner.ID(), grant, m.ClipID(), 0, 0, io.Discard); err != nil {
		t.Fatalf("fetch while the post is up: %v", err)
	}
	if code := apiCall(t, owner, d1, "DELETE", "/api/v1/posts/"+p.ID, nil, nil); code != http.StatusOK {
		t.Fatalf("retract: %d", code)
	}
	if _, err := clips.Fetch(ctx, neighbor.Mesh().Host(), owner.ID(), grant, m.ClipID(), 0, 0, io.Discard); err == nil {
		t.Fatal("the clip of a retracted post is still served")
	}
}

// TestGrantFloodIsCapped: one neighbor delivers grant after grant; the
// node keeps at most the per-owner cap, and listing stays fast.
func TestGrantFloodIsCapped(t *testing.T) {
	d1, d2 := initDir(t, "target"), initDir(t, "flooder")
	target := start(t, d1)
	defer target.Close()
	flooder := start(t, d2, target.Mesh().Addrs()[0].String())
	defer flooder.Close()
	waitPeers(t, target, 1)
	waitPeers(t, flooder, 1)
	key, err := node.LoadKey(d2)
	if err != nil {
		t.Fatal(err)
	}
	const sent = 400
	const perOwnerCap = 256 // clips.DefaultMaxReceivedPerOwner
	ids := make([]record.ID, clips.MaxGrantClips)
	for i := range ids {
		_, _ = rand.Read(ids[i][:])
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	accepted := 0
	for range sent {
		g := sealGrant(t, key, target.ID(), randomGrantID(), record.ID{}, ids...)
		if clips.Share(ctx, flooder.Mesh().Host(), target.ID(), g, nil) == nil {
			accepted++
		}
	}
	gs, err := target.Sharing().Grants()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d of %d grants accepted, %d stored", accepted, sent, len(gs))
	if len(gs) > perOwnerCap {
		t.Fatalf("%d grants from one peer stored, cap %d", len(gs), perOwnerCap)
	}
	start := time.Now()
	var listed []api.GrantJSON
	if code := apiCall(t, target, d1, "GET", "/api/v1/grants", nil, &listed); code != http.StatusOK {
		t.Fatalf("list grants: %d", code)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("listing %d grants took %v", len(listed), d)
	}
}
