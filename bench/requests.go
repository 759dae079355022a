package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	mrand "math/rand/v2"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/porchlight-mesh/porchlight/api"
	"github.com/porchlight-mesh/porchlight/client"
	"github.com/porchlight-mesh/porchlight/geo"
	"github.com/porchlight-mesh/porchlight/node"
	"github.com/porchlight-mesh/porchlight/record"
	"github.com/porchlight-mesh/porchlight/record/pb"
	"github.com/porchlight-mesh/porchlight/requests"
	"github.com/porchlight-mesh/porchlight/store"
)

// Requests targets.
const targetListP99 = 20 * time.Millisecond

// reqHood is the requests benchmark's neighborhood (its own data dir).
const reqHood = "maple-st"

// reqStep is the time between two requests of the agency; each is closed
// reqCloseAfter later, before the next one is made.
const (
	reqStep       = time.Hour
	reqCloseAfter = 40 * time.Minute
)

// reqCenter is the middle of the agency's jurisdiction, a square of
// reqJurisdictionSide meters; every request is a circle of reqRadius
// meters inside it.
var reqCenter = geo.Point{Lat: 39.7817, Lon: -89.6501}

const (
	reqJurisdictionSide = 5000.0
	reqRadius           = 300.0
)

// reqAt is the point north and east meters from reqCenter.
func reqAt(north, east float64) geo.Point {
	const perDegree = 6_371_008.8 * math.Pi / 180
	return geo.Point{
		Lat: reqCenter.Lat + north/perDegree,
		Lon: reqCenter.Lon + east/(perDegree*math.Cos(reqCenter.Lat*math.Pi/180)),
	}
}

// agencyData is one agency's log of requests, each closed by the next
// record: request, close, request, close... plus one request signed after
// the last close and never stored (to check on a cold service).
type agencyData struct {
	issuerKey crypto.PrivKey
	issuer    peer.ID
	key       crypto.PrivKey
	id        peer.ID
	cred      *record.Doc
	recs      []*record.Signed // 2n records: request k at 2k, its close at 2k+1
	extra     *record.Signed
}

// newAgencyData makes the keys and the credential; signLog fills recs.
func newAgencyData(n int, base time.Time) (*agencyData, error) {
	a := &agencyData{recs: make([]*record.Signed, 0, 2*n)}
	var err error
	if a.issuerKey, a.issuer, err = newKey(); err != nil {
		return nil, err
	}
	if a.key, a.id, err = newKey(); err != nil {
		return nil, err
	}
	h := reqJurisdictionSide / 2
	jur := requests.Area{Polygon: []geo.Point{reqAt(-h, -h), reqAt(-h, h), reqAt(h, h), reqAt(h, -h)}}
	// Valid over every created time, and for a year from now.
	a.cred, err = requests.Certify(a.issuerKey, a.id, "Springfield PD", jur, base.Add(-24*time.Hour), time.Now().Add(365*24*time.Hour))
	if err != nil {
		return nil, fmt.Errorf("certify: %w", err)
	}
	return a, nil
}

func newKey() (crypto.PrivKey, peer.ID, error) {
	key, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		return nil, "", err
	}
	id, err := peer.IDFromPrivateKey(key)
	return key, id, err
}

// signLog signs the n requests and closes in log order, sending each
// record to out as it is signed, then the extra request. A log is a hash
// chain, so this is sequential; the caller stores records meanwhile.
func (a *agencyData) signLog(ctx context.Context, n int, base time.Time, seed uint64, out chan<- *record.Signed) error {
	defer close(out)
	rng := mrand.New(mrand.NewPCG(seed, 7))
	var (
		seq  uint64
		prev []byte
	)
	sign := func(created time.Time, body func(*pb.Entry)) (*record.Signed, error) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		seq++
		e := &pb.Entry{Author: []byte(a.id), Seq: seq, Prev: prev, Created: created.UnixMilli(), Neighborhood: reqHood}
		body(e)
		s, err := record.SealAt(e, a.key, created)
		if err != nil {
			return nil, fmt.Errorf("seal seq %d: %w", seq, err)
		}
		prev = s.ID[:]
		return s, nil
	}
	request := func(k int) (*record.Signed, error) {
		created := base.Add(time.Duration(k) * reqStep)
		// A window of 15 min to 12 h ending up to 1 h after the request
		// is made; a 300 m circle anywhere well inside the jurisdiction.
		to := created.Add(time.Duration(rng.Int64N(int64(time.Hour))))
		from := to.Add(-15*time.Minute - time.Duration(rng.Int64N(int64(11*time.Hour+45*time.Minute))))
		lim := reqJurisdictionSide/2 - reqRadius - 100
		area := requests.Area{Center: reqAt((2*rng.Float64()-1)*lim, (2*rng.Float64()-1)*lim), Radius: reqRadius}
		r := &pb.Request{
			Credential:  a.cred.ID[:],
			CaseNumber:  fmt.Sprintf("SPD-%d-%06d", created.Year(), k+1),
			Incident:    incidents[k%len(incidents)],
			Description: "Looking for doorbell or porch camera footage of a grey van seen on the block; please share only what you choose to.",
			Contact:     "Det. Ruiz, Springfield PD, 217-555-0100",
			Area:        area.ToPB(),
			From:        from.UnixMilli(),
			To:          to.UnixMilli(),
		}
		return sign(created, func(e *pb.Entry) { e.Body = &pb.Entry_Request{Request: r} })
	}
	for k := range n {
		r, err := request(k)
		if err != nil {
			return err
		}
		a.recs = append(a.recs, r)
		out <- r
		u := &pb.RequestUpdate{RequestSeq: r.Seq(), RequestId: r.ID[:], Closed: true}
		if k%4 == 0 {
			u.Note = "Footage received, thank you. Case closed."
		}
		c, err := sign(r.Created().Add(reqCloseAfter), func(e *pb.Entry) { e.Body = &pb.Entry_Update{Update: u} })
		if err != nil {
			return err
		}
		a.recs = append(a.recs, c)
		out <- c
	}
	r, err := request(n)
	if err != nil {
		return err
	}
	a.extra = r
	return nil
}

var incidents = []string{"Package theft", "Vehicle break-in", "Hit and run", "Missing person", "Burglary"}

// checkRun is what the rules measurement found.
type checkRun struct {
	n, checked       int
	req, close       []reqTimes    // per request, per close, in log order
	generated, total time.Duration // building the history; and measuring too
	cold, warm       time.Duration // CheckEntry of one more request
}

// reqTimes are one record's measured calls, in receiving order.
type reqTimes struct {
	open, verify, check, ingest time.Duration
}

// runRequests measures the request rules on valid requests over a long
// agency history, then the requests listing of the real binary's API with
// that history in its store.
func runRequests(ctx context.Context, e *env) (*section, error) {
	p := e.p
	n, checked := p.reqCount, min(p.reqChecked, p.reqCount)
	if n < 1 || checked < 1 {
		return nil, fmt.Errorf("-requests %d, -checked %d: want at least 1", p.reqCount, p.reqChecked)
	}
	base := time.Now().Add(-time.Duration(n+1)*reqStep - time.Hour).Truncate(time.Minute)
	ag, err := newAgencyData(n, base)
	if err != nil {
		return nil, err
	}

	// The data dir of the node to list from, initialized by the binary.
	data := filepath.Join(e.tmp, "requests-data")
	initArgs := []string{"--data", data, "init", "--neighborhood", reqHood, "--trust-issuer", ag.issuer.String(),
		"--api", "127.0.0.1:0", "--listen", "/ip4/127.0.0.1/tcp/0"}
	if out, err := exec.Command(p.bin, initArgs...).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("porchlight init: %w\n%s", err, out)
	}
	db, err := store.Open(store.Config{Dir: filepath.Join(data, node.DBDir), Neighborhood: reqHood, Logger: e.log})
	if err != nil {
		return nil, err
	}
	defer db.Close() // closed below, before the node starts; Close twice is safe
	svc, err := requests.New(requests.Config{Store: db, Trusted: []peer.ID{ag.issuer}, Logger: e.log})
	if err != nil {
		return nil, err
	}
	if added, err := svc.IngestDoc(ag.cred.Raw); err != nil || !added {
		return nil, fmt.Errorf("IngestDoc(credential) = %v, %v; want true, nil", added, err)
	}

	// The history: signed on one goroutine, checked and stored on this one
	// as they come. The last `checked` requests and their closes are
	// measured once every record is signed, with nothing else running.
	progress("requests: signing, checking and storing %d requests and their closes (the last %d measured)", n, checked)
	t0 := time.Now()
	signed := make(chan *record.Signed, 2*n)
	sctx, cancelSign := context.WithCancel(ctx)
	var (
		signWG  sync.WaitGroup
		signErr error
	)
	signWG.Add(1)
	go func() {
		defer signWG.Done()
		signErr = ag.signLog(sctx, n, base, p.seed, signed)
	}()
	defer func() { cancelSign(); signWG.Wait() }()
	history := 2 * (n - checked)
	var measured []*record.Signed
	for s := range signed {
		if len(measured) > 0 || history == 0 {
			measured = append(measured, s)
			continue
		}
		if err := checkAndIngest(svc, db, s); err != nil {
			return nil, err
		}
		history--
	}
	signWG.Wait()
	if signErr != nil {
		return nil, signErr
	}
	generated := time.Since(t0)
	if err := e.profilePhase("requests-check"); err != nil {
		return nil, err
	}
	cr := checkRun{n: n, checked: checked, generated: generated}
	if cr.req, cr.close, err = measureChecks(svc, db, measured); err != nil {
		return nil, err
	}
	cr.total = time.Since(t0)

	// One request more, checked by this service (warm) and by a new one on
	// the same store, which reads the agency's whole log first.
	cold, err := requests.New(requests.Config{Store: db, Trusted: []peer.ID{ag.issuer}, Logger: e.log})
	if err != nil {
		return nil, err
	}
	c0 := time.Now()
	if err := cold.CheckEntry(ag.extra); err != nil {
		return nil, fmt.Errorf("cold CheckEntry: %w", err)
	}
	cr.cold = time.Since(c0)
	c0 = time.Now()
	if err := svc.CheckEntry(ag.extra); err != nil {
		return nil, fmt.Errorf("warm CheckEntry: %w", err)
	}
	cr.warm = time.Since(c0)

	// The service's listing in this process, for scale against the API.
	if err := e.profilePhase("requests-list"); err != nil {
		return nil, err
	}
	progress("requests: (*requests.Service).List in process, %d calls each of limit 100 and %d", p.reqListCalls, n)
	var list100, listAll []time.Duration
	for range p.reqListCalls {
		for _, lim := range []int{100, n} {
			c0 := time.Now()
			items, err := svc.List(ag.id, lim)
			d := time.Since(c0)
			if err != nil {
				return nil, fmt.Errorf("list requests: %w", err)
			}
			if len(items) != min(lim, n) {
				return nil, fmt.Errorf("List(%d) returned %d items, want %d", lim, len(items), min(lim, n))
			}
			if lim == 100 {
				list100 = append(list100, d)
			} else {
				listAll = append(listAll, d)
			}
		}
	}
	if err := db.Close(); err != nil {
		return nil, fmt.Errorf("close store: %w", err)
	}
	if err := e.profilePhase("requests-api"); err != nil {
		return nil, err
	}

	// The API of the real binary.
	progress("requests: porchlight run on the data dir; %d × GET requests (limit 100), %d × (limit %d), %d × status", p.reqGets, p.reqGetsAll, n, p.reqGets)
	c, err := startChild(p.bin, data, nil)
	if err != nil {
		return nil, err
	}
	defer c.stop()
	startup, err := c.waitStatus(ctx, 30*time.Second)
	if err != nil {
		return nil, err
	}
	cl, err := newAPIClient(data)
	if err != nil {
		return nil, err
	}
	listURL := "/api/v1/requests?agency=" + ag.id.String()
	allURL := fmt.Sprintf("%s&limit=%d", listURL, n)
	newest := ag.recs[len(ag.recs)-2].ID
	var (
		first      time.Duration
		firstBytes int
	)
	{
		body, d, err := cl.get(ctx, listURL)
		if err != nil {
			return nil, err
		}
		if err := checkListing(body, min(100, n), newest); err != nil {
			return nil, fmt.Errorf("first GET %s: %w", listURL, err)
		}
		first, firstBytes = d, len(body)
	}
	var (
		getList, getAll, getStatus []time.Duration
		listBytes, allBytes        int
	)
	// The default listing alternates with the floor; the full listings come
	// after, so that their garbage (megabytes per call) does not land in the
	// default listing's tail.
	for i := range p.reqGets {
		for k := range 2 {
			if (i+k)%2 == 0 {
				_, d, err := cl.get(ctx, "/api/v1/status")
				if err != nil {
					return nil, err
				}
				getStatus = append(getStatus, d)
				continue
			}
			body, d, err := cl.get(ctx, listURL)
			if err != nil {
				return nil, err
			}
			getList, listBytes = append(getList, d), len(body)
		}
	}
	for i := range p.reqGetsAll {
		body, d, err := cl.get(ctx, allURL)
		if err != nil {
			return nil, err
		}
		if i == 0 {
			if err := checkListing(body, n, newest); err != nil {
				return nil, fmt.Errorf("GET %s: %w", allURL, err)
			}
		}
		getAll, allBytes = append(getAll, d), len(body)
	}
	st, err := readProcStatus(c.cmd.Process.Pid)
	if err != nil {
		return nil, err
	}
	if err := c.stop(); err != nil {
		return nil, fmt.Errorf("stop node: %w", err)
	}

	s := &section{title: "Requests"}
	cr.report(s)
	dl, da, dst := summarize(getList), summarize(getAll), summarize(getStatus)
	l100, lall := summarize(list100), summarize(listAll)
	s.add(row{
		metric: fmt.Sprintf("GET /api/v1/requests?agency=ID (limit 100, %d stored), median; baseline: GET /api/v1/status", n), result: ms(dl.median),
		baseline: ms(dst.median), ratio: ratio(float64(dl.median), float64(dst.median)),
	})
	s.add(row{
		metric: fmt.Sprintf("GET /api/v1/requests?agency=ID (limit 100, %d stored), p99; baseline: GET /api/v1/status", n), result: ms(dl.p99),
		baseline: ms(dst.p99), ratio: ratio(float64(dl.p99), float64(dst.p99)), target: "≤ 20 ms", met: met(dl.p99 <= targetListP99),
	})
	if len(getAll) > 0 {
		s.add(row{metric: fmt.Sprintf("GET /api/v1/requests?agency=ID&limit=%d, median", n), result: ms(da.median)})
		s.add(row{metric: fmt.Sprintf("GET /api/v1/requests?agency=ID&limit=%d, p99", n), result: ms(da.p99)})
	}
	s.add(row{metric: "first GET /api/v1/requests?agency=ID after start (cold)", result: ms(first)})

	s.printf("**Listing.** The data dir is made by `porchlight --data D %s`; then the bench writes the agency's credential and its %d records straight into `D/db` "+
		"(`store.Open`, `requests.New`, `IngestDoc`, then `CheckEntry` and `Ingest` for each record, as above), closes the store and starts the binary: "+
		"`porchlight --data D run --no-mdns --api 127.0.0.1:0 --listen /ip4/127.0.0.1/tcp/0` (it answered `status` %s after exec). ",
		strings.Join(initArgs[2:], " "), len(ag.recs), ms(startup))
	s.printf("One HTTP/1.1 client, keep-alive, bearer token from `D/api.token`, calls made one at a time and the whole body read; "+
		"first %d rounds of `GET /api/v1/status` (the API's floor: auth middleware, JSON, loopback TCP) and the default listing, in alternating order, then %d full listings.\n\n", p.reqGets, p.reqGetsAll)
	distTable(&s.body, []string{"`GET /api/v1/requests?agency=ID` (limit 100)", fmt.Sprintf("… `&limit=%d`", n), "`GET /api/v1/status`"}, []dist{dl, da, dst})
	s.printf("| | limit 100 | limit %d | status |\n|---|---:|---:|---:|\n", n)
	s.printf("| response body | %d bytes | %d bytes | – |\n", listBytes, allBytes)
	s.printf("| first call after start (cold: the agency's log is read from the store) | %s (%d bytes) | – | – |\n", ms(first), firstBytes)
	s.printf("| in process: `(*requests.Service).List` on the bench's store before the node started, %d calls, median / p99 | %s / %s | %s / %s | – |\n\n",
		p.reqListCalls, ms(l100.median), ms(l100.p99), ms(lall.median), ms(lall.p99))
	s.printf("The node's VmRSS after the listing calls: %s (VmHWM %s).\n\n", mib(st["VmRSS"]), mib(st["VmHWM"]))
	return s, nil
}

// checkAndIngest does what the mesh does with a valid record from the
// network after opening it.
func checkAndIngest(svc *requests.Service, db *store.DB, s *record.Signed) error {
	if err := svc.CheckEntry(s); err != nil {
		return fmt.Errorf("CheckEntry(seq %d): %w", s.Seq(), err)
	}
	res, err := db.Ingest(s)
	if err != nil {
		return fmt.Errorf("Ingest(seq %d): %w", s.Seq(), err)
	}
	if res.Outcome != store.Added {
		return fmt.Errorf("Ingest(seq %d): %s, want added", s.Seq(), res.Outcome)
	}
	return nil
}

// measureChecks receives recs (request, close, ...) as the mesh would:
// record.Open, CheckEntry, store.Ingest, each call timed. For each record a
// bare Ed25519 verification of a message of the length it signs is timed
// just before, as the floor.
func measureChecks(svc *requests.Service, db *store.DB, recs []*record.Signed) (reqT, closeT []reqTimes, err error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	msgs, sigs := make([][]byte, len(recs)), make([][]byte, len(recs))
	for i, s := range recs {
		l, err := signedLen(s.Raw)
		if err != nil {
			return nil, nil, err
		}
		msgs[i] = make([]byte, l)
		_, _ = rand.Read(msgs[i])
		sigs[i] = ed25519.Sign(priv, msgs[i])
	}
	now := time.Now()
	for i, s := range recs {
		var t reqTimes
		t0 := time.Now()
		ok := ed25519.Verify(pub, msgs[i], sigs[i])
		t1 := time.Now()
		opened, err := record.Open(s.Raw, now)
		t2 := time.Now()
		if !ok || err != nil {
			return nil, nil, fmt.Errorf("open seq %d: %v (bare verify %v)", s.Seq(), err, ok)
		}
		err = svc.CheckEntry(opened)
		t3 := time.Now()
		if err != nil {
			return nil, nil, fmt.Errorf("CheckEntry(seq %d): %w", s.Seq(), err)
		}
		res, err := db.Ingest(opened)
		t4 := time.Now()
		if err != nil || res.Outcome != store.Added {
			return nil, nil, fmt.Errorf("Ingest(seq %d) = %v, %v; want added", s.Seq(), res.Outcome, err)
		}
		t.verify, t.open, t.check, t.ingest = t1.Sub(t0), t2.Sub(t1), t3.Sub(t2), t4.Sub(t3)
		if opened.Entry.GetRequest() != nil {
			reqT = append(reqT, t)
		} else {
			closeT = append(closeT, t)
		}
	}
	return reqT, closeT, nil
}

func (cr checkRun) report(s *section) {
	n, reqT, closeT := cr.n, cr.req, cr.close
	col := func(ts []reqTimes, f func(reqTimes) time.Duration) dist {
		ds := make([]time.Duration, len(ts))
		for i, t := range ts {
			ds[i] = f(t)
		}
		return summarize(ds)
	}
	open := func(t reqTimes) time.Duration { return t.open }
	verify := func(t reqTimes) time.Duration { return t.verify }
	check := func(t reqTimes) time.Duration { return t.check }
	both := func(t reqTimes) time.Duration { return t.open + t.check }
	ingest := func(t reqTimes) time.Duration { return t.ingest }
	rv, ro, rc, rb := col(reqT, verify), col(reqT, open), col(reqT, check), col(reqT, both)
	us := func(d time.Duration) string { return fmt.Sprintf("%.1f µs", float64(d)/float64(time.Microsecond)) }

	s.add(row{
		metric: "`CheckEntry` per valid request (credential checks included), mean; baseline: one Ed25519 verify", result: us(rc.mean),
		baseline: us(rv.mean), ratio: ratio(float64(rc.mean), float64(rv.mean)),
	})
	s.add(row{
		metric: "`record.Open` + `CheckEntry` per received request, mean; baseline: one Ed25519 verify", result: us(rb.mean),
		baseline: us(rv.mean), ratio: ratio(float64(rb.mean), float64(rv.mean)),
	})

	s.printf("One agency (`Springfield PD`, certified by a trusted issuer over a %.0f km square jurisdiction) makes %d requests, one an hour, and closes each %.0f min after making it, before the next: its log is request, close, request, close... (%d records). "+
		"Each request is a %.0f m circle at a random place inside the jurisdiction, with a window of 15 min to 12 h that ends up to 1 h after the request is made. "+
		"Every record is sealed with `record.SealAt` at its created time, then judged by `(*requests.Service).CheckEntry` and stored by `store.DB.Ingest`, in log order, in the store of a data dir made by the binary (below). "+
		"The first %d requests and their closes are the history (signed on one goroutine, checked and stored on another as they come; %.1f s in all). "+
		"The last %d requests and their closes are signed first, then received one at a time with nothing else running in the bench, as the mesh receives a record: `record.Open`, `CheckEntry`, `Ingest`, each call timed, "+
		"with a bare `crypto/ed25519.Verify` of a message as long as the record signs timed just before it as the floor (GOMAXPROCS %d; Badger's own goroutines may use the other core). Building and measuring took %.1f s.\n\n",
		reqJurisdictionSide/1000, n, reqCloseAfter.Minutes(), 2*n, reqRadius, n-cr.checked, cr.generated.Seconds(), cr.checked, runtime.GOMAXPROCS(0), cr.total.Seconds())
	s.printf("| per record, µs | mean | median | p90 | p99 | max |\n|---|---:|---:|---:|---:|---:|\n")
	line := func(name string, d dist) {
		f := func(x time.Duration) string { return fmt.Sprintf("%.1f", float64(x)/float64(time.Microsecond)) }
		s.printf("| %s | %s | %s | %s | %s | %s |\n", name, f(d.mean), f(d.median), f(d.p90), f(d.p99), f(d.max))
	}
	line(fmt.Sprintf("request (%d): `crypto/ed25519.Verify` (floor)", len(reqT)), rv)
	line("request: `record.Open`", ro)
	line("request: `CheckEntry`", rc)
	line("request: `record.Open` + `CheckEntry`", rb)
	line("request: `store.Ingest`", col(reqT, ingest))
	line(fmt.Sprintf("close (%d): `record.Open`", len(closeT)), col(closeT, open))
	line("close: `CheckEntry`", col(closeT, check))
	line("close: `store.Ingest`", col(closeT, ingest))
	s.add(row{metric: fmt.Sprintf("first `CheckEntry` of a new service (reads the agency's %d-record log)", 2*n), result: ms(cr.cold)})
	s.printf("\nPer received request, `record.Open` + `CheckEntry` is %s of a bare Ed25519 verification (mean), `CheckEntry` alone %s. "+
		"One request more (seq %d), checked by a new `requests.Service` on the same store, which first reads the agency's whole log of %d records: %s; by the warm service: %s.\n\n",
		ratio(float64(rb.mean), float64(rv.mean)), ratio(float64(rc.mean), float64(rv.mean)), 2*n+1, 2*n, ms(cr.cold), us(cr.warm))
}

// apiClient calls a running node's API.
type apiClient struct{ cl *client.Client }

func newAPIClient(data string) (*apiClient, error) {
	cl, err := client.FromDataDir(data)
	if err != nil {
		return nil, err
	}
	return &apiClient{cl}, nil
}

// get returns the body of a 200 response and the time from sending the
// request to having read the whole body.
func (c *apiClient) get(ctx context.Context, path string) ([]byte, time.Duration, error) {
	start := time.Now()
	var body []byte
	if err := c.cl.Do(ctx, "GET", path, nil, &body); err != nil {
		return nil, 0, fmt.Errorf("GET %s: %w", path, err)
	}
	return body, time.Since(start), nil
}

// checkListing checks a requests listing: want items, newest first, the
// first being newest, all closed.
func checkListing(body []byte, want int, newest record.ID) error {
	var items []api.RequestJSON
	if err := json.Unmarshal(body, &items); err != nil {
		return err
	}
	if len(items) != want {
		return fmt.Errorf("%d items, want %d", len(items), want)
	}
	if items[0].ID != newest.String() {
		return fmt.Errorf("first item %s, want the newest request %s", items[0].ID, newest)
	}
	for i, it := range items {
		if i > 0 && it.Created.After(items[i-1].Created) {
			return errors.New("not newest first")
		}
		if it.Status != "closed" {
			return fmt.Errorf("item %s is %s, want closed", it.ID, it.Status)
		}
	}
	return nil
}
