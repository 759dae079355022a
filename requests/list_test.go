package requests

// These tests sit inside the package: they hold List and Agencies to the
// algorithms they replaced (kept below as the baseline, which reads the
// package's internals) and measure the two side by side.

import (
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"reflect"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/porchlight-mesh/porchlight/geo"
	"github.com/porchlight-mesh/porchlight/record"
	"github.com/porchlight-mesh/porchlight/record/pb"
	"github.com/porchlight-mesh/porchlight/store"
)

// The baseline: List, Agencies and Agency as they were before each
// agency's log kept its requests by time (commit fe93db3). Every call
// copied and sorted every agency's requests, and built every agency's
// whole history (reading the omission records once per agency) to learn
// its name.

func (s *Service) listBaseline(a peer.ID, limit int) ([]Listed, error) {
	var agencies []Agency
	if a != "" {
		ag, ok, err := s.agencyBaseline(a, time.Now())
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, fmt.Errorf("agency %s: %w", a, ErrUnknownAgency)
		}
		agencies = []Agency{ag}
	} else {
		var err error
		if agencies, err = s.agenciesBaseline(time.Now()); err != nil {
			return nil, err
		}
	}
	var out []Listed
	for _, ag := range agencies {
		items, err := s.newestBaseline(ag.ID, limit)
		if err != nil {
			return nil, err
		}
		for _, it := range items {
			out = append(out, Listed{Item: it, AgencyName: ag.Name})
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Created.After(out[j].Created) })
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	if err := s.mark(out); err != nil {
		return nil, err
	}
	return out, nil
}

// withItemsBaseline is withItems as it was: the head read twice.
func (s *Service) withItemsBaseline(a peer.ID, f func([]*Item)) error {
	h, err := s.db.Head(a)
	if err != nil {
		return err
	}
	if h.Flagged {
		l, err := s.buildAll(a)
		if err != nil {
			return err
		}
		f(l.items)
		return nil
	}
	l, err := s.agencyLog(a, 0)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	f(l.items)
	return nil
}

func (s *Service) newestBaseline(a peer.ID, n int) ([]*Item, error) {
	var out []*Item
	err := s.withItemsBaseline(a, func(items []*Item) {
		sorted := append([]*Item(nil), items...)
		sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].Created.After(sorted[j].Created) })
		if n > 0 && len(sorted) > n {
			sorted = sorted[:n]
		}
		for _, it := range sorted {
			c := *it
			c.Notes = append([]Note(nil), it.Notes...)
			out = append(out, &c)
		}
	})
	return out, err
}

func (s *Service) agenciesBaseline(now time.Time) ([]Agency, error) {
	seen := map[peer.ID]bool{}
	err := s.db.View(func(txn *store.Txn) error {
		return txn.Scan(store.AgencyCredentials, nil, store.ScanOptions{KeysOnly: true}, func(it store.Item) error {
			if k := it.Key(); len(k) > 1 && len(k) >= 1+int(k[0]) {
				seen[peer.ID(k[1:1+int(k[0])])] = true
			}
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	var out []Agency
	for a := range seen {
		ag, ok, err := s.agencyBaseline(a, now)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, ag)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		return out[i].Name < out[j].Name || out[i].Name == out[j].Name && out[i].ID < out[j].ID
	})
	return out, nil
}

func (s *Service) agencyBaseline(a peer.ID, now time.Time) (Agency, bool, error) {
	creds, err := s.credentials(a)
	if err != nil || len(creds) == 0 {
		return Agency{}, false, err
	}
	c := creds[0]
	ag := Agency{ID: a, Name: c.Credential.GetName(), Issuer: c.Issuer, ValidUntil: time.UnixMilli(c.Credential.GetNotAfter())}
	if ag.CredentialStatus, err = s.credentialStatus(c, now); err != nil {
		return ag, false, err
	}
	err = s.withItemsBaseline(a, func(items []*Item) {
		for _, it := range items {
			ag.Requests++
			if it.Closed {
				ag.Closed++
			} else {
				ag.Open++
			}
			ag.AreaHours += it.AreaHours()
		}
	})
	if err != nil {
		return ag, false, err
	}
	ag.AreaHours = round3(ag.AreaHours)
	_, proof, flagged, err := s.db.Equivocation(a)
	if err != nil {
		return ag, false, err
	}
	ag.Equivocation, ag.Proof = flagged, proof
	recs, err := s.omissionRecords() // the old omissionsAgainst read them itself
	if err != nil {
		return ag, false, err
	}
	if ag.Omissions, err = s.omissionsAgainst(a, recs); err != nil {
		return ag, false, err
	}
	h, err := s.db.Head(a)
	if err != nil {
		return ag, false, err
	}
	ag.Head = h.Contig
	return ag, true, nil
}

// The street: one issuer certifying several agencies, whose records are
// judged by CheckEntry and stored by db.Ingest, as the mesh does.

const listHood = "list-st"

var (
	listBase   = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	listCenter = geo.Point{Lat: 39.7817, Lon: -89.6501}
	listQuiet  = slog.New(slog.NewTextHandler(io.Discard, nil))
)

// listAt is the point north and east meters from listCenter.
func listAt(north, east float64) geo.Point {
	// Meters per degree of latitude, and of longitude at 39.78° north.
	const lat, lon = 111_320.0, 111_320.0 * 0.7683
	return geo.Point{Lat: listCenter.Lat + north/lat, Lon: listCenter.Lon + east/lon}
}

type listStreet struct {
	tb        testing.TB
	db        *store.DB
	svc       *Service
	issuerKey crypto.PrivKey
	agencies  []*listAgency
}

type listAgency struct {
	key  crypto.PrivKey
	id   peer.ID
	cred *record.Doc
	seq  uint64
	prev record.ID
	open []*record.Signed // its open requests
}

func listKey(tb testing.TB) (crypto.PrivKey, peer.ID) {
	tb.Helper()
	key, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	id, err := peer.IDFromPrivateKey(key)
	if err != nil {
		tb.Fatal(err)
	}
	return key, id
}

// newListStreet certifies one agency per name, for a year from listBase.
func newListStreet(tb testing.TB, home *geo.Point, names ...string) *listStreet {
	tb.Helper()
	db, err := store.Open(store.Config{Dir: tb.TempDir(), Neighborhood: listHood, Logger: listQuiet})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := db.Close(); err != nil {
			tb.Errorf("close store: %v", err)
		}
	})
	key, issuer := listKey(tb)
	svc, err := New(Config{Store: db, Trusted: []peer.ID{issuer}, Home: home, Logger: listQuiet})
	if err != nil {
		tb.Fatal(err)
	}
	st := &listStreet{tb: tb, db: db, svc: svc, issuerKey: key}
	jurisdiction := Area{Center: listCenter, Radius: 5000}
	for _, name := range names {
		a := &listAgency{}
		a.key, a.id = listKey(tb)
		if a.cred, err = Certify(key, a.id, name, jurisdiction, listBase.Add(-time.Hour), listBase.Add(365*24*time.Hour)); err != nil {
			tb.Fatal(err)
		}
		if _, err := svc.IngestDoc(a.cred.Raw); err != nil {
			tb.Fatal(err)
		}
		st.agencies = append(st.agencies, a)
	}
	return st
}

// sign seals a's next record without storing it.
func (st *listStreet) sign(a *listAgency, created time.Time, body func(*pb.Entry)) *record.Signed {
	st.tb.Helper()
	e := &pb.Entry{Author: []byte(a.id), Seq: a.seq + 1, Created: created.UnixMilli(), Neighborhood: listHood}
	if a.seq > 0 {
		e.Prev = a.prev[:]
	}
	body(e)
	s, err := record.SealAt(e, a.key, created)
	if err != nil {
		st.tb.Fatal(err)
	}
	return s
}

// append signs, judges and stores a's next record.
func (st *listStreet) append(a *listAgency, created time.Time, body func(*pb.Entry)) *record.Signed {
	st.tb.Helper()
	s := st.sign(a, created, body)
	if err := st.svc.CheckEntry(s); err != nil {
		st.tb.Fatalf("CheckEntry(seq %d): %v", s.Seq(), err)
	}
	if res, err := st.db.Ingest(s); err != nil || res.Outcome != store.Added {
		st.tb.Fatalf("Ingest(seq %d) = %+v, %v; want added", s.Seq(), res, err)
	}
	a.seq, a.prev = s.Seq(), s.ID
	return s
}

// request stores a request of a 300 m circle north and east meters from
// listCenter.
func (st *listStreet) request(a *listAgency, created time.Time, north, east float64) *record.Signed {
	r := listRequest(a.cred.ID, created, Area{Center: listAt(north, east), Radius: 300})
	s := st.append(a, created, func(e *pb.Entry) { e.Body = &pb.Entry_Request{Request: r} })
	a.open = append(a.open, s)
	return s
}

// listRequest is a valid request made at created, for the 90 minutes
// from an hour before.
func listRequest(cred record.ID, created time.Time, area Area) *pb.Request {
	return &pb.Request{
		Credential: cred[:], CaseNumber: fmt.Sprintf("C-%d", created.UnixMilli()), Incident: "Package theft",
		Description: "Porch camera footage of a grey van.", Contact: "Det. Ruiz",
		Area: area.ToPB(), From: created.Add(-time.Hour).UnixMilli(), To: created.Add(30 * time.Minute).UnixMilli(),
	}
}

// update stores a note on, or the close of, a's open request i.
func (st *listStreet) update(a *listAgency, created time.Time, i int, closed bool, note string) {
	req := a.open[i]
	u := &pb.RequestUpdate{RequestSeq: req.Seq(), RequestId: req.ID[:], Closed: closed, Note: note}
	st.append(a, created, func(e *pb.Entry) { e.Body = &pb.Entry_Update{Update: u} })
	if closed {
		a.open = append(a.open[:i], a.open[i+1:]...)
	}
}

// randomHistory writes n records spread over the agencies at random, on a
// clock that often stands still, so that many requests share a time
// within and across agencies: requests, notes, closes and note-and-closes.
func (st *listStreet) randomHistory(rng *mrand.Rand, now time.Time, n int) time.Time {
	for range n {
		now = now.Add([]time.Duration{0, 0, 0, time.Millisecond, time.Second}[rng.IntN(5)])
		a := st.agencies[rng.IntN(len(st.agencies))]
		switch k := rng.IntN(10); {
		case len(a.open) == 0 || k < 5 && len(a.open) < 8:
			st.request(a, now, float64(rng.IntN(2000)-1000), float64(rng.IntN(2000)-1000))
		case k < 7:
			st.update(a, now, rng.IntN(len(a.open)), false, fmt.Sprintf("note %d", rng.IntN(1000)))
		case k < 9:
			st.update(a, now, rng.IntN(len(a.open)), true, "")
		default:
			st.update(a, now, rng.IntN(len(a.open)), true, "closed with a note")
		}
	}
	return now
}

// equivocate stores a second version of a's last record: a request dated
// at, before every other of its log, which only an equivocation can be.
// a's log is flagged; nothing may follow it.
func (st *listStreet) equivocate(a *listAgency, at time.Time) {
	st.tb.Helper()
	if a.seq == 0 {
		st.request(a, at, 0, 0)
	}
	r := listRequest(a.cred.ID, at, Area{Center: listCenter, Radius: 250})
	e := &pb.Entry{Author: []byte(a.id), Seq: a.seq, Created: at.UnixMilli(), Neighborhood: listHood, Body: &pb.Entry_Request{Request: r}}
	if a.seq > 1 {
		e.Prev = st.slotID(a.id, a.seq-1)
	}
	s, err := record.SealAt(e, a.key, at)
	if err != nil {
		st.tb.Fatal(err)
	}
	if res, err := st.db.Ingest(s); err != nil || res.Outcome != store.Equivocation {
		st.tb.Fatalf("Ingest(second version of seq %d) = %+v, %v; want an equivocation", s.Seq(), res, err)
	}
	if h, err := st.db.Head(a.id); err != nil || !h.Flagged {
		st.tb.Fatalf("Head after an equivocation = %+v, %v; want flagged", h, err)
	}
}

func (st *listStreet) slotID(a peer.ID, seq uint64) []byte {
	st.tb.Helper()
	slots, _, err := st.db.Slots(a, seq, 1, 1<<20)
	if err != nil || len(slots) == 0 || slots[0].Seq != seq {
		st.tb.Fatalf("slot %d of %s: %d slots, %v", seq, a, len(slots), err)
	}
	return slots[0].ID[:]
}

// checkSame fails unless List and Agencies answer as the baseline does,
// for every agency and for all, at limits around every edge.
func (st *listStreet) checkSame(t *testing.T, when string) {
	t.Helper()
	all, err := st.svc.listBaseline("", 0)
	if err != nil {
		t.Fatal(err)
	}
	n := len(all)
	whose := []peer.ID{""}
	for _, a := range st.agencies {
		whose = append(whose, a.id)
	}
	for _, a := range whose {
		for _, limit := range []int{0, 1, 2, 7, n - 1, n, n + 3} {
			want, err := st.svc.listBaseline(a, limit)
			if err != nil {
				t.Fatal(err)
			}
			got, err := st.svc.List(a, limit)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%s: List(%.8s, %d): %d requests differ from the baseline's %d; first difference: %s", when, a, limit, len(got), len(want), firstDiff(got, want))
			}
		}
	}
	now := listBase.Add(24 * time.Hour)
	want, err := st.svc.agenciesBaseline(now)
	if err != nil {
		t.Fatal(err)
	}
	got, err := st.svc.Agencies(now)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s: Agencies = %+v;\nbaseline %+v", when, got, want)
	}
	for _, a := range st.agencies {
		want, wok, werr := st.svc.agencyBaseline(a.id, now)
		got, ok, err := st.svc.Agency(a.id, now)
		if !reflect.DeepEqual(got, want) || ok != wok || err != werr {
			t.Errorf("%s: Agency(%.8s) = %+v, %v, %v; baseline %+v, %v, %v", when, a.id, got, ok, err, want, wok, werr)
		}
	}
}

func firstDiff(got, want []Listed) string {
	for i := range min(len(got), len(want)) {
		if !reflect.DeepEqual(got[i], want[i]) {
			return fmt.Sprintf("at %d: %s seq %d %s / baseline %s seq %d %s", i,
				got[i].AgencyName, got[i].Seq, got[i].Created.Format(time.StampMilli),
				want[i].AgencyName, want[i].Seq, want[i].Created.Format(time.StampMilli))
		}
	}
	return "the lengths"
}

// TestListMatchesBaseline holds List, Agencies and Agency to the
// algorithms they replaced on random streets: requests of one time within
// and across agencies, two agencies of one name, notes and closes,
// revocations (requests before and after them), a home some requests
// cover, an equivocating agency (whose listing is built from every slot)
// and listings made while the logs grow.
func TestListMatchesBaseline(t *testing.T) {
	for seed := range uint64(4) {
		t.Run(fmt.Sprint("seed ", seed), func(t *testing.T) {
			rng := mrand.New(mrand.NewPCG(seed, 17))
			home := listAt(150, -80)
			st := newListStreet(t, &home, "Springfield PD", "County Sheriff", "Springfield PD", "Fire Marshal")
			now := listBase
			for round := range 3 {
				now = st.randomHistory(rng, now, 60)
				st.checkSame(t, fmt.Sprint("after round ", round))
				if round == 0 {
					// A renewal under another name, valid longer: the
					// agency is listed by it from now on.
					renewal, err := Certify(st.issuerKey, st.agencies[0].id, "Animal Control", Area{Center: listCenter, Radius: 5000}, listBase, listBase.Add(400*24*time.Hour))
					if err != nil {
						t.Fatal(err)
					}
					if _, err := st.svc.IngestDoc(renewal.Raw); err != nil {
						t.Fatal(err)
					}
				}
			}
			// Revoke one agency's credential from a time inside its
			// history, and another's through a log position.
			rev, err := Revoke(st.issuerKey, st.agencies[1].cred, listBase.Add(time.Duration(rng.IntN(60))*time.Second), "badge lost")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := st.svc.IngestDoc(rev.Raw); err != nil {
				t.Fatal(err)
			}
			rev, err = RevokeThrough(st.issuerKey, st.agencies[2].cred, now.Add(time.Hour), st.agencies[2].seq/2+1, "audit")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := st.svc.IngestDoc(rev.Raw); err != nil {
				t.Fatal(err)
			}
			st.checkSame(t, "after the revocations")
			// The street shows what it is meant to hold to the baseline.
			all, err := st.svc.List("", 0)
			if err != nil {
				t.Fatal(err)
			}
			seen := map[string]int{}
			for i, l := range all {
				seen[fmt.Sprint("covers home ", l.CoversHome)]++
				seen[fmt.Sprint("revoked ", l.Revoked, " after ", l.AfterRevocation)]++
				seen[fmt.Sprint("notes ", len(l.Notes) > 0, " closed ", l.Closed)]++
				if i > 0 && l.Created.Equal(all[i-1].Created) {
					seen[fmt.Sprint("one time, one agency ", l.Agency == all[i-1].Agency)]++
				}
			}
			for _, want := range []string{"covers home true", "covers home false", "revoked false after false", "revoked true after false",
				"revoked true after true", "notes true closed true", "notes false closed false", "one time, one agency true", "one time, one agency false"} {
				if seen[want] == 0 {
					t.Errorf("no request listed with %s: %v", want, seen)
				}
			}
			st.equivocate(st.agencies[3], listBase.Add(-time.Minute))
			st.checkSame(t, "after the equivocation")
		})
	}
}

// TestListIsACopy: what List returns is the caller's; changing it changes
// nothing the next call returns.
func TestListIsACopy(t *testing.T) {
	st := newListStreet(t, nil, "Springfield PD", "County Sheriff")
	now := st.randomHistory(mrand.New(mrand.NewPCG(1, 2)), listBase, 80)
	for _, a := range st.agencies {
		st.request(a, now, 0, 0)
		st.update(a, now, len(a.open)-1, false, "first note")
	}
	for _, limit := range []int{0, 3} {
		before, err := st.svc.List("", limit)
		if err != nil {
			t.Fatal(err)
		}
		mine, err := st.svc.List("", limit)
		if err != nil {
			t.Fatal(err)
		}
		for i := range mine {
			l := &mine[i]
			l.Description, l.Closed, l.Yield.Clips, l.AgencyName = "changed", !l.Closed, 99, "changed"
			for j := range l.Notes {
				l.Notes[j].Text = "changed"
			}
			l.Notes = append(l.Notes, Note{Text: "added"})
		}
		after, err := st.svc.List("", limit)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(after, before) {
			t.Errorf("limit %d: changing what List returned changed the next listing: %s", limit, firstDiff(after, before))
		}
	}
}

// TestListWhileLogsGrow lists and summarizes while records are stored,
// for the race detector.
func TestListWhileLogsGrow(t *testing.T) {
	st := newListStreet(t, nil, "Springfield PD", "County Sheriff")
	var wg sync.WaitGroup
	done := make(chan struct{})
	wg.Go(func() {
		for {
			select {
			case <-done:
				return
			default:
			}
			if _, err := st.svc.List("", 5); err != nil {
				t.Error(err)
				return
			}
			if _, err := st.svc.Agencies(listBase); err != nil {
				t.Error(err)
				return
			}
		}
	})
	st.randomHistory(mrand.New(mrand.NewPCG(3, 4)), listBase, 150)
	close(done)
	wg.Wait()
	st.checkSame(t, "at the end")
}

// TestByTimeAnyOrder feeds a log records whose times go backwards as well
// as forwards (as an equivocating log's versions may): its order is still
// a stable sort of its requests, newest first.
func TestByTimeAnyOrder(t *testing.T) {
	rng := mrand.New(mrand.NewPCG(5, 6))
	key, id := listKey(t)
	l := newAgencyLog()
	var prev record.ID
	for seq := uint64(1); seq <= 300; seq++ {
		created := listBase.Add(time.Duration(rng.IntN(20)) * time.Millisecond)
		e := &pb.Entry{Author: []byte(id), Seq: seq, Created: created.UnixMilli(), Neighborhood: listHood}
		if seq > 1 {
			e.Prev = prev[:]
		}
		if seq > 1 && rng.IntN(3) == 0 {
			on := l.items[rng.IntN(len(l.items))]
			e.Body = &pb.Entry_Update{Update: &pb.RequestUpdate{RequestSeq: on.Seq, RequestId: on.ID[:], Closed: rng.IntN(2) == 0, Note: "n"}}
		} else {
			e.Body = &pb.Entry_Request{Request: listRequest(record.IDOf([]byte("credential")), created, Area{Center: listCenter, Radius: float64(100 + rng.IntN(300))})}
		}
		s, err := record.SealAt(e, key, created)
		if err != nil {
			t.Fatal(err)
		}
		l.add(id, store.Slot{Seq: seq, ID: s.ID, Raw: s.Raw})
		prev = s.ID
	}
	want := append([]*Item(nil), l.items...)
	sort.SliceStable(want, func(i, j int) bool { return want[i].Created.After(want[j].Created) })
	var wantHours float64
	closed := 0
	for _, it := range l.items {
		wantHours += it.AreaHours()
		if it.Closed {
			closed++
		}
	}
	for i, it := range want {
		if got := l.newest(i); got != it {
			t.Fatalf("newest(%d) = seq %d at %s; want seq %d at %s", i, got.Seq, got.Created.Format(time.StampMilli), it.Seq, it.Created.Format(time.StampMilli))
		}
	}
	if l.areaHours != wantHours || l.open != len(l.items)-closed {
		t.Errorf("areaHours, open = %v, %d; want %v, %d", l.areaHours, l.open, wantHours, len(l.items)-closed)
	}
}

// BenchmarkList measures List and Agencies against the baseline on one
// street: 20 agencies, 2,000 requests in all, each with a note and a
// close (6,000 records). The listings of GET /api/v1/requests (limit 50
// and 100), of everything (limit 0: the MQTT bridge, sharing), of one
// agency, and GET /api/v1/agencies.
//
//	go test -run '^$' -bench 'List|Agencies' -count 5 ./requests/
func BenchmarkList(b *testing.B) {
	st := benchStreet(b)
	for _, c := range []struct {
		name   string
		agency peer.ID
		limit  int
	}{
		{"all/limit=50", "", 50},
		{"all/limit=100", "", 100},
		{"all/limit=0", "", 0},
		{"one/limit=50", st.agencies[0].id, 50},
	} {
		for _, impl := range []struct {
			name string
			list func(peer.ID, int) ([]Listed, error)
		}{{"old", st.svc.listBaseline}, {"new", st.svc.List}} {
			b.Run(c.name+"/"+impl.name, func(b *testing.B) {
				for b.Loop() {
					if _, err := impl.list(c.agency, c.limit); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

func BenchmarkAgencies(b *testing.B) {
	st := benchStreet(b)
	now := listBase.Add(24 * time.Hour)
	for _, impl := range []struct {
		name     string
		agencies func(time.Time) ([]Agency, error)
	}{{"old", st.svc.agenciesBaseline}, {"new", st.svc.Agencies}} {
		b.Run(impl.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := impl.agencies(now); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// benchStreet builds the benchmarks' street, and lists it once so that
// its logs are read before the clock starts.
func benchStreet(b *testing.B) *listStreet {
	b.Helper()
	var names []string
	for i := range 20 {
		names = append(names, fmt.Sprintf("Agency %02d", i))
	}
	home := listAt(0, 0)
	st := newListStreet(b, &home, names...)
	rng := mrand.New(mrand.NewPCG(7, 8))
	now := listBase
	for range 100 {
		for _, a := range st.agencies {
			now = now.Add(3*time.Second + time.Duration(rng.IntN(3))*time.Minute)
			st.request(a, now, float64(rng.IntN(2000)-1000), float64(rng.IntN(2000)-1000))
			st.update(a, now.Add(time.Second), len(a.open)-1, false, "Footage received, thank you.")
			st.update(a, now.Add(2*time.Second), len(a.open)-1, true, "")
		}
	}
	if l, err := st.svc.List("", 0); err != nil || len(l) != 2000 {
		b.Fatalf("List = %d requests, %v; want 2000", len(l), err)
	}
	return st
}
