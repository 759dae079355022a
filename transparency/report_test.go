package transparency_test

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/porchlight-mesh/porchlight/record"
	"github.com/porchlight-mesh/porchlight/record/pb"
	"github.com/porchlight-mesh/porchlight/requests"
	"github.com/porchlight-mesh/porchlight/store"
	"github.com/porchlight-mesh/porchlight/transparency"
	"github.com/porchlight-mesh/porchlight/transparency/transparencytest"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

const hood = "maple-st"

func utc(y int, m time.Month, d, hh, mm int) time.Time {
	return time.Date(y, m, d, hh, mm, 0, 0, time.UTC)
}

func newID(t testing.TB) (crypto.PrivKey, peer.ID) {
	t.Helper()
	k, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return k, id
}

// item is a constructed request: a 300 m circle (0.109 sq mi) for a window
// of hours, made at created, closed after closeH hours (<0: open), with a
// yield.
func item(id byte, created time.Time, hours, closeH float64, y requests.Yield) requests.Item {
	it := requests.Item{
		Area: requests.Area{Center: transparencytest.Center, Radius: 300}, Created: created,
		From: created.Add(-time.Duration(hours * float64(time.Hour))), To: created, Yield: y,
	}
	it.ID[0] = id
	if closeH >= 0 {
		it.Closed, it.ClosedAt = true, created.Add(time.Duration(closeH*float64(time.Hour)))
	}
	return it
}

func ptr(f float64) *float64 { return &f }

// TestBuildFigures: months, statuses, area × hours, yields, ratios, the
// median time to close (odd and even counts, none closed), omissions, the
// empty month between two, and the --since and --agency filters; computed
// from constructed inputs (the yield records' own rules are the yield
// helper's).
func TestBuildFigures(t *testing.T) {
	_, a1 := newID(t)
	_, a2 := newID(t)
	_, iss := newID(t)
	sq := (requests.Area{Center: transparencytest.Center, Radius: 300}).SquareMiles()
	h1 := []requests.Item{
		// January: three requests, closed after 1 h and 5 h, one open.
		item(1, utc(2026, 1, 3, 10, 0), 2, 1, requests.Yield{Clips: 3, Homes: 2, Bytes: 3000, VideoMS: 24000}),
		item(2, utc(2026, 1, 31, 23, 59), 1, 5, requests.Yield{Clips: 1, Homes: 1, Bytes: 500, VideoMS: 8000}),
		item(3, utc(2026, 1, 15, 0, 0), 4, -1, requests.Yield{}),
		// February: none. March: two, closed after 2 h and 6 h (median 4).
		item(4, utc(2026, 3, 1, 0, 0), 1, 2, requests.Yield{Clips: 2, Homes: 2}),
		item(5, utc(2026, 3, 9, 12, 0), 1, 6, requests.Yield{}),
	}
	in := transparency.Input{
		Agencies: []requests.Agency{
			{ID: a1, Name: "Springfield PD", Issuer: iss, CredentialStatus: requests.StatusValid, Head: 9,
				Omissions: []requests.Omission{{Request: h1[0].ID, Home: a2}, {Request: h1[3].ID, Home: a2}}},
			{ID: a2, Name: "Capital City FD", Issuer: iss, CredentialStatus: requests.StatusExpired, Equivocation: true},
		},
		Histories: map[peer.ID][]requests.Item{a1: h1},
	}
	r := transparency.Build(in, transparency.Options{})
	if len(r.Agencies) != 2 || r.Agencies[0].Name != "Capital City FD" || r.Agencies[1].Name != "Springfield PD" {
		t.Fatalf("agencies not sorted by name: %+v", r.Agencies)
	}
	fd, pd := r.Agencies[0], r.Agencies[1]
	if len(fd.Months) != 0 || fd.Total.Requests != 0 || fd.Total.MedianHoursToClose != nil || !fd.Equivocation || fd.CredentialStatus != "expired" {
		t.Errorf("agency without requests: %+v", fd)
	}
	want := []transparency.Month{
		{Month: "2026-01", Figures: transparency.Figures{Requests: 3, Open: 1, Closed: 2, AreaHours: round3(sq * 7), Clips: 4, Homes: 3,
			Bytes: 3500, VideoSeconds: 32, ClipsPerRequest: 1.333, HomesPerRequest: 1, MedianHoursToClose: ptr(3), YieldOmissions: 1}},
		{Month: "2026-02", Figures: transparency.Figures{}},
		{Month: "2026-03", Figures: transparency.Figures{Requests: 2, Closed: 2, AreaHours: round3(sq * 2), Clips: 2, Homes: 2,
			ClipsPerRequest: 1, HomesPerRequest: 1, MedianHoursToClose: ptr(4), YieldOmissions: 1}},
	}
	if got, w := js(t, pd.Months), js(t, want); got != w {
		t.Errorf("months:\n got %s\nwant %s", got, w)
	}
	total := transparency.Figures{Requests: 5, Open: 1, Closed: 4, AreaHours: round3(sq * 9), Clips: 6, Homes: 5, Bytes: 3500, VideoSeconds: 32,
		ClipsPerRequest: 1.2, HomesPerRequest: 1, MedianHoursToClose: ptr(3.5), YieldOmissions: 2}
	if got, w := js(t, pd.Total), js(t, total); got != w {
		t.Errorf("total:\n got %s\nwant %s", got, w)
	}
	if pd.LogHead != 9 || pd.Issuer != iss.String() {
		t.Errorf("agency row: %+v", pd)
	}

	// Since a day in February: January drops, the months start in
	// February (empty), the total is March's.
	r = transparency.Build(in, transparency.Options{Agency: a1, Since: utc(2026, 2, 10, 0, 0)})
	if len(r.Agencies) != 1 || r.Since != "2026-02-10T00:00:00Z" || r.Agency != a1.String() {
		t.Fatalf("filtered report: %+v", r)
	}
	pd = r.Agencies[0]
	if len(pd.Months) != 2 || pd.Months[0].Month != "2026-02" || pd.Months[0].Requests != 0 || pd.Months[1].Requests != 2 || pd.Total.Requests != 2 || *pd.Total.MedianHoursToClose != 4 {
		t.Errorf("since February: %s", js(t, pd))
	}
	// A request made at the very instant of since counts.
	r = transparency.Build(in, transparency.Options{Since: utc(2026, 3, 1, 0, 0)})
	if got := r.Agencies[1].Total.Requests; got != 2 {
		t.Errorf("since the instant of a request: %d requests, want 2", got)
	}
}

func round3(f float64) float64 { return float64(int64(f*1000+0.5)) / 1000 }

func js(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestIssuers: per issuer, the agencies it certified and those it
// revoked (earliest revocation time), from the documents themselves; a
// revocation of another issuer's credential does not count.
func TestIssuers(t *testing.T) {
	ik, iss := newID(t)
	ok2, other := newID(t)
	_, a1 := newID(t)
	_, a2 := newID(t)
	jur := requests.Area{Center: transparencytest.Center, Radius: 5000}
	from, until := utc(2026, 1, 1, 0, 0), utc(2027, 1, 1, 0, 0)
	c1, _ := requests.Certify(ik, a1, "Springfield PD", jur, from, until)
	c2, _ := requests.Certify(ik, a2, "Capital City FD", jur, from, until)
	c3, _ := requests.Certify(ok2, a1, "Springfield PD", jur, from, until)
	r1, err := requests.Revoke(ik, c1, utc(2026, 6, 1, 0, 0), "misuse")
	if err != nil {
		t.Fatal(err)
	}
	r2, _ := requests.Revoke(ik, c1, utc(2026, 5, 1, 0, 0), "misuse, earlier")
	forged, _ := record.SealRevocation(r1.Revocation, ok2) // other's key on iss's credential
	docs := []*record.Doc{c1, c2, c3, r1, r2, forged}
	r := transparency.Build(transparency.Input{Documents: docs}, transparency.Options{})
	if len(r.Issuers) != 2 {
		t.Fatalf("issuers: %s", js(t, r.Issuers))
	}
	for _, is := range r.Issuers {
		switch is.ID {
		case iss.String():
			if len(is.Certified) != 2 || is.Certified[0].Name != "Capital City FD" || is.Certified[1].ID != a1.String() {
				t.Errorf("certified by the issuer: %s", js(t, is.Certified))
			}
			if len(is.Revoked) != 1 || is.Revoked[0].ID != a1.String() || !is.Revoked[0].RevokedAt.Equal(utc(2026, 5, 1, 0, 0)) {
				t.Errorf("revoked by the issuer: %s", js(t, is.Revoked))
			}
		case other.String():
			if len(is.Certified) != 1 || len(is.Revoked) != 0 {
				t.Errorf("the other issuer: %s", js(t, is))
			}
		default:
			t.Errorf("unknown issuer %s", is.ID)
		}
	}
	// Limited to one agency, only its lines remain.
	r = transparency.Build(transparency.Input{Documents: docs}, transparency.Options{Agency: a2})
	if len(r.Issuers) != 1 || len(r.Issuers[0].Certified) != 1 || r.Issuers[0].Certified[0].ID != a2.String() || len(r.Issuers[0].Revoked) != 0 {
		t.Errorf("issuers for one agency: %s", js(t, r.Issuers))
	}
}

// TestCSV: the header, one row per agency and month, empty median when
// none closed, quoting of a name with a comma, CRLF line ends.
func TestCSV(t *testing.T) {
	r := &transparency.Report{Agencies: []transparency.Agency{{
		ID: "12D3KooWA", Name: "Police, Springfield", Issuer: "12D3KooWI", CredentialStatus: "valid", LogHead: 4,
		Months: []transparency.Month{
			{Month: "2026-01", Figures: transparency.Figures{Requests: 2, Open: 1, Closed: 1, AreaHours: 0.218, Clips: 3, Homes: 2, Bytes: 99, VideoSeconds: 16.5,
				ClipsPerRequest: 1.5, HomesPerRequest: 1, MedianHoursToClose: ptr(0.667)}},
			{Month: "2026-02"},
		},
	}}}
	var b bytes.Buffer
	if err := r.WriteCSV(&b); err != nil {
		t.Fatal(err)
	}
	want := "agency_id,agency_name,issuer,credential_status,log_head,equivocation,month,requests,open,closed,area_hours,clips,homes,yield_bytes,video_seconds,clips_per_request,homes_per_request,median_hours_to_close,yield_omissions\r\n" +
		"12D3KooWA,\"Police, Springfield\",12D3KooWI,valid,4,false,2026-01,2,1,1,0.218,3,2,99,16.5,1.5,1,0.667,0\r\n" +
		"12D3KooWA,\"Police, Springfield\",12D3KooWI,valid,4,false,2026-02,0,0,0,0,0,0,0,0,0,0,,0\r\n"
	if b.String() != want {
		t.Errorf("CSV:\n%q\nwant\n%q", b.String(), want)
	}
}

func TestParseSince(t *testing.T) {
	for _, c := range []struct {
		in   string
		want time.Time
		bad  bool
	}{
		{in: "2026-03-05", want: utc(2026, 3, 5, 0, 0)},
		{in: "2026-03", want: utc(2026, 3, 1, 0, 0)},
		{in: "2026-03-05T10:00:00+02:00", want: utc(2026, 3, 5, 8, 0)},
		{in: "March", bad: true},
		{in: "2026-13-01", bad: true},
		{in: "", bad: true},
	} {
		got, err := transparency.ParseSince(c.in)
		if c.bad != (err != nil) || !c.bad && !got.Equal(c.want) {
			t.Errorf("ParseSince(%q) = %v, %v", c.in, got, err)
		}
	}
}

// node is a records database with the request rules, as a node has.
type node struct {
	db  *store.DB
	svc *requests.Service
}

func newNode(t testing.TB, trusted ...peer.ID) *node {
	t.Helper()
	db, err := store.Open(store.Config{Dir: filepath.Join(t.TempDir(), "db"), Neighborhood: hood, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	svc, err := requests.New(requests.Config{Store: db, Trusted: trusted, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	return &node{db: db, svc: svc}
}

// history is Springfield PD's: two requests in January (one closed after
// 90 min), none in February, three in April (two closed after 1 h and
// 3 h): 2026-01, 2026-02, 2026-03, 2026-04 as months.
func history(t testing.TB) *transparencytest.History {
	t.Helper()
	h, err := transparencytest.New("Springfield PD", hood, utc(2025, 12, 1, 0, 0), utc(2027, 1, 1, 0, 0))
	if err != nil {
		t.Fatal(err)
	}
	must := func(s *record.Signed, err error) *record.Signed {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	j1 := must(h.Request(utc(2026, 1, 10, 18, 0), 2*time.Hour, 300, "J-1"))
	must(h.Close(j1, utc(2026, 1, 10, 19, 30), "thanks"))
	must(h.Request(utc(2026, 1, 20, 9, 0), 4*time.Hour, 300, "J-2"))
	a1 := must(h.Request(utc(2026, 4, 2, 8, 0), time.Hour, 300, "A-1"))
	a2 := must(h.Request(utc(2026, 4, 2, 9, 0), time.Hour, 300, "A-2"))
	must(h.Request(utc(2026, 4, 30, 23, 0), time.Hour, 300, "A-3"))
	must(h.Close(a1, utc(2026, 4, 2, 9, 0), ""))
	must(h.Close(a2, utc(2026, 4, 2, 12, 0), ""))
	return h
}

// TestComputeFromRecords: from the signed records in a real store, the
// report has the history's months and figures; another node holding the
// same records (loaded into another store) writes the same CSV and JSON,
// byte for byte; an unknown agency is ErrUnknownAgency; a revocation shows
// under its issuer and in the credential status.
func TestComputeFromRecords(t *testing.T) {
	h := history(t)
	now := utc(2026, 5, 1, 0, 0)
	var outs [2][2]string
	for i := range 2 {
		n := newNode(t, h.Issuer)
		if err := transparencytest.Load(n.svc, n.db, h); err != nil {
			t.Fatal(err)
		}
		r, err := transparency.Compute(n.svc, transparency.Options{Now: now})
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Agencies) != 1 {
			t.Fatalf("agencies: %s", js(t, r))
		}
		a := r.Agencies[0]
		var months []string
		var counts []int
		for _, m := range a.Months {
			months = append(months, m.Month)
			counts = append(counts, m.Requests)
		}
		if strings.Join(months, " ") != "2026-01 2026-02 2026-03 2026-04" || js(t, counts) != "[2,0,0,3]" {
			t.Fatalf("months %v, requests %v", months, counts)
		}
		jan, apr := a.Months[0], a.Months[3]
		if jan.Open != 1 || jan.Closed != 1 || *jan.MedianHoursToClose != 1.5 || apr.Closed != 2 || apr.Open != 1 || *apr.MedianHoursToClose != 2 {
			t.Errorf("January %+v, April %+v", jan.Figures, apr.Figures)
		}
		sq := (requests.Area{Center: transparencytest.Center, Radius: 300}).SquareMiles()
		if jan.AreaHours != round3(sq*6) || a.Total.Requests != 5 || a.LogHead != uint64(len(h.Records)) || a.CredentialStatus != "valid" || a.Name != "Springfield PD" {
			t.Errorf("figures: %s (area×hours want %v)", js(t, a), round3(sq*6))
		}
		if len(r.Issuers) != 1 || r.Issuers[0].ID != h.Issuer.String() || len(r.Issuers[0].Certified) != 1 || len(r.Issuers[0].Revoked) != 0 {
			t.Errorf("issuers: %s", js(t, r.Issuers))
		}
		var csv bytes.Buffer
		if err := r.WriteCSV(&csv); err != nil {
			t.Fatal(err)
		}
		outs[i] = [2]string{csv.String(), js(t, r)}

		if i == 1 {
			_, stranger := newID(t)
			if _, err := transparency.Compute(n.svc, transparency.Options{Agency: stranger}); !errors.Is(err, requests.ErrUnknownAgency) {
				t.Errorf("report of an unknown agency: %v", err)
			}
			rev, err := requests.Revoke(h.IssuerKey, h.Credential, utc(2026, 4, 15, 0, 0), "misuse")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := n.svc.IngestDoc(rev.Raw); err != nil {
				t.Fatal(err)
			}
			r, err := transparency.Compute(n.svc, transparency.Options{Agency: h.Agency, Now: now})
			if err != nil {
				t.Fatal(err)
			}
			if r.Agencies[0].CredentialStatus != "revoked" || len(r.Issuers[0].Revoked) != 1 || r.Issuers[0].Revoked[0].Name != "Springfield PD" {
				t.Errorf("after the revocation: %s", js(t, r))
			}
			var text bytes.Buffer
			if err := r.WriteText(&text); err != nil {
				t.Fatal(err)
			}
			for _, want := range []string{"Springfield PD", "credential revoked", "2026-02", "total", "revoked 1 (Springfield PD from 2026-04-15 00:00 UTC)"} {
				if !strings.Contains(text.String(), want) {
					t.Errorf("text lacks %q:\n%s", want, text.String())
				}
			}
		}
	}
	if outs[0] != outs[1] {
		t.Errorf("two nodes with the same records disagree:\n%s\n%s", outs[0], outs[1])
	}
}

// TestEquivocationShown: an agency whose key signed a second record for a
// position of its log is flagged in its report, on the node that holds
// both versions, and its requests are still all counted.
func TestEquivocationShown(t *testing.T) {
	h := history(t)
	n := newNode(t, h.Issuer)
	if err := transparencytest.Load(n.svc, n.db, h); err != nil {
		t.Fatal(err)
	}
	first := h.Records[0]
	fork, err := record.SealAt(&pb.Entry{Author: []byte(h.Agency), Seq: first.Seq(), Created: first.Created().UnixMilli(), Neighborhood: hood,
		Body: &pb.Entry_Post{Post: &pb.Post{Kind: "general", Text: "a fresh start"}}}, h.Key, first.Created())
	if err != nil {
		t.Fatal(err)
	}
	if res, err := n.db.Ingest(fork); err != nil || res.Outcome != store.Equivocation {
		t.Fatalf("ingest the fork: %v %v, want an equivocation", res.Outcome, err)
	}
	r, err := transparency.Compute(n.svc, transparency.Options{Agency: h.Agency})
	if err != nil {
		t.Fatal(err)
	}
	if a := r.Agencies[0]; !a.Equivocation || a.Total.Requests != 5 {
		t.Errorf("after the fork: equivocation %v, %d requests; want true, 5", a.Equivocation, a.Total.Requests)
	}
	var csv bytes.Buffer
	if err := r.WriteCSV(&csv); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(csv.String(), ",true,2026-01,") {
		t.Errorf("the CSV does not flag the equivocation:\n%s", csv.String())
	}
}
