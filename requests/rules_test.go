package requests_test

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"log/slog"
	"math"
	"strings"
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

// The tests in this file judge records with the real rules, over a real
// store: an issuer certifies the agency "Springfield PD", whose log records
// are checked with CheckEntry and then stored with db.Ingest, as the mesh
// does. Every identifier here starts with "rule" so that it cannot clash
// with the package's other test files.

const ruleHood = "maple-st"

// ruleBase is when the story happens. Records are sealed with their own
// created time as the signer's clock, so the real clock never matters.
var ruleBase = time.Date(2026, 11, 27, 18, 0, 0, 0, time.UTC)

// The agency's credential is valid for a month either side of ruleBase.
var (
	ruleNotBefore = ruleBase.Add(-30 * 24 * time.Hour)
	ruleNotAfter  = ruleBase.Add(30 * 24 * time.Hour)
)

var ruleQuiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// ruleCenter is downtown Springfield; every shape is placed in meters from it.
var ruleCenter = geo.Point{Lat: 39.7817, Lon: -89.6501}

// ruleAt is the point north and east meters from ruleCenter, on a local flat
// map (good to centimeters over the few km used here).
func ruleAt(north, east float64) geo.Point {
	const perDegree = 6_371_008.8 * math.Pi / 180
	return geo.Point{
		Lat: ruleCenter.Lat + north/perDegree,
		Lon: ruleCenter.Lon + east/(perDegree*math.Cos(ruleCenter.Lat*math.Pi/180)),
	}
}

func ruleCircle(north, east, radius float64) requests.Area {
	return requests.Area{Center: ruleAt(north, east), Radius: radius}
}

// rulePolygon takes (north, east) pairs in meters.
func rulePolygon(ne ...float64) requests.Area {
	var a requests.Area
	for i := 0; i+1 < len(ne); i += 2 {
		a.Polygon = append(a.Polygon, ruleAt(ne[i], ne[i+1]))
	}
	return a
}

// ruleSquare is a square of side meters with its south-west corner at
// (north, east).
func ruleSquare(north, east, side float64) requests.Area {
	return rulePolygon(north, east, north, east+side, north+side, east+side, north+side, east)
}

// ruleJurisdiction is the agency's: a 4 km square around ruleCenter.
var ruleJurisdiction = ruleSquare(-2000, -2000, 4000)

// ruleCircleSqMi is the area of a circle of radius r meters in square miles,
// computed here rather than by the package.
func ruleCircleSqMi(r float64) float64 { return math.Pi * r * r / 2_589_988.110336 }

func ruleNewKey(t *testing.T) (crypto.PrivKey, peer.ID) {
	t.Helper()
	key, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return key, id
}

// ruleLog writes one author's log. seq and prev are those of the last record
// signed into it, stored or deliberately left out (a gap).
type ruleLog struct {
	key  crypto.PrivKey
	id   peer.ID
	seq  uint64
	prev record.ID
}

func ruleNewLog(t *testing.T) *ruleLog {
	key, id := ruleNewKey(t)
	return &ruleLog{key: key, id: id}
}

// sign seals the log's next record; it does not advance the log.
func (l *ruleLog) sign(created time.Time, set func(*pb.Entry)) (*record.Signed, error) {
	e := &pb.Entry{Author: []byte(l.id), Seq: l.seq + 1, Created: created.UnixMilli(), Neighborhood: ruleHood}
	if l.seq > 0 {
		e.Prev = l.prev[:]
	}
	set(e)
	return record.SealAt(e, l.key, created)
}

// skip advances the log past s without storing it anywhere.
func (l *ruleLog) skip(s *record.Signed) { l.seq, l.prev = s.Seq(), s.ID }

// ruleFixture is one node (store and requests service) that trusts one
// issuer, which has certified one agency.
type ruleFixture struct {
	t         *testing.T
	db        *store.DB
	svc       *requests.Service
	issuerKey crypto.PrivKey
	issuer    peer.ID
	agency    *ruleLog
	cred      *record.Doc
}

// newRuleFixture builds the node with cfg (Store, Trusted and Logger are
// filled in) and stores the agency's credential.
func newRuleFixture(t *testing.T, cfg requests.Config) *ruleFixture {
	t.Helper()
	f := &ruleFixture{t: t, agency: ruleNewLog(t)}
	f.issuerKey, f.issuer = ruleNewKey(t)
	db, err := store.Open(store.Config{Dir: t.TempDir(), Neighborhood: ruleHood, Logger: ruleQuiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("close store: %v", err)
		}
	})
	f.db = db
	cfg.Store = db
	cfg.Trusted = append(cfg.Trusted, f.issuer)
	if cfg.Logger == nil {
		cfg.Logger = ruleQuiet
	}
	if f.svc, err = requests.New(cfg); err != nil {
		t.Fatalf("requests.New: %v", err)
	}
	f.cred = f.certify(f.issuerKey, f.agency.id, ruleJurisdiction)
	if added, err := f.svc.IngestDoc(f.cred.Raw); err != nil || !added {
		t.Fatalf("IngestDoc(credential) = %v, %v; want true, nil", added, err)
	}
	return f
}

// certify signs (but does not store) a credential valid from ruleNotBefore
// to ruleNotAfter.
func (f *ruleFixture) certify(key crypto.PrivKey, agency peer.ID, jurisdiction requests.Area) *record.Doc {
	f.t.Helper()
	d, err := requests.Certify(key, agency, "Springfield PD", jurisdiction, ruleNotBefore, ruleNotAfter)
	if err != nil {
		f.t.Fatalf("Certify: %v", err)
	}
	return d
}

// renewal is a second credential of the agency (valid a day longer), not
// stored. Signatures are deterministic: certifying the same fields again
// would give the very same document.
func (f *ruleFixture) renewal() *record.Doc {
	f.t.Helper()
	d, err := requests.Certify(f.issuerKey, f.agency.id, "Springfield PD", ruleJurisdiction, ruleNotBefore, ruleNotAfter.Add(24*time.Hour))
	if err != nil {
		f.t.Fatalf("Certify: %v", err)
	}
	return d
}

func (f *ruleFixture) revoke(cred *record.Doc, at time.Time) *record.Doc {
	f.t.Helper()
	d, err := requests.Revoke(f.issuerKey, cred, at, "badge lost")
	if err != nil {
		f.t.Fatalf("Revoke: %v", err)
	}
	return d
}

func (f *ruleFixture) ingestDoc(d *record.Doc) {
	f.t.Helper()
	if _, err := f.svc.IngestDoc(d.Raw); err != nil {
		f.t.Fatalf("IngestDoc: %v", err)
	}
}

// ruleRequest is a valid request made at created under cred: a 300 m circle
// (0.109 sq mi) on ruleCenter, for the 90 minutes from an hour before.
func ruleRequest(cred *record.Doc, created time.Time) *pb.Request {
	return &pb.Request{
		Credential:  cred.ID[:],
		CaseNumber:  "SPD-2026-11-0427",
		Incident:    "Package theft",
		Description: "Porch camera footage of a grey van.",
		Contact:     "Det. Ruiz, 217-555-0100",
		Area:        ruleCircle(0, 0, 300).ToPB(),
		From:        created.Add(-time.Hour).UnixMilli(),
		To:          created.Add(30 * time.Minute).UnixMilli(),
	}
}

func ruleRequestBody(r *pb.Request) func(*pb.Entry) {
	return func(e *pb.Entry) { e.Body = &pb.Entry_Request{Request: r} }
}

func ruleUpdateBody(seq uint64, id record.ID, closed bool, note string) func(*pb.Entry) {
	return func(e *pb.Entry) {
		e.Body = &pb.Entry_Update{Update: &pb.RequestUpdate{RequestSeq: seq, RequestId: id[:], Closed: closed, Note: note}}
	}
}

func rulePostBody(e *pb.Entry) {
	e.Body = &pb.Entry_Post{Post: &pb.Post{Kind: "safety", Text: "Officers on Maple St this evening."}}
}

// mustSign signs l's next record or fails the test.
func (f *ruleFixture) mustSign(l *ruleLog, created time.Time, set func(*pb.Entry)) *record.Signed {
	f.t.Helper()
	s, err := l.sign(created, set)
	if err != nil {
		f.t.Fatalf("seal seq %d: %v", l.seq+1, err)
	}
	return s
}

// store does what the mesh does with a record from the network: CheckEntry,
// then db.Ingest. Both must accept it; the log advances.
func (f *ruleFixture) store(l *ruleLog, s *record.Signed) {
	f.t.Helper()
	if err := f.svc.CheckEntry(s); err != nil {
		f.t.Fatalf("CheckEntry(seq %d): %v", s.Seq(), err)
	}
	res, err := f.db.Ingest(s)
	if err != nil || res.Outcome != store.Added {
		f.t.Fatalf("Ingest(seq %d) = %+v, %v; want added", s.Seq(), res, err)
	}
	l.skip(s)
}

// append signs and stores l's next record.
func (f *ruleFixture) append(l *ruleLog, created time.Time, set func(*pb.Entry)) *record.Signed {
	f.t.Helper()
	s := f.mustSign(l, created, set)
	f.store(l, s)
	return s
}

// request signs and stores a valid request of the fixture's agency.
func (f *ruleFixture) request(created time.Time) *record.Signed {
	f.t.Helper()
	return f.append(f.agency, created, ruleRequestBody(ruleRequest(f.cred, created)))
}

// ruleVerdict checks a verdict: nil if want is "" and !held, an error
// wrapping mesh.ErrHeld if held, else a *record.Invalid with reason want.
func ruleVerdict(t *testing.T, what string, err error, want record.Reason, held bool) {
	t.Helper()
	switch {
	case held:
		if !errors.Is(err, mesh.ErrHeld) {
			t.Errorf("%s = %v; want held (mesh.ErrHeld)", what, err)
		} else if r := record.ReasonOf(err); r != "" {
			t.Errorf("%s = %v: held, but also refused with reason %q", what, err, r)
		}
	case want == "":
		if err != nil {
			t.Errorf("%s = %v; want nil", what, err)
		}
	default:
		if got := record.ReasonOf(err); got != want {
			t.Errorf("%s = %v; want reason %q", what, err, want)
		} else if errors.Is(err, mesh.ErrHeld) {
			t.Errorf("%s = %v: refused, but also held", what, err)
		}
	}
}

// Edits of the default request.

type ruleEdit func(f *ruleFixture, r *pb.Request, created time.Time)

func ruleArea(a requests.Area) ruleEdit {
	return func(_ *ruleFixture, r *pb.Request, _ time.Time) { r.Area = a.ToPB() }
}

// ruleWindow sets a window of length that ends end after the request is made.
func ruleWindow(length, end time.Duration) ruleEdit {
	return func(_ *ruleFixture, r *pb.Request, created time.Time) {
		r.To = created.Add(end).UnixMilli()
		r.From = r.To - length.Milliseconds()
	}
}

// ruleCred names the credential made by mk, storing it first if store.
func ruleCred(store bool, mk func(f *ruleFixture) *record.Doc) ruleEdit {
	return func(f *ruleFixture, r *pb.Request, _ time.Time) {
		d := mk(f)
		if store {
			if _, err := f.svc.IngestDoc(d.Raw); err != nil {
				f.t.Fatalf("IngestDoc: %v", err)
			}
		}
		r.Credential = d.ID[:]
	}
}

// ruleRevokedAt stores a revocation of the agency's credential from at.
func ruleRevokedAt(at ...time.Time) func(f *ruleFixture) {
	return func(f *ruleFixture) {
		for _, a := range at {
			f.ingestDoc(f.revoke(f.cred, a))
		}
	}
}

// TestRulesRequest judges one request of the agency, made at ruleBase+at
// after setup, with the rules of limits.
func TestRulesRequest(t *testing.T) {
	const ms = time.Millisecond
	const day = 24 * time.Hour
	// Exact bounds: limits set to the very area of a shape, as the package
	// computes it, so that the comparison's edge is what is tested.
	exactMin := ruleCircle(0, 0, 200).SquareMiles() // 0.0485 sq mi
	exactMax := ruleCircle(0, 0, 400).SquareMiles() // 0.194 sq mi

	tests := []struct {
		name   string
		limits requests.Limits
		setup  func(f *ruleFixture)
		at     time.Duration // created = ruleBase + at
		edit   ruleEdit
		want   record.Reason
		held   bool
	}{
		// Shapes that pass.
		{name: "valid circle"},
		{name: "valid polygon", edit: ruleArea(ruleSquare(-250, -250, 500))},
		{name: "valid concave polygon", edit: ruleArea(rulePolygon(0, 0, 0, 600, 300, 600, 300, 300, 600, 300, 600, 0))},
		{name: "valid polygon touching the jurisdiction's corner", edit: ruleArea(ruleSquare(1500, 1500, 500))},

		// The credential.
		{name: "credential unknown: held", held: true,
			edit: ruleCred(false, (*ruleFixture).renewal)},
		{name: "self-made credential", want: record.ReasonUntrusted,
			edit: ruleCred(true, func(f *ruleFixture) *record.Doc { return f.certify(f.agency.key, f.agency.id, ruleJurisdiction) })},
		{name: "credential of a stranger issuer", want: record.ReasonUntrusted,
			edit: ruleCred(true, func(f *ruleFixture) *record.Doc {
				key, _ := ruleNewKey(f.t)
				return f.certify(key, f.agency.id, ruleJurisdiction)
			})},
		{name: "credential for another agency key", want: record.ReasonUncertified,
			edit: ruleCred(true, func(f *ruleFixture) *record.Doc {
				_, other := ruleNewKey(f.t)
				return f.certify(f.issuerKey, other, ruleJurisdiction)
			})},
		{name: "credential ID names a revocation", want: record.ReasonUncertified,
			edit: ruleCred(true, func(f *ruleFixture) *record.Doc {
				other := f.renewal()
				f.ingestDoc(other)
				return f.revoke(other, ruleBase.Add(day))
			})},
		{name: "made 1 ms before not_before", at: -30*day - ms, want: record.ReasonExpired},
		{name: "made at not_before", at: -30 * day},
		{name: "made 1 ms before not_after", at: 30*day - ms},
		{name: "made at not_after", at: 30 * day, want: record.ReasonExpired},
		{name: "made after not_after", at: 31 * day, want: record.ReasonExpired},
		{name: "revoked an hour before the request", setup: ruleRevokedAt(ruleBase.Add(-time.Hour)), want: record.ReasonRevoked},
		{name: "revoked at the very millisecond of the request", setup: ruleRevokedAt(ruleBase), want: record.ReasonRevoked},
		{name: "revoked 1 ms after the request", setup: ruleRevokedAt(ruleBase.Add(ms))},
		{name: "revoked a day after the request", setup: ruleRevokedAt(ruleBase.Add(day))},
		{name: "a later revocation, then an earlier one", setup: ruleRevokedAt(ruleBase.Add(day), ruleBase.Add(-time.Hour)), want: record.ReasonRevoked},
		{name: "an earlier revocation, then a later one", setup: ruleRevokedAt(ruleBase.Add(-time.Hour), ruleBase.Add(day)), want: record.ReasonRevoked},

		// The area's size: 0.025 to 0.5 square miles.
		{name: "circle 100 m (0.012 sq mi)", edit: ruleArea(ruleCircle(0, 0, 100)), want: record.ReasonAreaSize},
		{name: "circle 143 m (0.0248 sq mi)", edit: ruleArea(ruleCircle(0, 0, 143)), want: record.ReasonAreaSize},
		{name: "circle 144 m (0.0252 sq mi)", edit: ruleArea(ruleCircle(0, 0, 144))},
		{name: "circle 600 m (0.437 sq mi) is within bounds", edit: ruleArea(ruleCircle(0, 0, 600))},
		{name: "circle 642 m (0.49994 sq mi)", edit: ruleArea(ruleCircle(0, 0, 642))},
		{name: "circle 643 m (0.5015 sq mi)", edit: ruleArea(ruleCircle(0, 0, 643)), want: record.ReasonAreaSize},
		{name: "circle 700 m (0.594 sq mi)", edit: ruleArea(ruleCircle(0, 0, 700)), want: record.ReasonAreaSize},
		{name: "polygon 100 m square (0.004 sq mi)", edit: ruleArea(ruleSquare(0, 0, 100)), want: record.ReasonAreaSize},
		{name: "polygon 1200 m square (0.556 sq mi)", edit: ruleArea(ruleSquare(-600, -600, 1200)), want: record.ReasonAreaSize},
		{name: "area exactly the minimum", limits: requests.Limits{MinArea: exactMin}, edit: ruleArea(ruleCircle(0, 0, 200))},
		{name: "area exactly the maximum", limits: requests.Limits{MaxArea: exactMax}, edit: ruleArea(ruleCircle(0, 0, 400))},
		{name: "1 m under the minimum", limits: requests.Limits{MinArea: exactMin}, edit: ruleArea(ruleCircle(0, 0, 199)), want: record.ReasonAreaSize},
		{name: "1 m over the maximum", limits: requests.Limits{MaxArea: exactMax}, edit: ruleArea(ruleCircle(0, 0, 401)), want: record.ReasonAreaSize},

		// The area's shape and place.
		{name: "polygon partly outside the jurisdiction", edit: ruleArea(ruleSquare(0, 1800, 500)), want: record.ReasonJurisdiction},
		{name: "circle outside the jurisdiction", edit: ruleArea(ruleCircle(0, 5000, 300)), want: record.ReasonJurisdiction},
		{name: "circle across the jurisdiction's edge", edit: ruleArea(ruleCircle(0, 1900, 300)), want: record.ReasonJurisdiction},
		{name: "circle 2 m inside the jurisdiction's edge", edit: ruleArea(ruleCircle(0, 1698, 300))},
		{name: "self-intersecting polygon (bowtie)", edit: ruleArea(rulePolygon(0, 0, 500, 500, 0, 500, 500, 0)), want: record.ReasonArea},
		{name: "polygon repeating its first vertex", edit: ruleArea(rulePolygon(0, 0, 0, 500, 500, 500, 500, 0, 0, 0)), want: record.ReasonArea},
		{name: "polygon with a doubled vertex", edit: ruleArea(rulePolygon(0, 0, 0, 500, 0, 500, 500, 500, 500, 0)), want: record.ReasonArea},

		// The window: 15 min to 12 h, ending at most 1 h after the request.
		{name: "window 14 min", edit: ruleWindow(14*time.Minute, 30*time.Minute), want: record.ReasonWindow},
		{name: "window 15 min less 1 ms", edit: ruleWindow(15*time.Minute-ms, 30*time.Minute), want: record.ReasonWindow},
		{name: "window 15 min", edit: ruleWindow(15*time.Minute, 30*time.Minute)},
		{name: "window 12 h", edit: ruleWindow(12*time.Hour, 30*time.Minute)},
		{name: "window 12 h and 1 ms", edit: ruleWindow(12*time.Hour+ms, 30*time.Minute), want: record.ReasonWindow},
		{name: "window 12 h 01 min", edit: ruleWindow(12*time.Hour+time.Minute, 30*time.Minute), want: record.ReasonWindow},
		{name: "window ending 1 h after the request", edit: ruleWindow(time.Hour, time.Hour)},
		{name: "window ending 1 h and 1 ms after the request", edit: ruleWindow(time.Hour, time.Hour+ms), want: record.ReasonWindow},
		{name: "window ending 2 h after the request", edit: ruleWindow(time.Hour, 2*time.Hour), want: record.ReasonWindow},
		{name: "window wholly in the past", edit: ruleWindow(time.Hour, -4*time.Hour)},
		{name: "window ending before it starts", edit: ruleWindow(-30*time.Minute, 0), want: record.ReasonWindow},
		{
			// (to-from) ms is 2^64/1e6 + 900,000: as a time.Duration it
			// wraps to 15 min, and to-created wraps negative.
			name: "window of 584 years", want: record.ReasonWindow,
			edit: func(_ *ruleFixture, r *pb.Request, created time.Time) {
				r.From = created.Add(-time.Hour).UnixMilli()
				r.To = r.From + 18_446_744_973_710
			},
		},
		{
			// to-created ms is 2^64/1e6 rounded up: it wraps to 0.45 ms.
			name: "window 30 min long, 584 years ahead", want: record.ReasonWindow,
			edit: func(_ *ruleFixture, r *pb.Request, created time.Time) {
				r.To = created.UnixMilli() + 18_446_744_073_710
				r.From = r.To - 30*60*1000
			},
		},

		// The log before the request.
		{name: "seq above a gap in the agency's log", held: true, setup: func(f *ruleFixture) {
			f.request(ruleBase.Add(-time.Hour))
			f.agency.skip(f.mustSign(f.agency, ruleBase.Add(-30*time.Minute), rulePostBody))
		}},
		{name: "after a post and a closed request", setup: func(f *ruleFixture) {
			r := f.request(ruleBase.Add(-time.Hour))
			f.append(f.agency, ruleBase.Add(-50*time.Minute), rulePostBody)
			f.append(f.agency, ruleBase.Add(-40*time.Minute), ruleUpdateBody(r.Seq(), r.ID, true, "Van found."))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newRuleFixture(t, requests.Config{Limits: tt.limits})
			if tt.setup != nil {
				tt.setup(f)
			}
			created := ruleBase.Add(tt.at)
			r := ruleRequest(f.cred, created)
			if tt.edit != nil {
				tt.edit(f, r, created)
			}
			s := f.mustSign(f.agency, created, ruleRequestBody(r))
			err := f.svc.CheckEntry(s)
			ruleVerdict(t, "CheckEntry", err, tt.want, tt.held)
			if err != nil {
				return
			}
			if res, err := f.db.Ingest(s); err != nil || res.Outcome != store.Added || res.Gap {
				t.Fatalf("Ingest = %+v, %v; want added, no gap", res, err)
			}
			items, err := f.svc.List(f.agency.id, 0)
			if err != nil || len(items) == 0 || items[0].ID != s.ID {
				t.Fatalf("List = %d items, %v; want the accepted request first", len(items), err)
			}
		})
	}
}

// TestRulesSealRefusesRequest: the rules that need only the record are
// record.Seal's (and record.Open's), so such a request never reaches
// CheckEntry.
func TestRulesSealRefusesRequest(t *testing.T) {
	long := func(n int) string { return strings.Repeat("x", n) }
	tests := []struct {
		name string
		edit func(r *pb.Request)
		want record.Reason
	}{
		{"no case number", func(r *pb.Request) { r.CaseNumber = "" }, record.ReasonMissing},
		{"no incident", func(r *pb.Request) { r.Incident = "" }, record.ReasonMissing},
		{"no contact", func(r *pb.Request) { r.Contact = "" }, record.ReasonMissing},
		{"no credential", func(r *pb.Request) { r.Credential = nil }, record.ReasonMissing},
		{"no area", func(r *pb.Request) { r.Area = nil }, record.ReasonMissing},
		{"no window", func(r *pb.Request) { r.From, r.To = 0, 0 }, record.ReasonMissing},
		{"no description is fine", func(r *pb.Request) { r.Description = "" }, ""},
		{"case number of 64 characters", func(r *pb.Request) { r.CaseNumber = long(record.MaxCaseNumber) }, ""},
		{"case number of 65 characters", func(r *pb.Request) { r.CaseNumber = long(record.MaxCaseNumber + 1) }, record.ReasonTooLong},
		{"incident of 101 characters", func(r *pb.Request) { r.Incident = long(record.MaxIncident + 1) }, record.ReasonTooLong},
		{"contact of 201 characters", func(r *pb.Request) { r.Contact = long(record.MaxContact + 1) }, record.ReasonTooLong},
		{"description of 2001 characters", func(r *pb.Request) { r.Description = long(record.MaxDescription + 1) }, record.ReasonTooLong},
		{"description of 2000 four-byte characters", func(r *pb.Request) { r.Description = strings.Repeat("🏠", record.MaxDescription) }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newRuleFixture(t, requests.Config{})
			r := ruleRequest(f.cred, ruleBase)
			tt.edit(r)
			s, err := f.agency.sign(ruleBase, ruleRequestBody(r))
			ruleVerdict(t, "Seal", err, tt.want, false)
			if err == nil {
				f.store(f.agency, s)
			}
		})
	}
}

// TestRulesIngestDoc judges issuer documents, then a request made at
// ruleBase under the agency's credential.
func TestRulesIngestDoc(t *testing.T) {
	revocation := func(key func(f *ruleFixture) crypto.PrivKey, at time.Time) func(f *ruleFixture) []byte {
		return func(f *ruleFixture) []byte {
			d, err := record.SealRevocation(&pb.Revocation{Credential: f.cred.ID[:], RevokedAt: at.UnixMilli(), Reason: "forged"}, key(f))
			if err != nil {
				f.t.Fatal(err)
			}
			return d.Raw
		}
	}
	stranger := func(f *ruleFixture) crypto.PrivKey { k, _ := ruleNewKey(f.t); return k }
	tests := []struct {
		name      string
		doc       func(f *ruleFixture) []byte
		wantAdded bool
		want      record.Reason
		held      bool
		request   record.Reason // the verdict on a request afterwards
	}{
		{
			name: "credential of a trusted issuer for another agency",
			doc: func(f *ruleFixture) []byte {
				_, o := ruleNewKey(f.t)
				return f.certify(f.issuerKey, o, ruleJurisdiction).Raw
			},
			wantAdded: true,
		},
		{
			name: "self-made credential: kept, not relayed",
			doc:  func(f *ruleFixture) []byte { return f.certify(f.agency.key, f.agency.id, ruleJurisdiction).Raw },
		},
		{
			name: "the agency's credential again",
			doc:  func(f *ruleFixture) []byte { return f.cred.Raw },
		},
		{
			name:      "revocation by the credential's issuer",
			doc:       func(f *ruleFixture) []byte { return f.revoke(f.cred, ruleBase.Add(-time.Hour)).Raw },
			wantAdded: true,
			request:   record.ReasonRevoked,
		},
		{
			name: "revocation signed by a stranger",
			doc:  revocation(stranger, ruleBase.Add(-time.Hour)),
			want: record.ReasonUntrusted,
		},
		{
			name: "revocation signed by another trusted issuer",
			doc: revocation(func(f *ruleFixture) crypto.PrivKey {
				k, id := ruleNewKey(f.t)
				f.svc.Trust(id)
				return k
			}, ruleBase.Add(-time.Hour)),
			want: record.ReasonUntrusted,
		},
		{
			name: "revocation signed by the agency itself",
			doc:  revocation(func(f *ruleFixture) crypto.PrivKey { return f.agency.key }, ruleBase.Add(-time.Hour)),
			want: record.ReasonUntrusted,
		},
		{
			name: "revocation of an unknown credential: held",
			doc: func(f *ruleFixture) []byte {
				return f.revoke(f.renewal(), ruleBase.Add(-time.Hour)).Raw
			},
			held: true,
		},
		{
			name: "credential with a self-intersecting jurisdiction",
			doc: func(f *ruleFixture) []byte {
				d, err := record.SealCredential(&pb.Credential{
					Agency: []byte(f.agency.id), Name: "Springfield PD",
					Jurisdiction: rulePolygon(0, 0, 500, 500, 0, 500, 500, 0).ToPB(),
					NotBefore:    ruleNotBefore.UnixMilli(), NotAfter: ruleNotAfter.UnixMilli(),
				}, f.issuerKey)
				if err != nil {
					f.t.Fatal(err)
				}
				return d.Raw
			},
			want: record.ReasonArea,
		},
		{
			name: "not a document",
			doc:  func(f *ruleFixture) []byte { return []byte("credential") },
			want: record.ReasonMalformed,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newRuleFixture(t, requests.Config{})
			added, err := f.svc.IngestDoc(tt.doc(f))
			ruleVerdict(t, "IngestDoc", err, tt.want, tt.held)
			if added != tt.wantAdded {
				t.Errorf("IngestDoc added = %v; want %v", added, tt.wantAdded)
			}
			s := f.mustSign(f.agency, ruleBase, ruleRequestBody(ruleRequest(f.cred, ruleBase)))
			ruleVerdict(t, "then CheckEntry(request)", f.svc.CheckEntry(s), tt.request, false)
		})
	}
}

// TestRulesOpenRequests: an agency may have MaxOpen open requests; the next
// one is refused until it closes one. Notes and a second close free nothing.
func TestRulesOpenRequests(t *testing.T) {
	tests := []struct {
		name   string
		limits requests.Limits
		max    int
	}{
		{"default", requests.Limits{}, 10},
		{"tightened to 3", requests.Limits{MaxOpen: 3}, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newRuleFixture(t, requests.Config{Limits: tt.limits})
			at := func(i int) time.Time { return ruleBase.Add(time.Duration(i) * time.Minute) }
			var reqs []*record.Signed
			for i := range tt.max {
				reqs = append(reqs, f.request(at(i)))
			}
			next := func(i int) *record.Signed {
				return f.mustSign(f.agency, at(i), ruleRequestBody(ruleRequest(f.cred, at(i))))
			}
			ruleVerdict(t, "one over the limit", f.svc.CheckEntry(next(tt.max)), record.ReasonTooManyOpen, false)

			// A replay of the first is judged against the log before it.
			ruleVerdict(t, "replay of the first", f.svc.CheckEntry(reqs[0]), "", false)

			f.append(f.agency, at(tt.max), ruleUpdateBody(reqs[0].Seq(), reqs[0].ID, false, "Still looking."))
			ruleVerdict(t, "after a note", f.svc.CheckEntry(next(tt.max+1)), record.ReasonTooManyOpen, false)

			f.append(f.agency, at(tt.max+1), ruleUpdateBody(reqs[0].Seq(), reqs[0].ID, true, "Found."))
			s := next(tt.max + 2)
			ruleVerdict(t, "after closing one", f.svc.CheckEntry(s), "", false)
			f.store(f.agency, s)

			f.append(f.agency, at(tt.max+3), ruleUpdateBody(reqs[0].Seq(), reqs[0].ID, true, "Closed again."))
			ruleVerdict(t, "after closing the same one again", f.svc.CheckEntry(next(tt.max+4)), record.ReasonTooManyOpen, false)

			ag, ok, err := f.svc.Agency(f.agency.id, ruleBase)
			if err != nil || !ok || ag.Requests != tt.max+1 || ag.Open != tt.max || ag.Closed != 1 {
				t.Errorf("Agency = %+v, %v, %v; want %d requests, %d open, 1 closed", ag, ok, err, tt.max+1, tt.max)
			}
		})
	}
}

// TestRulesUpdate judges an update of the agency whose log is: 1 request,
// 2 post, 3 request left out (a gap) if gap; another agency's log holds a
// request at seq 1.
func TestRulesUpdate(t *testing.T) {
	type logs struct{ own, post, missing, other *record.Signed }
	tests := []struct {
		name string
		gap  bool
		body func(l logs) func(*pb.Entry)
		want record.Reason
		held bool
	}{
		{name: "close own request", body: func(l logs) func(*pb.Entry) { return ruleUpdateBody(1, l.own.ID, true, "") }},
		{name: "note on own request", body: func(l logs) func(*pb.Entry) { return ruleUpdateBody(1, l.own.ID, false, "Thanks, all.") }},
		{name: "names another agency's request", want: record.ReasonUpdateOther,
			body: func(l logs) func(*pb.Entry) { return ruleUpdateBody(1, l.other.ID, true, "") }},
		{name: "names own seq with another ID", want: record.ReasonUpdateOther,
			body: func(l logs) func(*pb.Entry) { return ruleUpdateBody(1, l.post.ID, true, "") }},
		{name: "names a post", want: record.ReasonUpdateOther,
			body: func(l logs) func(*pb.Entry) { return ruleUpdateBody(2, l.post.ID, true, "") }},
		{name: "names a request in a gap: held", gap: true, held: true,
			body: func(l logs) func(*pb.Entry) { return ruleUpdateBody(3, l.missing.ID, true, "") }},
		{name: "names an earlier request above a gap", gap: true,
			body: func(l logs) func(*pb.Entry) { return ruleUpdateBody(1, l.own.ID, true, "") }},
		{name: "names the seq of a request in a gap with another ID: held", gap: true, held: true,
			body: func(l logs) func(*pb.Entry) { return ruleUpdateBody(3, l.own.ID, true, "") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newRuleFixture(t, requests.Config{})
			var l logs
			l.own = f.request(ruleBase)
			l.post = f.append(f.agency, ruleBase.Add(time.Minute), rulePostBody)
			l.missing = f.mustSign(f.agency, ruleBase.Add(2*time.Minute), ruleRequestBody(ruleRequest(f.cred, ruleBase.Add(2*time.Minute))))
			if tt.gap {
				f.agency.skip(l.missing)
			}
			other := ruleNewLog(t)
			oc := f.certify(f.issuerKey, other.id, ruleJurisdiction)
			f.ingestDoc(oc)
			l.other = f.append(other, ruleBase, ruleRequestBody(ruleRequest(oc, ruleBase)))

			s := f.mustSign(f.agency, ruleBase.Add(10*time.Minute), tt.body(l))
			ruleVerdict(t, "CheckEntry", f.svc.CheckEntry(s), tt.want, tt.held)
		})
	}
}

// TestRulesHeldUntilDependencyArrives: a held record is judged again, and
// accepted, once what it waits for is stored.
func TestRulesHeldUntilDependencyArrives(t *testing.T) {
	tests := []struct {
		name string
		// prepare returns the held check and what fills the dependency.
		prepare func(f *ruleFixture) (check func() error, fill func())
	}{
		{"request whose credential is unknown", func(f *ruleFixture) (func() error, func()) {
			cred := f.renewal()
			s := f.mustSign(f.agency, ruleBase, ruleRequestBody(ruleRequest(cred, ruleBase)))
			return func() error { return f.svc.CheckEntry(s) }, func() { f.ingestDoc(cred) }
		}},
		{"request above a gap", func(f *ruleFixture) (func() error, func()) {
			missing := f.mustSign(f.agency, ruleBase, rulePostBody)
			f.agency.skip(missing)
			s := f.mustSign(f.agency, ruleBase.Add(time.Minute), ruleRequestBody(ruleRequest(f.cred, ruleBase.Add(time.Minute))))
			return func() error { return f.svc.CheckEntry(s) }, func() { f.store(&ruleLog{key: f.agency.key, id: f.agency.id}, missing) }
		}},
		{"update of a request in a gap", func(f *ruleFixture) (func() error, func()) {
			missing := f.mustSign(f.agency, ruleBase, ruleRequestBody(ruleRequest(f.cred, ruleBase)))
			f.agency.skip(missing)
			s := f.mustSign(f.agency, ruleBase.Add(time.Minute), ruleUpdateBody(1, missing.ID, true, ""))
			return func() error { return f.svc.CheckEntry(s) }, func() { f.store(&ruleLog{key: f.agency.key, id: f.agency.id}, missing) }
		}},
		{"revocation of an unknown credential", func(f *ruleFixture) (func() error, func()) {
			cred := f.renewal()
			rev := f.revoke(cred, ruleBase)
			return func() error { _, err := f.svc.IngestDoc(rev.Raw); return err }, func() { f.ingestDoc(cred) }
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newRuleFixture(t, requests.Config{})
			check, fill := tt.prepare(f)
			ruleVerdict(t, "before", check(), "", true)
			fill()
			ruleVerdict(t, "after", check(), "", false)
		})
	}
}

// TestRulesReplayAndEquivocation: a stored request sent again is a
// duplicate; a second, different request at the same seq is kept as proof
// and flags the agency.
func TestRulesReplayAndEquivocation(t *testing.T) {
	f := newRuleFixture(t, requests.Config{})
	first := f.request(ruleBase)
	f.request(ruleBase.Add(time.Minute))

	if err := f.svc.CheckEntry(first); err != nil {
		t.Fatalf("CheckEntry(replay) = %v; want nil", err)
	}
	if res, err := f.db.Ingest(first); err != nil || res.Outcome != store.Duplicate {
		t.Fatalf("Ingest(replay) = %+v, %v; want duplicate", res, err)
	}
	if ag, _, _ := f.svc.Agency(f.agency.id, ruleBase); ag.Equivocation {
		t.Fatalf("a replay flagged the agency as equivocating")
	}

	r := ruleRequest(f.cred, ruleBase)
	r.CaseNumber = "SPD-2026-11-9999"
	second, err := (&ruleLog{key: f.agency.key, id: f.agency.id}).sign(ruleBase, ruleRequestBody(r))
	if err != nil {
		t.Fatal(err)
	}
	if second.Seq() != first.Seq() || second.ID == first.ID {
		t.Fatalf("second record: seq %d, ID %s; want seq %d and an ID other than %s", second.Seq(), second.ID, first.Seq(), first.ID)
	}
	if err := f.svc.CheckEntry(second); err != nil {
		t.Fatalf("CheckEntry(second at seq 1) = %v; want nil (the rules judge the record, the store the log)", err)
	}
	if res, err := f.db.Ingest(second); err != nil || res.Outcome != store.Equivocation {
		t.Fatalf("Ingest(second at seq 1) = %+v, %v; want equivocation", res, err)
	}
	ag, ok, err := f.svc.Agency(f.agency.id, ruleBase)
	if err != nil || !ok {
		t.Fatalf("Agency = %v, %v", ok, err)
	}
	if !ag.Equivocation || len(ag.Proof) != 2 {
		t.Fatalf("Agency: Equivocation %v with %d proof envelopes; want true with 2", ag.Equivocation, len(ag.Proof))
	}
	for _, want := range []*record.Signed{first, second} {
		found := false
		for _, p := range ag.Proof {
			found = found || bytes.Equal(p, want.Raw)
		}
		if !found {
			t.Errorf("proof lacks the envelope of %s", want.ID)
		}
	}
	// Which version holds the log slot depends on arrival order, so an
	// equivocating agency's history shows every version it signed.
	items, err := f.svc.List(f.agency.id, 0)
	if err != nil {
		t.Fatal(err)
	}
	listed := map[record.ID]bool{}
	for _, it := range items {
		listed[it.ID] = true
	}
	if !listed[first.ID] || !listed[second.ID] {
		t.Errorf("List has %d items; want both versions of seq 1 among them (first %v, second %v)", len(items), listed[first.ID], listed[second.ID])
	}
}

// TestRulesLimits: a neighborhood may tighten the limits, and loosen them
// only with AllowLooser, which is logged.
func TestRulesLimits(t *testing.T) {
	tests := []struct {
		name    string
		limits  requests.Limits
		newErr  bool          // requests.New refuses the limits
		radius  float64       // of a request's circle; 300 m if 0
		window  time.Duration // of a request's window, ending 30 min after it; 90 min if 0
		want    record.Reason
		warning bool // New logs that the limits are looser
	}{
		{name: "default accepts 0.3 sq mi", radius: 497},
		{name: "MaxArea 0.2 refuses 0.3 sq mi", limits: requests.Limits{MaxArea: 0.2}, radius: 497, want: record.ReasonAreaSize},
		{name: "MaxArea 0.2 accepts 0.194 sq mi", limits: requests.Limits{MaxArea: 0.2}, radius: 400},
		{name: "MinArea 0.2 refuses 0.109 sq mi", limits: requests.Limits{MinArea: 0.2}, want: record.ReasonAreaSize},
		{name: "MinWindow 30 min refuses 20 min", limits: requests.Limits{MinWindow: 30 * time.Minute}, window: 20 * time.Minute, want: record.ReasonWindow},
		{name: "MaxWindow 1 h refuses 90 min", limits: requests.Limits{MaxWindow: time.Hour}, want: record.ReasonWindow},
		{name: "MaxFuture 15 min refuses a window ending 30 min ahead", limits: requests.Limits{MaxFuture: 15 * time.Minute}, want: record.ReasonWindow},
		{name: "MaxArea 1.0 without AllowLooser", limits: requests.Limits{MaxArea: 1}, newErr: true},
		{name: "MinArea 0.01 without AllowLooser", limits: requests.Limits{MinArea: 0.01}, newErr: true},
		{name: "MinWindow 5 min without AllowLooser", limits: requests.Limits{MinWindow: 5 * time.Minute}, newErr: true},
		{name: "MaxWindow 24 h without AllowLooser", limits: requests.Limits{MaxWindow: 24 * time.Hour}, newErr: true},
		{name: "MaxFuture 2 h without AllowLooser", limits: requests.Limits{MaxFuture: 2 * time.Hour}, newErr: true},
		{name: "MaxOpen 20 without AllowLooser", limits: requests.Limits{MaxOpen: 20}, newErr: true},
		{name: "minimum area above maximum", limits: requests.Limits{MinArea: 0.3, MaxArea: 0.2}, newErr: true},
		{name: "minimum window above maximum", limits: requests.Limits{MinWindow: 2 * time.Hour, MaxWindow: time.Hour}, newErr: true},
		{name: "MaxArea 1.0 with AllowLooser accepts 0.8 sq mi", limits: requests.Limits{MaxArea: 1, AllowLooser: true}, radius: 813, warning: true},
		{name: "MaxArea 1.0 with AllowLooser refuses 1.2 sq mi", limits: requests.Limits{MaxArea: 1, AllowLooser: true}, radius: 1000, want: record.ReasonAreaSize, warning: true},
		{name: "AllowLooser alone loosens nothing", limits: requests.Limits{AllowLooser: true}, radius: 643, want: record.ReasonAreaSize},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logged bytes.Buffer
			logger := slog.New(slog.NewTextHandler(&logged, &slog.HandlerOptions{Level: slog.LevelWarn}))
			if tt.newErr {
				db, err := store.Open(store.Config{Dir: t.TempDir(), Neighborhood: ruleHood, Logger: ruleQuiet})
				if err != nil {
					t.Fatal(err)
				}
				defer db.Close()
				if svc, err := requests.New(requests.Config{Store: db, Limits: tt.limits, Logger: logger}); err == nil {
					t.Fatalf("New accepted limits %+v (in force: %+v); want an error", tt.limits, svc.Limits())
				}
				return
			}
			f := newRuleFixture(t, requests.Config{Limits: tt.limits, Logger: logger})
			if got := strings.Contains(logged.String(), "LOOSER"); got != tt.warning {
				t.Errorf("New logged a looser-limits warning: %v; want %v (log %q)", got, tt.warning, logged.String())
			}
			r := ruleRequest(f.cred, ruleBase)
			if tt.radius != 0 {
				r.Area = ruleCircle(0, 0, tt.radius).ToPB()
			}
			if tt.window != 0 {
				ruleWindow(tt.window, 30*time.Minute)(f, r, ruleBase)
			}
			s := f.mustSign(f.agency, ruleBase, ruleRequestBody(r))
			ruleVerdict(t, "CheckEntry", f.svc.CheckEntry(s), tt.want, false)
		})
	}
}

func TestRulesDefaultLimitsInForce(t *testing.T) {
	f := newRuleFixture(t, requests.Config{})
	if got := f.svc.Limits(); got != requests.DefaultLimits {
		t.Errorf("Limits() = %+v; want the defaults %+v", got, requests.DefaultLimits)
	}
}

// TestRulesAgencyAndList: an agency's figures, its requests newest first,
// whether each covers this home, and how a revocation marks them.
func TestRulesAgencyAndList(t *testing.T) {
	home := ruleAt(0, 100)
	f := newRuleFixture(t, requests.Config{Home: &home})

	// r1: 300 m circle on the center (covers home), 90 min, closed later.
	r1 := f.request(ruleBase)
	// r2: 500 m circle 1.4 km west (misses home), 2 h.
	req2 := ruleRequest(f.cred, ruleBase.Add(10*time.Minute))
	req2.Area = ruleCircle(0, -1400, 500).ToPB()
	ruleWindow(2*time.Hour, time.Hour)(f, req2, ruleBase.Add(10*time.Minute))
	r2 := f.append(f.agency, ruleBase.Add(10*time.Minute), ruleRequestBody(req2))
	// r3: 500 m square around the center (covers home), 15 min.
	req3 := ruleRequest(f.cred, ruleBase.Add(20*time.Minute))
	req3.Area = ruleSquare(-250, -250, 500).ToPB()
	ruleWindow(15*time.Minute, 0)(f, req3, ruleBase.Add(20*time.Minute))
	r3 := f.append(f.agency, ruleBase.Add(20*time.Minute), ruleRequestBody(req3))
	f.append(f.agency, ruleBase.Add(30*time.Minute), ruleUpdateBody(r1.Seq(), r1.ID, true, "Van found."))

	// Another agency, for List("").
	other := ruleNewLog(t)
	oc, err := requests.Certify(f.issuerKey, other.id, "Shelbyville PD", ruleJurisdiction, ruleNotBefore, ruleNotAfter)
	if err != nil {
		t.Fatal(err)
	}
	f.ingestDoc(oc)
	r4 := f.append(other, ruleBase.Add(5*time.Minute), ruleRequestBody(ruleRequest(oc, ruleBase.Add(5*time.Minute))))

	// 0.10917 x 1.5 + 0.30324 x 2 + 0.09653 x 0.25 = 0.79437
	wantAreaHours := ruleCircleSqMi(300)*1.5 + ruleCircleSqMi(500)*2 + 0.25*250_000/2_589_988.110336
	if math.Round(wantAreaHours*1000)/1000 != 0.794 {
		t.Fatalf("test arithmetic: %v", wantAreaHours)
	}

	t.Run("figures", func(t *testing.T) {
		ag, ok, err := f.svc.Agency(f.agency.id, ruleBase)
		if err != nil || !ok {
			t.Fatalf("Agency = %v, %v", ok, err)
		}
		want := requests.Agency{
			ID: f.agency.id, Name: "Springfield PD", Issuer: f.issuer, CredentialStatus: requests.StatusValid,
			ValidUntil: ruleNotAfter, Requests: 3, Open: 2, Closed: 1, AreaHours: 0.794,
		}
		if ag.ID != want.ID || ag.Name != want.Name || ag.Issuer != want.Issuer || ag.CredentialStatus != want.CredentialStatus ||
			!ag.ValidUntil.Equal(want.ValidUntil) || ag.Requests != want.Requests || ag.Open != want.Open || ag.Closed != want.Closed ||
			ag.AreaHours != want.AreaHours || ag.Equivocation || ag.Proof != nil {
			t.Errorf("Agency =\n %+v\nwant\n %+v", ag, want)
		}
		if _, ok, err := f.svc.Agency(peer.ID("nobody"), ruleBase); ok || err != nil {
			t.Errorf("Agency(unknown) = %v, %v; want false, nil", ok, err)
		}
	})

	t.Run("credential status", func(t *testing.T) {
		tests := []struct {
			name string
			now  time.Time
			want string
		}{
			{"before not_before", ruleNotBefore.Add(-time.Millisecond), requests.StatusExpired},
			{"at not_before", ruleNotBefore, requests.StatusValid},
			{"at not_after", ruleNotAfter, requests.StatusExpired},
		}
		for _, tt := range tests {
			if ag, _, err := f.svc.Agency(f.agency.id, tt.now); err != nil || ag.CredentialStatus != tt.want {
				t.Errorf("%s: CredentialStatus = %q, %v; want %q", tt.name, ag.CredentialStatus, err, tt.want)
			}
		}
	})

	type row struct {
		id          record.ID
		coversHome  bool
		closed      bool
		revoked     bool
		afterRevoke bool
	}
	list := func(t *testing.T, svc *requests.Service, a peer.ID, limit int, want []row) {
		t.Helper()
		got, err := svc.List(a, limit)
		if err != nil {
			t.Fatalf("List(%q, %d): %v", a, limit, err)
		}
		if len(got) != len(want) {
			t.Fatalf("List(%q, %d) = %d items; want %d", a, limit, len(got), len(want))
		}
		for i, w := range want {
			g := got[i]
			if g.ID != w.id || g.CoversHome != w.coversHome || g.Closed != w.closed || g.Revoked != w.revoked || g.AfterRevocation != w.afterRevoke {
				t.Errorf("List(%q, %d)[%d] = {%.8s covers %v closed %v revoked %v after %v}; want {%.8s covers %v closed %v revoked %v after %v}",
					a, limit, i, g.ID, g.CoversHome, g.Closed, g.Revoked, g.AfterRevocation, w.id, w.coversHome, w.closed, w.revoked, w.afterRevoke)
			}
		}
	}
	t.Run("list", func(t *testing.T) {
		all := []row{{id: r3.ID, coversHome: true}, {id: r2.ID}, {id: r1.ID, coversHome: true, closed: true}}
		list(t, f.svc, f.agency.id, 0, all)
		list(t, f.svc, f.agency.id, 2, all[:2])
		list(t, f.svc, f.agency.id, 1, all[:1])
		list(t, f.svc, "", 0, []row{all[0], all[1], {id: r4.ID, coversHome: true}, all[2]})

		got, _ := f.svc.List(f.agency.id, 1)
		if n := got[0]; n.AgencyName != "Springfield PD" || n.Case != "SPD-2026-11-0427" || n.Agency != f.agency.id || n.Seq != 3 {
			t.Errorf("List[0] = %+v", n)
		}
		got, _ = f.svc.List(f.agency.id, 0)
		if n := got[2]; len(n.Notes) != 1 || n.Notes[0].Text != "Van found." || !n.ClosedAt.Equal(ruleBase.Add(30*time.Minute)) {
			t.Errorf("closed request: notes %+v, closed at %v", n.Notes, n.ClosedAt)
		}
		if _, err := f.svc.List(peer.ID("nobody"), 0); !errors.Is(err, requests.ErrUnknownAgency) {
			t.Errorf("List(unknown) = %v; want ErrUnknownAgency", err)
		}
	})

	t.Run("no home configured", func(t *testing.T) {
		svc, err := requests.New(requests.Config{Store: f.db, Trusted: []peer.ID{f.issuer}, Logger: ruleQuiet})
		if err != nil {
			t.Fatal(err)
		}
		list(t, svc, f.agency.id, 0, []row{{id: r3.ID}, {id: r2.ID}, {id: r1.ID, closed: true}})
	})

	t.Run("issuer not trusted", func(t *testing.T) {
		svc, err := requests.New(requests.Config{Store: f.db, Logger: ruleQuiet})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := svc.List(f.agency.id, 0); !errors.Is(err, requests.ErrUnknownAgency) {
			t.Errorf("List = %v; want ErrUnknownAgency", err)
		}
	})

	// Revoked from 15 min: r1 and r2 were made before, r3 after (this node
	// stored it before the revocation arrived). All stay listed, marked.
	t.Run("after a revocation", func(t *testing.T) {
		f.ingestDoc(f.revoke(f.cred, ruleBase.Add(15*time.Minute)))
		list(t, f.svc, f.agency.id, 0, []row{
			{id: r3.ID, coversHome: true, revoked: true, afterRevoke: true},
			{id: r2.ID, revoked: true},
			{id: r1.ID, coversHome: true, closed: true, revoked: true},
		})
		ag, _, err := f.svc.Agency(f.agency.id, ruleBase.Add(time.Hour))
		if err != nil || ag.CredentialStatus != requests.StatusRevoked || ag.Requests != 3 {
			t.Errorf("Agency after revocation: status %q, %d requests, %v; want revoked, 3", ag.CredentialStatus, ag.Requests, err)
		}
		if ag, _, _ := f.svc.Agency(f.agency.id, ruleBase.Add(14*time.Minute)); ag.CredentialStatus != requests.StatusValid {
			t.Errorf("status before the revocation time = %q; want valid", ag.CredentialStatus)
		}
		s := f.mustSign(f.agency, ruleBase.Add(40*time.Minute), ruleRequestBody(ruleRequest(f.cred, ruleBase.Add(40*time.Minute))))
		ruleVerdict(t, "a new request", f.svc.CheckEntry(s), record.ReasonRevoked, false)
		list(t, f.svc, other.id, 0, []row{{id: r4.ID, coversHome: true}})
	})
}

// twin is a second node that trusts the same issuer and holds the same
// credential.
func (f *ruleFixture) twin() *ruleFixture {
	f.t.Helper()
	g := *f
	db, err := store.Open(store.Config{Dir: f.t.TempDir(), Neighborhood: ruleHood, Logger: ruleQuiet})
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { db.Close() })
	g.db = db
	if g.svc, err = requests.New(requests.Config{Store: db, Trusted: []peer.ID{f.issuer}, Logger: ruleQuiet}); err != nil {
		f.t.Fatal(err)
	}
	g.ingestDoc(f.cred)
	return &g
}

// TestRulesRetractedRequestStub: an agency's log must read the same on
// every node whatever order its records arrive in. An agency that signs a
// retraction of its own request cannot purge it (the store purges only
// posts), but a node that gets the retraction first and then, from a peer,
// a stub for the request's slot (as sync serves purged posts) stores the
// slot as purged: the request vanishes from that node's list and open
// count, while a node that got the request first keeps it.
func TestRulesRetractedRequestStub(t *testing.T) {

	f := newRuleFixture(t, requests.Config{})
	g := f.twin()
	req := f.mustSign(f.agency, ruleBase, ruleRequestBody(ruleRequest(f.cred, ruleBase)))
	f.agency.skip(req)
	retraction := f.mustSign(f.agency, ruleBase.Add(time.Minute), func(e *pb.Entry) {
		e.Body = &pb.Entry_Retraction{Retraction: &pb.Retraction{TargetSeq: req.Seq(), TargetHash: req.ID[:]}}
	})
	// deliver does what the mesh does with a record from the network.
	deliver := func(n *ruleFixture, s *record.Signed) {
		t.Helper()
		if err := n.svc.CheckEntry(s); err != nil {
			return // held or refused: not stored
		}
		if _, err := n.db.Ingest(s); err != nil && record.ReasonOf(err) == "" {
			t.Fatalf("Ingest(seq %d): %v", s.Seq(), err)
		}
	}

	deliver(g, req)
	deliver(g, retraction)

	deliver(f, retraction)
	if _, err := f.db.IngestStub(f.agency.id, req.Seq(), req.ID); err != nil {
		t.Fatalf("IngestStub: %v", err)
	}
	deliver(f, req)

	for name, n := range map[string]*ruleFixture{"request first": g, "retraction first": f} {
		items, err := n.svc.List(f.agency.id, 0)
		if err != nil || len(items) != 1 || items[0].ID != req.ID {
			t.Errorf("%s: List = %d items, %v; want the request", name, len(items), err)
		}
		if ag, _, err := n.svc.Agency(f.agency.id, ruleBase); err != nil || ag.Open != 1 {
			t.Errorf("%s: Agency.Open = %d, %v; want 1", name, ag.Open, err)
		}
	}
}

// TestRulesEquivocatingAgencyOpenCount: the open-request rule counts the
// agency's log before the record, so a stored request replayed later is
// still accepted, flagged agency or not. Otherwise a node's verdict on a
// record would depend on what arrived after it.
func TestRulesEquivocatingAgencyOpenCount(t *testing.T) {

	f := newRuleFixture(t, requests.Config{})
	var reqs []*record.Signed
	for i := range 10 {
		reqs = append(reqs, f.request(ruleBase.Add(time.Duration(i)*time.Minute)))
	}
	ruleVerdict(t, "replay of request 5, before any equivocation", f.svc.CheckEntry(reqs[4]), "", false)

	r := ruleRequest(f.cred, ruleBase.Add(9*time.Minute))
	r.CaseNumber = "SPD-2026-11-9999"
	twin, err := (&ruleLog{key: f.agency.key, id: f.agency.id, seq: 9, prev: reqs[8].ID}).sign(ruleBase.Add(9*time.Minute), ruleRequestBody(r))
	if err != nil {
		t.Fatal(err)
	}
	ruleVerdict(t, "CheckEntry(second request at seq 10)", f.svc.CheckEntry(twin), "", false)
	if res, err := f.db.Ingest(twin); err != nil || res.Outcome != store.Equivocation {
		t.Fatalf("Ingest(second request at seq 10) = %+v, %v; want equivocation", res, err)
	}
	ruleVerdict(t, "replay of request 5, after the equivocation", f.svc.CheckEntry(reqs[4]), "", false)
	ruleVerdict(t, "replay of request 2, after the equivocation", f.svc.CheckEntry(reqs[1]), "", false)
}
