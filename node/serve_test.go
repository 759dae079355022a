package node_test

import (
	"context"
	"crypto/rand"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"google.golang.org/protobuf/proto"

	"github.com/porchlight-mesh/porchlight/api"
	"github.com/porchlight-mesh/porchlight/client"
	"github.com/porchlight-mesh/porchlight/node"
	"github.com/porchlight-mesh/porchlight/record"
	"github.com/porchlight-mesh/porchlight/record/pb"
	"github.com/porchlight-mesh/porchlight/requests"
	"github.com/porchlight-mesh/porchlight/store"
	"github.com/porchlight-mesh/porchlight/store/storetest"
)

// Two open neighborhoods of the tests below.
const (
	maple = "maple-st"
	oak   = "oak-st"
)

// multiHome inits and starts a home of neighborhood nb at location loc
// (empty: none), trusting issuer, with static peers and [[serve]] tables.
func multiHome(t *testing.T, name, nb, loc string, issuer peer.ID, peers []string, serve ...node.ServeConfig) (*node.Node, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "data")
	cfg := homeConfig(name, issuer.String())
	cfg.Neighborhood, cfg.Location, cfg.Peers, cfg.Serve = nb, loc, peers, serve
	if err := node.Init(dir, cfg); err != nil {
		t.Fatal(err)
	}
	n := start(t, dir)
	t.Cleanup(func() { n.Close() })
	return n, dir
}

func addrOf(n *node.Node) string { return n.Mesh().Addrs()[0].String() }

// certify gives agency a credential of issuer ikey, stored and gossiped by
// the agency's node.
func certify(t *testing.T, ikey crypto.PrivKey, agency *node.Node) *record.Doc {
	t.Helper()
	now := time.Now()
	jur, _ := requests.ParseArea("circle:40.7128,-74.0060,5000")
	cred, err := requests.Certify(ikey, agency.ID(), "Springfield PD", jur, now.Add(-time.Hour), now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if err := agency.Mesh().PublishDoc(cred.Raw); err != nil {
		t.Fatal(err)
	}
	return cred
}

func postRequest(t *testing.T, dir, caseNo string) {
	t.Helper()
	now := time.Now()
	if _, err := apiClient(t, dir).CreateRequest(context.Background(), api.NewRequestJSON{Case: caseNo, Incident: "package theft", Contact: "desk",
		Area: "circle:40.7140,-74.0055,300", From: now.Add(-3 * time.Hour), To: now.Add(-time.Hour)}); err != nil {
		t.Fatal(err)
	}
}

// TestAgencyServesTwoNeighborhoods: one agency node, at home in maple-st
// and serving oak-st, posts a request; the homes of both neighborhoods get
// it, with the agency's whole log, and each judges locally whether it
// covers the home; no feed record crosses between the neighborhoods.
func TestAgencyServesTwoNeighborhoods(t *testing.T) {
	ikey, _, _ := crypto.GenerateEd25519Key(rand.Reader)
	issuer, _ := peer.IDFromPrivateKey(ikey)
	const near, far = "40.7128,-74.0060", "40.7600,-74.0060"

	m1, m1dir := multiHome(t, "1 Maple St", maple, near, issuer, nil)
	o1, o1dir := multiHome(t, "1 Oak St", oak, near, issuer, nil)
	o2, o2dir := multiHome(t, "9 Oak St", oak, far, issuer, []string{addrOf(o1)})
	ag, agdir := multiHome(t, "Springfield PD", maple, "", issuer, []string{addrOf(m1)},
		node.ServeConfig{Neighborhood: oak, Peers: []string{addrOf(o1)}})
	certify(t, ikey, ag)

	if _, err := apiClient(t, m1dir).Post(context.Background(), api.NewPostJSON{Text: "maple news"}); err != nil {
		t.Fatal(err)
	}
	if _, err := apiClient(t, o1dir).Post(context.Background(), api.NewPostJSON{Text: "oak news"}); err != nil {
		t.Fatal(err)
	}
	pollUntil(t, 15*time.Second, "the agency is a neighbor in both neighborhoods", func() bool {
		hs := ag.Mesh().Neighborhoods()
		return len(hs) == 2 && hs[0].Neighborhood == maple && len(hs[0].Peers) == 1 && hs[0].Peers[0] == m1.ID() &&
			hs[1].Neighborhood == oak && len(hs[1].Peers) == 1 && hs[1].Peers[0] == o1.ID()
	})
	postRequest(t, agdir, "2026-41")

	want := map[string]bool{m1dir: true, o1dir: true, o2dir: false}
	for dir, covers := range want {
		pollUntil(t, 20*time.Second, dir+" has the agency's request", func() bool {
			r, err := apiClient(t, dir).Requests(context.Background(), client.RequestsQuery{})
			return err == nil && len(r) == 1
		})
		r, _ := apiClient(t, dir).Requests(context.Background(), client.RequestsQuery{})
		if r[0].Case != "2026-41" || r[0].CoversHome != covers {
			t.Errorf("%s: request %+v, want case 2026-41 covering the home: %v", dir, r[0], covers)
		}
	}
	// One log, one history: every home holds the agency's log to the same head.
	own, _ := ag.Store().Head(ag.ID())
	for _, n := range []*node.Node{m1, o1, o2} {
		if h, _ := n.Store().Head(ag.ID()); h.Contig != own.Contig || h.ID != own.ID || h.Flagged {
			t.Errorf("%s holds the agency's log to %d (%.12s), want %d (%.12s)", n.ID(), h.Contig, h.ID, own.Contig, own.ID)
		}
	}

	// The feeds stay apart; the agency holds its home neighborhood's only.
	pollUntil(t, 10*time.Second, "9 Oak St has its neighbor's post", func() bool { return feedTexts(t, o2dir)["oak news"] })
	pollUntil(t, 10*time.Second, "the agency has its home neighborhood's post", func() bool { return feedTexts(t, agdir)["maple news"] })
	for _, dir := range []string{o1dir, o2dir} {
		if feedTexts(t, dir)["maple news"] {
			t.Errorf("%s got maple-st's feed", dir)
		}
	}
	for _, dir := range []string{m1dir, agdir} {
		if feedTexts(t, dir)["oak news"] {
			t.Errorf("%s got oak-st's feed", dir)
		}
	}
	for _, n := range []*node.Node{ag, m1} {
		for _, home := range []*node.Node{o1, o2} {
			if h, _ := n.Store().Head(home.ID()); h.Max != 0 {
				t.Errorf("%s holds %d records of an oak-st home's log", n.ID(), h.Max)
			}
		}
	}
	for _, n := range []*node.Node{o1, o2} {
		if h, _ := n.Store().Head(m1.ID()); h.Max != 0 {
			t.Errorf("%s holds %d records of a maple-st home's log", n.ID(), h.Max)
		}
	}
}

// TestForkAcrossNeighborhoodsIsFlagged: an agency signs two different
// records at one seq and shows one to each neighborhood; a home of
// maple-st that serves oak-st (a node in both) meets both versions, and
// every node of both neighborhoods flags the agency with the proof.
func TestForkAcrossNeighborhoodsIsFlagged(t *testing.T) {
	ikey, _, _ := crypto.GenerateEd25519Key(rand.Reader)
	issuer, _ := peer.IDFromPrivateKey(ikey)
	const near = "40.7128,-74.0060"

	m1, _ := multiHome(t, "1 Maple St", maple, near, issuer, nil)
	o1, o1dir := multiHome(t, "1 Oak St", oak, near, issuer, nil)
	ag, agdir := multiHome(t, "Springfield PD", maple, "", issuer, []string{addrOf(m1)})
	cred := certify(t, ikey, ag)
	postRequest(t, agdir, "2026-41")
	head, _ := ag.Store().Head(ag.ID())
	pollUntil(t, 15*time.Second, "1 Maple St has the request", func() bool {
		h, _ := m1.Store().Head(ag.ID())
		return h.Contig == head.Contig && h.ID == head.ID
	})
	slots, _, err := ag.Store().Slots(ag.ID(), 1, 100, 1<<20)
	if err != nil || len(slots) != int(head.Contig) {
		t.Fatalf("agency's log: %d slots, %v", len(slots), err)
	}
	ag.Close()

	// The modified agency node signs another request at the same seq and
	// shows it to oak-st only.
	key, err := node.LoadKey(agdir)
	if err != nil {
		t.Fatal(err)
	}
	a := slots[len(slots)-1]
	sa, err := record.Open(a.Raw, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	e := proto.Clone(sa.Entry).(*pb.Entry)
	e.GetRequest().CaseNumber = "2026-42"
	sb, err := record.Seal(e, key)
	if err != nil {
		t.Fatal(err)
	}
	if err := o1.Mesh().PublishDoc(cred.Raw); err != nil {
		t.Fatal(err)
	}
	for _, sl := range slots[:len(slots)-1] {
		s, err := record.Open(sl.Raw, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := o1.Store().Ingest(s); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := o1.Store().Ingest(sb); err != nil {
		t.Fatal(err)
	}
	r, _ := apiClient(t, o1dir).Requests(context.Background(), client.RequestsQuery{})
	if len(r) != 1 || r[0].Case != "2026-42" {
		t.Fatalf("oak-st's version of the request: %+v", r)
	}
	for _, n := range []*node.Node{m1, o1} {
		if h, _ := n.Store().Head(ag.ID()); h.Flagged {
			t.Fatalf("%s flagged the agency before the versions met", n.ID())
		}
	}

	// A home of maple-st that serves oak-st: both versions meet there.
	br, _ := multiHome(t, "3 Maple St", maple, near, issuer, []string{addrOf(m1)},
		node.ServeConfig{Neighborhood: oak, Peers: []string{addrOf(o1)}})
	for _, n := range []*node.Node{br, m1, o1} {
		pollUntil(t, 20*time.Second, n.ID().String()+" flags the agency with proof", func() bool {
			_, proof, ok, err := n.Store().Equivocation(ag.ID())
			if err != nil || !ok || len(proof) != 2 {
				return false
			}
			got := map[record.ID]bool{record.IDOf(proof[0]): true, record.IDOf(proof[1]): true}
			return got[sa.ID] && got[sb.ID]
		})
	}
	// The bridging home carried no feed across.
	if h, _ := o1.Store().Head(m1.ID()); h.Max != 0 {
		t.Errorf("1 Oak St holds %d records of a maple-st home's log", h.Max)
	}
	if h, _ := o1.Store().Head(br.ID()); h.Max != 0 {
		t.Errorf("1 Oak St holds %d records of the bridging home's log", h.Max)
	}
}

// TestServeConfigChecks: [[serve]] tables are checked at init, in words a
// user can act on.
func TestServeConfigChecks(t *testing.T) {
	cases := []struct {
		name  string
		serve []node.ServeConfig
		want  string
	}{
		{"own neighborhood", []node.ServeConfig{{Neighborhood: maple}}, "own"},
		{"listed twice", []node.ServeConfig{{Neighborhood: oak}, {Neighborhood: oak}}, "twice"},
		{"bad ID", []node.ServeConfig{{Neighborhood: "Oak St"}}, "lowercase"},
		{"peer without ID", []node.ServeConfig{{Neighborhood: oak, Peers: []string{"/ip4/10.0.0.1/tcp/7781"}}}, "/p2p/"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := node.Init(filepath.Join(t.TempDir(), "d"), node.Config{Neighborhood: maple, Serve: c.serve})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Init = %v, want an error mentioning %q", err, c.want)
			}
		})
	}
	dir := filepath.Join(t.TempDir(), "d")
	if err := node.Init(dir, node.Config{Neighborhood: maple, Serve: []node.ServeConfig{{Neighborhood: oak}}}); err != nil {
		t.Fatal(err)
	}
	cfg, err := node.LoadConfig(dir)
	if err != nil || len(cfg.Serve) != 1 || cfg.Serve[0].Neighborhood != oak {
		t.Fatalf("LoadConfig: serve %+v, %v", cfg.Serve, err)
	}
}

// TestAgencyServesAnInviteOnlyNeighborhood: an agency at home in an open
// neighborhood serves an invite-only one, which admits it by its
// credential alone (it is no member there); its request reaches every
// member, and it learns nothing of the members' logs.
func TestAgencyServesAnInviteOnlyNeighborhood(t *testing.T) {
	s := newStreet(t)
	adir := s.found("12 Elm St")
	a := start(t, adir)
	t.Cleanup(func() { a.Close() })
	bdir, res := s.join("14 Elm St", invite(t, adir, 1))
	if !res.Admitted {
		t.Fatalf("b's join = %+v", res)
	}
	b := start(t, bdir, addrOf(a))
	t.Cleanup(func() { b.Close() })
	if _, err := apiClient(t, bdir).Post(context.Background(), api.NewPostJSON{Text: "members only"}); err != nil {
		t.Fatal(err)
	}
	pollUntil(t, 10*time.Second, "the founder has b's post", func() bool { return feedTexts(t, adir)["members only"] })

	ag, agdir := multiHome(t, "Springfield PD", maple, "", s.issuer, nil,
		node.ServeConfig{Neighborhood: s.nb, Peers: []string{addrOf(a)}})
	certify(t, s.ikey, ag)
	pollUntil(t, 15*time.Second, "the founder lets the agency in", func() bool {
		hs := ag.Mesh().Neighborhoods()
		return len(hs) == 2 && len(hs[1].Peers) == 1 && hs[1].Peers[0] == a.ID()
	})
	postRequest(t, agdir, "2026-43")
	for _, dir := range []string{adir, bdir} {
		pollUntil(t, 20*time.Second, dir+" has the agency's request", func() bool {
			r, err := apiClient(t, dir).Requests(context.Background(), client.RequestsQuery{})
			return err == nil && len(r) == 1 && r[0].Case == "2026-43" && r[0].CoversHome
		})
	}
	if feedTexts(t, agdir)["members only"] {
		t.Error("the agency got the invite-only neighborhood's feed")
	}
	for _, n := range []*node.Node{a, b} {
		if h, _ := ag.Store().Head(n.ID()); h.Max != 0 {
			t.Errorf("the agency holds %d records of member %s's log", h.Max, n.ID())
		}
	}
}

// TestDecemberAgencyServesAnotherNeighborhood: the data directory of the
// last release (an agency at home in maple-st, with a request and posts)
// is given a [[serve]] table and serves oak-st with no migration: an
// oak-st home gets the agency's whole log and its request, and none of its
// posts enters oak-st's feed.
func TestDecemberAgencyServesAnotherNeighborhood(t *testing.T) {
	f := storetest.Extract(t, storetest.Archive(storetest.V2))
	dir := filepath.Join(f.Dir, "data")
	o1, _ := multiHome(t, "1 Oak St", oak, "40.7128,-74.0060", f.Peer(t, "issuer"), nil)
	cfg, err := node.LoadConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Serve = []node.ServeConfig{{Neighborhood: oak, Peers: []string{addrOf(o1)}}}
	if err := node.SaveConfig(dir, cfg.Config); err != nil {
		t.Fatal(err)
	}
	n, err := node.Start(node.Options{Dir: dir, API: "off", DisableMDNS: true,
		Listen: []string{"/ip4/127.0.0.1/tcp/0"}, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	self := f.Peer(t, "self")
	own, _ := n.Store().Head(self)
	pollUntil(t, 20*time.Second, "the oak-st home holds the agency's log", func() bool {
		h, _ := o1.Store().Head(self)
		return h.Contig == own.Contig && h.ID == own.ID
	})
	reqs, err := o1.Requests().List(self, 10)
	if err != nil || len(reqs) != 1 || reqs[0].ID != f.RecordID(t, f.Fact(t, "request")) {
		t.Errorf("oak-st's requests of the agency: %v, %v; want the fixture's", reqs, err)
	}
	if feed, err := o1.Store().Feed(10, store.Cursor{}); err != nil || len(feed) != 0 {
		t.Errorf("oak-st's feed: %d posts, %v; want none of maple-st's", len(feed), err)
	}
}

// TestInviteOnlyHomeBridgesAnOpenNeighborhood: a member of an invite-only
// neighborhood that serves an open one carries an agency of the open one's
// requests to its fellow members, and no feed either way.
func TestInviteOnlyHomeBridgesAnOpenNeighborhood(t *testing.T) {
	s := newStreet(t)
	adir := s.found("12 Elm St")
	a := start(t, adir)
	t.Cleanup(func() { a.Close() })
	o1, o1dir := multiHome(t, "1 Oak St", oak, "40.7128,-74.0060", s.issuer, nil)
	bdir, res := s.join("14 Elm St", invite(t, adir, 1))
	if !res.Admitted {
		t.Fatalf("b's join = %+v", res)
	}
	cfg, err := node.LoadConfig(bdir)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Serve = []node.ServeConfig{{Neighborhood: oak, Peers: []string{addrOf(o1)}}}
	if err := node.SaveConfig(bdir, cfg.Config); err != nil {
		t.Fatal(err)
	}
	b := start(t, bdir, addrOf(a))
	t.Cleanup(func() { b.Close() })
	for _, p := range []struct {
		dir, text string
	}{{bdir, "elm news"}, {o1dir, "oak news"}} {
		if _, err := apiClient(t, p.dir).Post(context.Background(), api.NewPostJSON{Text: p.text}); err != nil {
			t.Fatal(err)
		}
	}

	ag, agdir := multiHome(t, "Springfield PD", oak, "", s.issuer, []string{addrOf(o1)})
	certify(t, s.ikey, ag)
	postRequest(t, agdir, "2026-44")
	for _, dir := range []string{o1dir, bdir, adir} {
		pollUntil(t, 20*time.Second, dir+" has the agency's request", func() bool {
			r, err := apiClient(t, dir).Requests(context.Background(), client.RequestsQuery{})
			return err == nil && len(r) == 1 && r[0].Case == "2026-44"
		})
	}
	pollUntil(t, 10*time.Second, "the founder has b's post", func() bool { return feedTexts(t, adir)["elm news"] })
	for _, dir := range []string{adir, bdir} {
		if feedTexts(t, dir)["oak news"] {
			t.Errorf("%s got oak-st's feed", dir)
		}
	}
	for _, n := range []*node.Node{a, b} {
		if h, _ := o1.Store().Head(n.ID()); h.Max != 0 {
			t.Errorf("1 Oak St holds %d records of member %s's log", h.Max, n.ID())
		}
		if h, _ := n.Store().Head(o1.ID()); h.Max != 0 {
			t.Errorf("member %s holds %d records of 1 Oak St's log", n.ID(), h.Max)
		}
	}
}
