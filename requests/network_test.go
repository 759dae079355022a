package requests_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/porchlight-mesh/porchlight/geo"
	"github.com/porchlight-mesh/porchlight/mesh"
	"github.com/porchlight-mesh/porchlight/record"
	"github.com/porchlight-mesh/porchlight/record/pb"
	"github.com/porchlight-mesh/porchlight/requests"
	"github.com/porchlight-mesh/porchlight/store"
)

var netLog = slog.New(slog.NewTextHandler(netOut(), &slog.HandlerOptions{Level: slog.LevelDebug}))

func netOut() io.Writer {
	if os.Getenv("REQ_TEST_LOG") != "" {
		return os.Stderr
	}
	return io.Discard
}

// netNode is a home or agency: a real store on disk, the requests service
// and a mesh on 127.0.0.1.
type netNode struct {
	t       *testing.T
	name    string
	dir     string
	key     crypto.PrivKey
	home    *geo.Point
	trusted []peer.ID
	db      *store.DB
	svc     *requests.Service
	m       *mesh.Mesh
	// alone: the address book does not redial the neighbors it knows
	// (NoPeerExchange), so the node hears only from those it is
	// connected to by the test.
	alone bool
}

func newNetNode(t *testing.T, name string, home *geo.Point, trusted ...peer.ID) *netNode {
	t.Helper()
	key, _, _ := crypto.GenerateEd25519Key(rand.Reader)
	n := &netNode{t: t, name: name, dir: t.TempDir(), key: key, home: home, trusted: trusted}
	n.start()
	t.Cleanup(n.stop)
	return n
}

func (n *netNode) start() {
	n.t.Helper()
	var err error
	if n.db, err = store.Open(store.Config{Dir: n.dir, Neighborhood: "maple-st", Logger: netLog}); err != nil {
		n.t.Fatal(err)
	}
	if n.svc, err = requests.New(requests.Config{Store: n.db, Trusted: n.trusted, Home: n.home, Logger: netLog}); err != nil {
		n.t.Fatal(err)
	}
	n.m, err = mesh.New(mesh.Config{Key: n.key, Store: n.db, Name: n.name, Rules: n.svc,
		ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}, Logger: netLog, NoPeerExchange: n.alone})
	if err != nil {
		n.t.Fatal(err)
	}
	if err := n.svc.SetAppender(n.m); err != nil {
		n.t.Fatal(err)
	}
}

func (n *netNode) stop() {
	if n.m != nil {
		n.m.Close()
		n.db.Close()
		n.m, n.db = nil, nil
	}
}

func (n *netNode) connect(o *netNode) {
	n.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n.m.Connect(ctx, peer.AddrInfo{ID: o.m.ID(), Addrs: o.m.Host().Addrs()}); err != nil {
		n.t.Fatal(err)
	}
}

func (n *netNode) list(t *testing.T) []requests.Listed {
	t.Helper()
	l, err := n.svc.List("", 0)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after 15s: %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

var (
	cityHall    = geo.Point{Lat: 40.7128, Lon: -74.0060}
	metersNorth = func(p geo.Point, m float64) geo.Point {
		return geo.Point{Lat: p.Lat + m/111_195, Lon: p.Lon}
	}
)

func mustArea(t *testing.T, s string) requests.Area {
	t.Helper()
	a, err := requests.ParseArea(s)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestNeighborhoodSeesCertifiedRequests runs the whole story on real nodes:
// an issuer certifies an agency, the agency publishes a request, five homes
// see it with the right covers_home; a forged request reaches none of them;
// a revocation stops new requests but keeps old ones, marked; an agency
// that wipes its disk and rewrites seq 1 is flagged with proof everywhere;
// a late joiner receives the complete history.
func TestNeighborhoodSeesCertifiedRequests(t *testing.T) {
	issuerKey, _, _ := crypto.GenerateEd25519Key(rand.Reader)
	issuer, _ := peer.IDFromPrivateKey(issuerKey)

	// Homes: three inside a 300 m circle north of city hall, two outside.
	center := metersNorth(cityHall, 200)
	var homes []*netNode
	for i, d := range []float64{0, 100, 250, 400, 1500} {
		p := metersNorth(center, d)
		homes = append(homes, newNetNode(t, fmt.Sprintf("home-%d", i), &p, issuer))
	}
	for i := 1; i < len(homes); i++ {
		homes[i].connect(homes[i-1])
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
		Case: "2026-1142", Incident: "package theft", Contact: "det. desk 555-0100",
		Area: area, From: now.Add(-3 * time.Hour), To: now.Add(-time.Hour),
	})
	if err != nil {
		t.Fatal(err)
	}
	for i, h := range homes {
		waitFor(t, h.name+" sees the request", func() bool { return len(h.list(t)) == 1 })
		got := h.list(t)[0]
		if got.ID != req.ID || got.AgencyName != "Springfield PD" || got.Case != "2026-1142" || got.Closed {
			t.Fatalf("%s: %+v", h.name, got)
		}
		if want := i < 3; got.CoversHome != want {
			t.Errorf("%s covers_home = %v, want %v", h.name, got.CoversHome, want)
		}
	}

	// A forged request: a self-made issuer certifies a rogue key.
	rogueIssuer, _, _ := crypto.GenerateEd25519Key(rand.Reader)
	rogue := newNetNode(t, "Not The Police", nil, func() peer.ID { id, _ := peer.IDFromPrivateKey(rogueIssuer); return id }())
	forged, _ := requests.Certify(rogueIssuer, rogue.m.ID(), "Totally Real PD", mustArea(t, "circle:40.7128,-74.0060,5000"), now.Add(-time.Hour), now.Add(time.Hour))
	if err := rogue.m.PublishDoc(forged.Raw); err != nil {
		t.Fatal(err)
	}
	fake, err := rogue.svc.Create(requests.NewRequest{
		Case: "X-1", Incident: "phishing for video", Contact: "trust me",
		Area: area, From: now.Add(-2 * time.Hour), To: now.Add(-time.Hour),
	})
	if err != nil {
		t.Fatal(err)
	}
	rogue.connect(homes[2])
	waitFor(t, "the home next to the rogue refuses its request", func() bool {
		return homes[2].m.Rejected(string(record.ReasonUntrusted)) >= 1
	})
	for _, h := range homes {
		if _, err := h.db.Record(fake.ID); err == nil {
			t.Fatalf("%s stored the forged request", h.name)
		}
		if ags, _ := h.svc.Agencies(time.Now()); len(ags) != 1 {
			t.Fatalf("%s lists %d agencies, want only the certified one", h.name, len(ags))
		}
	}

	// Revocation: the agency, cut off, makes a request after it; nobody
	// accepts that one, and the first request stays, marked.
	agency.stop()
	rev, err := requests.Revoke(issuerKey, cred, time.Now(), "misuse")
	if err != nil {
		t.Fatal(err)
	}
	if err := homes[0].m.PublishDoc(rev.Raw); err != nil {
		t.Fatal(err)
	}
	for _, h := range homes {
		waitFor(t, h.name+" marks the old request as under a revoked credential", func() bool {
			l := h.list(t)
			return len(l) == 1 && l[0].Revoked && !l[0].AfterRevocation
		})
	}
	// Alone: it has not heard of the revocation. Its address book would
	// redial home-0 the moment it starts, and under load that pull could
	// bring the revocation before Create runs (seen once in CI).
	agency.alone = true
	agency.start()
	late, err := agency.svc.Create(requests.NewRequest{
		Case: "2026-1150", Incident: "after revocation", Contact: "desk",
		Area: area, From: time.Now().Add(-2 * time.Hour), To: time.Now().Add(-time.Hour),
	})
	if err != nil {
		t.Fatal(err)
	}
	agency.connect(homes[0])
	waitFor(t, "home-0 refuses the request made after the revocation", func() bool {
		return homes[0].m.Rejected(string(record.ReasonRevoked)) >= 1
	})
	for _, h := range homes {
		if _, err := h.db.Record(late.ID); err == nil {
			t.Fatalf("%s stored a request made after its credential was revoked", h.name)
		}
	}

	// The agency wipes its disk and writes seq 1 again, differently.
	agency.stop()
	if err := os.RemoveAll(agency.dir); err != nil {
		t.Fatal(err)
	}
	agency.start()
	if _, err := agency.m.Append(func(e *pb.Entry) { e.Body = &pb.Entry_Post{Post: &pb.Post{Kind: "general", Text: "a fresh start"}} }); err != nil {
		t.Fatal(err)
	}
	agency.connect(homes[4])
	for _, h := range homes {
		waitFor(t, h.name+" flags the agency as equivocating", func() bool {
			ags, _ := h.svc.Agencies(time.Now())
			return len(ags) == 1 && ags[0].Equivocation && len(ags[0].Proof) == 2
		})
	}

	// A late joiner gets the whole public history from one neighbor.
	newcomer := newNetNode(t, "newcomer", &center, issuer)
	newcomer.connect(homes[3])
	waitFor(t, "the newcomer has the history", func() bool {
		ags, _ := newcomer.svc.Agencies(time.Now())
		l := newcomer.list(t)
		return len(ags) == 1 && ags[0].Requests == 1 && ags[0].CredentialStatus == requests.StatusRevoked &&
			ags[0].Equivocation && len(l) == 1 && l[0].ID == req.ID && l[0].CoversHome
	})
}
