package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"sync"
	"syscall"
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

// The year benchmark (issue 17, section 2; opt-in: go run ./bench -run year):
//
//	A year of a busy street, generated with the real code into the data
//	directory of one node (made by `porchlight init`): -year-homes homes
//	posting -year-per-day posts a day each for -year-days days, one post in
//	-year-retract-every retracted by its author a minute later, and
//	-year-agencies agencies (certified by one issuer the node trusts)
//	making -year-requests requests in all, each followed by a note, a
//	Yield and a close. Every record is sealed (record.SealAt at its
//	created time) and stored by store.DB.Ingest, the agencies' records
//	after (*requests.Service).CheckEntry, as the mesh does. Then the real
//	binary runs on that directory: start time until the API answers, RSS
//	idle and while clients scroll the feed, p99 of the feed and of the
//	requests and agencies listings, and the feed's deep pages through the
//	API's before cursor (the whole feed, 50 posts a page). -year-reuse
//	measures a data dir kept by an earlier run (-year-keep) instead, with
//	-bin another release's binary on it; -year-migrate opens its store in
//	the bench first, timing the schema migration a newer release does.
var (
	yearHomes    = flag.Int("year-homes", 500, "year: homes posting")
	yearDays     = flag.Int("year-days", 365, "year: days of history")
	yearPerDay   = flag.Int("year-per-day", 5, "year: posts per home per day")
	yearRetract  = flag.Int("year-retract-every", 50, "year: one post in this many is retracted by its author a minute later (0: none)")
	yearRequests = flag.Int("year-requests", -1, "year: agency requests in all, each with a note, a Yield and a close (-1: 2,000 × days/365)")
	yearAgencies = flag.Int("year-agencies", 4, "year: agencies sharing the requests (one issuer certifies them all)")
	yearGets     = flag.Int("year-gets", 500, "year: timed calls of each idle API measurement")
	yearStarts   = flag.Int("year-starts", 3, "year: starts of the binary on the data dir (start time of each)")
	yearLoad     = flag.Duration("year-load", 15*time.Second, "year: length of the feed-scrolling load")
	yearScroll   = flag.Int("year-scrollers", 4, "year: concurrent clients scrolling the feed during the load")
	yearKeep     = flag.String("year-keep", "", "year: keep the generated data dir here (a copy is not made: the run writes into it; must not exist)")
	yearReuse    = flag.String("year-reuse", "", "year: measure this data dir (kept by -year-keep) instead of generating one; the run writes into it")
	yearMigrate  = flag.Bool("year-migrate", false, "year: open the data dir's store in the bench before the first start, timing its schema migration")
)

func init() {
	optIn["year"] = true
	benchmarks = append(benchmarks, struct {
		name    string
		prepare func(*env) error
		run     func(context.Context, *env) (*section, error)
	}{"year", needBinary, runYear})
}

// yearHood is the street's neighborhood.
const yearHood = "elm-st"

// yearGen is what generating the history found.
type yearGen struct {
	posts, retractions, agencyRecs, requests int
	elapsed                                  time.Duration
	postsElapsed, agencyElapsed              time.Duration
	agencies                                 []peer.ID
	span                                     time.Duration
}

// runYear generates the history, then measures the binary on it.
func runYear(ctx context.Context, e *env) (*section, error) {
	p := e.p
	homes, days, perDay := *yearHomes, *yearDays, *yearPerDay
	if homes < 1 || days < 1 || perDay < 1 || *yearAgencies < 1 {
		return nil, errors.New("-year-homes, -year-days, -year-per-day and -year-agencies must be at least 1")
	}
	nreq := *yearRequests
	if nreq < 0 {
		nreq = max(1, 2000*days/365)
	}
	if *yearReuse != "" {
		return runYearReuse(ctx, e, *yearReuse)
	}
	data := filepath.Join(e.tmp, "year-data")
	if *yearKeep != "" {
		data = *yearKeep
		if _, err := os.Stat(data); err == nil {
			return nil, fmt.Errorf("-year-keep %s exists", data)
		}
	}
	issuerKey, issuer, err := newKey()
	if err != nil {
		return nil, err
	}
	initArgs := []string{"--data", data, "init", "--neighborhood", yearHood, "--trust-issuer", issuer.String(),
		"--api", "127.0.0.1:0", "--listen", "/ip4/127.0.0.1/tcp/0"}
	if out, err := exec.Command(p.bin, initArgs...).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("porchlight init: %w\n%s", err, out)
	}
	dbDir := filepath.Join(data, node.DBDir)
	db, err := store.Open(store.Config{Dir: dbDir, Neighborhood: yearHood, Logger: e.log})
	if err != nil {
		return nil, err
	}
	defer db.Close() // closed before the node starts; Close twice is safe

	now := time.Now()
	span := time.Duration(days) * 24 * time.Hour
	base := now.Add(-span).Truncate(time.Minute)
	g := &yearGen{span: span}
	t0 := time.Now()
	progress("year: %d homes × %d posts a day × %d days = %d posts, signed on %d goroutines, stored by one", homes, perDay, days, homes*perDay*days, runtime.NumCPU())
	if err := yearPosts(ctx, db, g, homes, days, perDay, *yearRetract, base); err != nil {
		return nil, err
	}
	g.postsElapsed = time.Since(t0)
	progress("year: %d posts and %d retractions stored in %.1f s (%.0f records/s)", g.posts, g.retractions, g.postsElapsed.Seconds(),
		float64(g.posts+g.retractions)/g.postsElapsed.Seconds())
	t1 := time.Now()
	if err := yearAgencyLogs(ctx, db, g, issuerKey, issuer, *yearAgencies, nreq, base, span, p.seed); err != nil {
		return nil, err
	}
	g.agencyElapsed = time.Since(t1)
	g.elapsed = time.Since(t0)
	progress("year: %d requests (%d agency records) stored in %.1f s", g.requests, g.agencyRecs, g.agencyElapsed.Seconds())
	if err := db.Close(); err != nil {
		return nil, fmt.Errorf("close store: %w", err)
	}
	diskDB, err := duBytes(dbDir)
	if err != nil {
		return nil, err
	}
	diskAll, err := duBytes(data)
	if err != nil {
		return nil, err
	}
	sst, err := duGlob(filepath.Join(dbDir, "*.sst"))
	if err != nil {
		return nil, err
	}
	vlog, err := duGlob(filepath.Join(dbDir, "*.vlog"))
	if err != nil {
		return nil, err
	}

	if err := e.profilePhase("year-api"); err != nil {
		return nil, err
	}
	m, err := yearMeasureNode(ctx, e, data, g)
	if err != nil {
		return nil, err
	}
	if e.p.cpuProfileDir != "" {
		if m.heapProfile, m.heapMem, err = yearHeap(e, data); err != nil {
			return nil, err
		}
	}
	if err := e.profilePhase("year-deep"); err != nil {
		return nil, err
	}
	s := &section{title: "A year of a busy street"}
	yearReport(s, e, g, m, m.deep, yearSizes{sst: sst, vlog: vlog, db: diskDB, all: diskAll}, homes, days, perDay)
	return s, nil
}

// runYearReuse measures the binary on a data dir an earlier run kept.
func runYearReuse(ctx context.Context, e *env, data string) (*section, error) {
	dbDir := filepath.Join(data, node.DBDir)
	g := &yearGen{posts: -1}
	var migrate time.Duration
	if *yearMigrate {
		progress("year: store.Open of %s (schema migration)", dbDir)
		t0 := time.Now()
		db, err := store.Open(store.Config{Dir: dbDir, Neighborhood: yearHood, Logger: e.log})
		if err != nil {
			return nil, err
		}
		if err := db.Close(); err != nil {
			return nil, err
		}
		migrate = time.Since(t0)
		progress("year: opened (and migrated) in %.1f s", migrate.Seconds())
	}
	all, err := duBytes(data)
	if err != nil {
		return nil, err
	}
	sst, err := duGlob(filepath.Join(dbDir, "*.sst"))
	if err != nil {
		return nil, err
	}
	m, err := yearMeasureNode(ctx, e, data, g)
	if err != nil {
		return nil, err
	}
	s := &section{title: "A year of a busy street (a kept data dir)"}
	s.printf("**Data dir** %s (reused): %.1f MiB, tables (*.sst) %.1f MiB before the first start", data, float64(all)/(1<<20), float64(sst)/(1<<20))
	if *yearMigrate {
		s.printf("; store.Open in the bench first (schema migration included): %.1f s", migrate.Seconds())
	}
	s.printf(".\n\n")
	yearReport(s, e, g, m, m.deep, yearSizes{}, 0, 0, 0)
	return s, nil
}

// yearPosts signs every home's log on NumCPU goroutines (a home's log by
// one goroutine, in order) and stores the records on this one as they come.
func yearPosts(ctx context.Context, db *store.DB, g *yearGen, homes, days, perDay, retractEvery int, base time.Time) error {
	perHome := days * perDay
	step := 24 * time.Hour / time.Duration(perDay*homes) // between two posts of the street
	out := make(chan *record.Signed, 4096)
	next := make(chan int)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	fail := func(err error) {
		mu.Lock()
		if firstErr == nil {
			firstErr = err
		}
		mu.Unlock()
		cancel()
	}
	for range runtime.NumCPU() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for h := range next {
				if err := yearHomeLog(ctx, h, homes, perHome, retractEvery, base, step, out); err != nil {
					fail(err)
					return
				}
			}
		}()
	}
	go func() {
		defer close(out)
		defer wg.Wait()
		defer close(next)
		for h := range homes {
			select {
			case next <- h:
			case <-ctx.Done():
				return
			}
		}
	}()
	lastReport := time.Now()
	for s := range out {
		if ctx.Err() != nil {
			continue // drain
		}
		res, err := db.Ingest(s)
		if err == nil && res.Outcome != store.Added {
			err = fmt.Errorf("outcome %s, want added", res.Outcome)
		}
		if err != nil {
			fail(fmt.Errorf("ingest seq %d of %s: %w", s.Seq(), s.Author, err))
			continue
		}
		if s.Entry.GetRetraction() != nil {
			g.retractions++
		} else {
			g.posts++
		}
		if time.Since(lastReport) > 10*time.Second {
			lastReport = time.Now()
			progress("year: %d records stored", g.posts+g.retractions)
		}
	}
	return firstErr
}

// yearHomeLog signs home h's log: perHome posts, the street's posts
// interleaved home by home, each retractEvery-th retracted a minute later.
func yearHomeLog(ctx context.Context, h, homes, perHome, retractEvery int, base time.Time, step time.Duration, out chan<- *record.Signed) error {
	key, id, err := newKey()
	if err != nil {
		return err
	}
	rng := mrand.New(mrand.NewPCG(uint64(h), 17))
	var (
		seq  uint64
		prev []byte
	)
	sign := func(created time.Time, body func(*pb.Entry)) (*record.Signed, error) {
		seq++
		e := &pb.Entry{Author: []byte(id), Seq: seq, Prev: prev, Created: created.UnixMilli(), Neighborhood: yearHood}
		body(e)
		s, err := record.SealAt(e, key, created)
		if err != nil {
			return nil, fmt.Errorf("seal seq %d of home %d: %w", seq, h, err)
		}
		prev = s.ID[:]
		select {
		case out <- s:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		return s, nil
	}
	for i := range perHome {
		created := base.Add(time.Duration(i*homes+h) * step)
		// 80-400 bytes: most posts are a line or two.
		text := postText(fmt.Sprintf("home %d post %d", h, i), 80+rng.IntN(320))
		kind := record.PostKinds[rng.IntN(len(record.PostKinds))]
		s, err := sign(created, func(e *pb.Entry) { e.Body = &pb.Entry_Post{Post: &pb.Post{Kind: kind, Text: text}} })
		if err != nil {
			return err
		}
		if retractEvery > 0 && (i*homes+h)%retractEvery == retractEvery-1 {
			r := &pb.Retraction{TargetSeq: s.Seq(), TargetHash: s.ID[:]}
			if _, err := sign(created.Add(time.Minute), func(e *pb.Entry) { e.Body = &pb.Entry_Retraction{Retraction: r} }); err != nil {
				return err
			}
		}
	}
	return nil
}

// yearAgencyLogs makes the agencies' logs: request k (of agency k mod A)
// at base + k×span/n, then a note at +10 % of that step, a Yield of 1-5
// clips at +20 % and the close at +40 %, so a request is closed before its
// agency's next. Each record is checked and stored as the mesh would.
func yearAgencyLogs(ctx context.Context, db *store.DB, g *yearGen, issuerKey crypto.PrivKey, issuer peer.ID, agencies, n int, base time.Time, span time.Duration, seed uint64) error {
	svc, err := requests.New(requests.Config{Store: db, Trusted: []peer.ID{issuer}})
	if err != nil {
		return err
	}
	type agency struct {
		key  crypto.PrivKey
		id   peer.ID
		cred *record.Doc
		seq  uint64
		prev []byte
	}
	h := reqJurisdictionSide / 2
	jur := requests.Area{Polygon: []geo.Point{reqAt(-h, -h), reqAt(-h, h), reqAt(h, h), reqAt(h, -h)}}
	ags := make([]*agency, agencies)
	for i := range ags {
		a := &agency{}
		if a.key, a.id, err = newKey(); err != nil {
			return err
		}
		if a.cred, err = requests.Certify(issuerKey, a.id, fmt.Sprintf("Agency %d", i+1), jur, base.Add(-24*time.Hour), time.Now().Add(365*24*time.Hour)); err != nil {
			return fmt.Errorf("certify: %w", err)
		}
		if added, err := svc.IngestDoc(a.cred.Raw); err != nil || !added {
			return fmt.Errorf("IngestDoc(credential) = %v, %v; want true, nil", added, err)
		}
		ags[i] = a
		g.agencies = append(g.agencies, a.id)
	}
	rng := mrand.New(mrand.NewPCG(seed, 23))
	step := span / time.Duration(n+1)
	for k := range n {
		if err := ctx.Err(); err != nil {
			return err
		}
		a := ags[k%agencies]
		sign := func(created time.Time, body func(*pb.Entry)) (*record.Signed, error) {
			a.seq++
			e := &pb.Entry{Author: []byte(a.id), Seq: a.seq, Prev: a.prev, Created: created.UnixMilli(), Neighborhood: yearHood}
			body(e)
			s, err := record.SealAt(e, a.key, created)
			if err != nil {
				return nil, fmt.Errorf("seal seq %d of agency %s: %w", a.seq, a.id, err)
			}
			a.prev = s.ID[:]
			if err := checkAndIngest(svc, db, s); err != nil {
				return nil, err
			}
			g.agencyRecs++
			return s, nil
		}
		created := base.Add(time.Duration(k+1) * step)
		to := created.Add(time.Duration(rng.Int64N(int64(time.Hour))))
		from := to.Add(-15*time.Minute - time.Duration(rng.Int64N(int64(11*time.Hour+45*time.Minute))))
		lim := reqJurisdictionSide/2 - reqRadius - 100
		area := requests.Area{Center: reqAt((2*rng.Float64()-1)*lim, (2*rng.Float64()-1)*lim), Radius: reqRadius}
		r := &pb.Request{
			Credential:  a.cred.ID[:],
			CaseNumber:  fmt.Sprintf("C-%d-%06d", created.Year(), k+1),
			Incident:    incidents[k%len(incidents)],
			Description: "Looking for doorbell or porch camera footage of a grey van seen on the block; please share only what you choose to.",
			Contact:     "Det. Ruiz, 217-555-0100",
			Area:        area.ToPB(),
			From:        from.UnixMilli(),
			To:          to.UnixMilli(),
		}
		req, err := sign(created, func(e *pb.Entry) { e.Body = &pb.Entry_Request{Request: r} })
		if err != nil {
			return err
		}
		g.requests++
		note := &pb.RequestUpdate{RequestSeq: req.Seq(), RequestId: req.ID[:], Note: "Thank you to the homes that shared so far."}
		if _, err := sign(created.Add(step/10), func(e *pb.Entry) { e.Body = &pb.Entry_Update{Update: note} }); err != nil {
			return err
		}
		y := &pb.Yield{RequestSeq: req.Seq(), RequestId: req.ID[:]}
		for range 1 + rng.IntN(5) {
			c := make([]byte, 32)
			_, _ = rand.Read(c)
			y.Shares = append(y.Shares, &pb.YieldShare{Commitment: c, Size: uint64(1<<20 + rng.IntN(64<<20)), VideoMs: uint64(10_000 + rng.IntN(110_000))})
		}
		y.NewHomes = uint32(1 + rng.IntN(len(y.Shares)))
		if _, err := sign(created.Add(step/5), func(e *pb.Entry) { e.Body = &pb.Entry_Yield{Yield: y} }); err != nil {
			return err
		}
		cl := &pb.RequestUpdate{RequestSeq: req.Seq(), RequestId: req.ID[:], Closed: true, Note: "Case closed."}
		if _, err := sign(created.Add(2*step/5), func(e *pb.Entry) { e.Body = &pb.Entry_Update{Update: cl} }); err != nil {
			return err
		}
	}
	return nil
}

// duGlob is duBytes of the files matching pattern.
func duGlob(pattern string) (int64, error) {
	files, err := filepath.Glob(pattern)
	if err != nil {
		return 0, err
	}
	var n int64
	for _, f := range files {
		b, err := duBytes(f)
		if err != nil {
			return 0, err
		}
		n += b
	}
	return n, nil
}

// duBytes is the disk space the files under dir take (allocated blocks).
func duBytes(dir string) (int64, error) {
	var n int64
	err := filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			n += st.Blocks * 512
		} else {
			n += fi.Size()
		}
		return nil
	})
	return n, err
}

type yearSizes struct{ sst, vlog, db, all int64 }

// yearNode is what the running binary showed.
type yearNode struct {
	starts                                 []time.Duration
	idle, loaded                           map[string]int64
	peakLoadRSS                            int64
	firstFeed, firstReqs, firstAgencies    time.Duration
	feed50, feed1000, reqs, agencies, stat dist
	reqsAgency                             dist
	loadFeed                               dist
	loadCalls                              int
	feedBytes, reqBytes, agBytes           int
	reqN, agN                              int
	deep                                   *yearDeep
	cpuProfile                             string
	heapProfile                            string
	heapMem                                runtime.MemStats
}

// yearHeap starts the node in this process on the data dir (the API on,
// mDNS off), lets it idle, and writes a heap profile (in use after a GC,
// and everything allocated since this process started: start-up included).
func yearHeap(e *env, data string) (string, runtime.MemStats, error) {
	var ms runtime.MemStats
	runtime.GC()
	before := filepath.Join(e.p.cpuProfileDir, "year-node-heap-before.pprof")
	if err := writeHeap(before); err != nil {
		return "", ms, err
	}
	progress("year: node.Start in this process for a heap profile, idle %s", e.p.idle)
	n, err := node.Start(node.Options{Dir: data, DisableMDNS: true, Logger: e.log, API: "127.0.0.1:0", Listen: []string{"/ip4/127.0.0.1/tcp/0"}})
	if err != nil {
		return "", ms, err
	}
	defer n.Close()
	time.Sleep(e.p.idle)
	runtime.GC()
	runtime.ReadMemStats(&ms)
	path := filepath.Join(e.p.cpuProfileDir, "year-node-heap.pprof")
	return path, ms, writeHeap(path)
}

func writeHeap(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		return err
	}
	return f.Close()
}

// yearMeasureNode starts the binary on the data dir -year-starts times,
// then measures the last run.
func yearMeasureNode(ctx context.Context, e *env, data string, g *yearGen) (*yearNode, error) {
	m := &yearNode{}
	var c *child
	for i := range max(1, *yearStarts) {
		last := i == max(1, *yearStarts)-1
		if last && e.p.cpuProfileDir != "" {
			m.cpuProfile = filepath.Join(e.p.cpuProfileDir, "year-node.pprof")
			os.Setenv("PORCHLIGHT_CPUPROFILE", m.cpuProfile)
		}
		progress("year: porchlight run on the data dir (start %d)", i+1)
		var err error
		c, err = startChild(e.p.bin, data, nil)
		os.Unsetenv("PORCHLIGHT_CPUPROFILE")
		if err != nil {
			return nil, err
		}
		d, err := c.waitStatus(ctx, 60*time.Second)
		if err != nil {
			c.stop()
			return nil, err
		}
		m.starts = append(m.starts, d)
		if !last {
			if err := c.stop(); err != nil {
				return nil, fmt.Errorf("stop node: %w", err)
			}
		}
	}
	defer c.stop()
	cl, err := newAPIClient(data)
	if err != nil {
		return nil, err
	}
	pid := c.cmd.Process.Pid

	// The first call of each listing after start (cold).
	body, d, err := cl.get(ctx, "/api/v1/feed?limit=50")
	if err != nil {
		return nil, err
	}
	m.firstFeed = d
	var posts []api.PostJSON
	want := min(50, g.posts)
	if g.posts < 0 { // a kept data dir: a year of posts
		want = 50
	}
	if err := json.Unmarshal(body, &posts); err != nil || len(posts) != want {
		return nil, fmt.Errorf("first feed page: %d posts, %v; want %d", len(posts), err, want)
	}
	if _, m.firstReqs, err = cl.get(ctx, "/api/v1/requests"); err != nil {
		return nil, err
	}
	if body, m.firstAgencies, err = cl.get(ctx, "/api/v1/agencies"); err != nil {
		return nil, err
	}
	if len(g.agencies) == 0 { // a kept data dir
		var ags []api.AgencyJSON
		if err := json.Unmarshal(body, &ags); err != nil || len(ags) == 0 {
			return nil, fmt.Errorf("agencies: %d, %v; want some", len(ags), err)
		}
		a, err := peer.Decode(ags[0].PeerID)
		if err != nil {
			return nil, err
		}
		g.agencies = append(g.agencies, a)
	}

	progress("year: idle %s", e.p.idle)
	time.Sleep(e.p.idle)
	if m.idle, err = readProcStatus(pid); err != nil {
		return nil, err
	}

	progress("year: %d × each of feed (50), feed (1000), requests, requests?agency, agencies, status", *yearGets)
	paths := []string{"/api/v1/feed?limit=50", "/api/v1/feed?limit=1000", "/api/v1/requests", "/api/v1/requests?agency=" + g.agencies[0].String(), "/api/v1/agencies", "/api/v1/status"}
	times := make([][]time.Duration, len(paths))
	sizes := make([]int, len(paths))
	for i := range *yearGets {
		for k := range paths {
			j := (i + k) % len(paths) // rotate the order
			body, d, err := cl.get(ctx, paths[j])
			if err != nil {
				return nil, err
			}
			times[j], sizes[j] = append(times[j], d), len(body)
		}
	}
	m.feed50, m.feed1000, m.reqs, m.reqsAgency, m.agencies, m.stat = summarize(times[0]), summarize(times[1]), summarize(times[2]), summarize(times[3]), summarize(times[4]), summarize(times[5])
	m.feedBytes, m.reqBytes, m.agBytes = sizes[0], sizes[2], sizes[4]
	{
		var reqs []api.RequestJSON
		b, _, err := cl.get(ctx, "/api/v1/requests?limit=10000")
		if err != nil {
			return nil, err
		}
		if err := json.Unmarshal(b, &reqs); err != nil {
			return nil, err
		}
		m.reqN = len(reqs)
		var ags []api.AgencyJSON
		b, _, err = cl.get(ctx, "/api/v1/agencies")
		if err != nil {
			return nil, err
		}
		if err := json.Unmarshal(b, &ags); err != nil {
			return nil, err
		}
		m.agN = len(ags)
	}

	progress("year: %d clients scrolling the feed (limits 50, 200, 1000 in turn) for %s", *yearScroll, *yearLoad)
	lctx, cancel := context.WithTimeout(ctx, *yearLoad)
	defer cancel()
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		lerr  error
		lds   []time.Duration
		limit = []int{50, 200, 1000}
	)
	for w := range *yearScroll {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cw, err := newAPIClient(data)
			if err != nil {
				mu.Lock()
				lerr = err
				mu.Unlock()
				return
			}
			for i := w; lctx.Err() == nil; i++ {
				_, d, err := cw.get(lctx, fmt.Sprintf("/api/v1/feed?limit=%d", limit[i%len(limit)]))
				if lctx.Err() != nil {
					return
				}
				mu.Lock()
				if err != nil {
					lerr = err
				} else if limit[i%len(limit)] == 50 {
					lds = append(lds, d)
				}
				m.loadCalls++
				mu.Unlock()
				if err != nil {
					return
				}
			}
		}()
	}
	tick := time.NewTicker(200 * time.Millisecond)
	for lctx.Err() == nil {
		select {
		case <-tick.C:
			if st, err := readProcStatus(pid); err == nil && st["VmRSS"] > m.peakLoadRSS {
				m.peakLoadRSS = st["VmRSS"]
			}
		case <-lctx.Done():
		}
	}
	tick.Stop()
	wg.Wait()
	if lerr != nil {
		return nil, fmt.Errorf("load: %w", lerr)
	}
	m.loadFeed = summarize(lds)
	if m.loaded, err = readProcStatus(pid); err != nil {
		return nil, err
	}
	if m.deep, err = yearDeepPages(ctx, data); err != nil {
		return nil, err
	}
	if err := c.stop(); err != nil {
		return nil, fmt.Errorf("stop node: %w", err)
	}
	return m, nil
}

// yearDeep is the feed scrolled to its end through the API's cursor.
type yearDeep struct {
	pages, posts int
	all          dist
	byDepth      []depthTime // the page at these depths
	total        time.Duration
	noCursor     bool // the binary's API has no cursor: one page only
}

type depthTime struct {
	depth int
	d     time.Duration
}

// yearDeepPages reads the running node's whole feed through the API, 50
// posts a page, each page from the previous page's next cursor (GET
// /api/v1/feed?limit=50&before=…), one keep-alive client.
func yearDeepPages(ctx context.Context, data string) (*yearDeep, error) {
	cl, err := client.FromDataDir(data)
	if err != nil {
		return nil, err
	}
	progress("year: the whole feed through GET /api/v1/feed?limit=50&before=CURSOR")
	r := &yearDeep{}
	var (
		ds     []time.Duration
		before string
	)
	marks := []int{0, 1000, 10_000, 100_000, 500_000}
	t0 := time.Now()
	for {
		c0 := time.Now()
		page, err := cl.FeedPage(ctx, client.FeedQuery{Limit: 50, Before: before})
		d := time.Since(c0)
		if err != nil {
			return nil, err
		}
		for len(marks) > 0 && r.posts >= marks[0] {
			r.byDepth = append(r.byDepth, depthTime{r.posts, d})
			marks = marks[1:]
		}
		ds = append(ds, d)
		r.pages++
		r.posts += len(page.Posts)
		if page.Next == "" {
			r.noCursor = r.pages == 1 && len(page.Posts) == 50
			break
		}
		before = page.Next
	}
	r.total = time.Since(t0)
	r.all = summarize(ds)
	return r, nil
}

func yearReport(s *section, e *env, g *yearGen, m *yearNode, deep *yearDeep, sz yearSizes, homes, days, perDay int) {
	recs := g.posts + g.retractions + g.agencyRecs
	startMed := summarize(m.starts).median
	generated := g.elapsed > 0
	if generated {
		s.add(row{metric: fmt.Sprintf("generation: %d records sealed and stored (store.DB.Ingest, one transaction each)", recs),
			result: fmt.Sprintf("%.0f records/s (%.0f s)", float64(recs)/g.elapsed.Seconds(), g.elapsed.Seconds())})
		s.add(row{metric: "disk used by the data dir (allocated blocks)", result: fmt.Sprintf("%.1f MiB", float64(sz.all)/(1<<20))})
	}
	s.add(row{metric: fmt.Sprintf("start of `porchlight run` until status answers, median of %d", len(m.starts)), result: ms(startMed),
		target: "≤ 2 s", met: met(startMed <= 2*time.Second)})
	s.add(row{metric: "VmRSS idle", result: mib(m.idle["VmRSS"]), target: "≤ 64 MiB", met: met(m.idle["VmRSS"] <= 64<<10)})
	s.add(row{metric: fmt.Sprintf("VmRSS peak while %d clients scroll the feed", *yearScroll), result: mib(m.peakLoadRSS)})
	s.add(row{metric: "GET /api/v1/feed?limit=50, p99 (idle)", result: ms(m.feed50.p99), baseline: ms(m.stat.p99), ratio: ratio(float64(m.feed50.p99), float64(m.stat.p99)),
		target: "≤ 10 ms", met: met(m.feed50.p99 <= 10*time.Millisecond)})
	s.add(row{metric: "GET /api/v1/feed?limit=1000, p99", result: ms(m.feed1000.p99), target: "≤ 10 ms", met: met(m.feed1000.p99 <= 10*time.Millisecond)})
	if deep.noCursor {
		s.add(row{metric: "GET /api/v1/feed?limit=50&before=CURSOR over the whole feed", result: "no cursor in this binary's API"})
	} else {
		s.add(row{metric: "GET /api/v1/feed?limit=50&before=CURSOR over the whole feed, p99 per page", result: ms(deep.all.p99), target: "≤ 10 ms", met: met(deep.all.p99 <= 10*time.Millisecond)})
	}
	s.add(row{metric: "GET /api/v1/feed?limit=50 under the scrolling load, p99", result: ms(m.loadFeed.p99)})
	s.add(row{metric: "GET /api/v1/requests (limit 100), p99", result: ms(m.reqs.p99), baseline: ms(m.stat.p99), ratio: ratio(float64(m.reqs.p99), float64(m.stat.p99)),
		target: "≤ 10 ms", met: met(m.reqs.p99 <= 10*time.Millisecond)})
	s.add(row{metric: "GET /api/v1/agencies, p99", result: ms(m.agencies.p99), baseline: ms(m.stat.p99), ratio: ratio(float64(m.agencies.p99), float64(m.stat.p99)),
		target: "≤ 10 ms", met: met(m.agencies.p99 <= 10*time.Millisecond)})

	if generated {
		s.printf("**History.** %d homes × %d posts a day × %d days (%.0f days of created times, ending now): %d posts and %d retractions (one post in %d, retracted a minute later; the store purges the post's content and keeps its hash). "+
			"%d agencies certified by one issuer the node trusts (`porchlight init --neighborhood %s --trust-issuer ISSUER`), %d requests in all, each followed by a note, a Yield of 1-5 clips and a close: %d agency records. "+
			"Posts are 80-400 bytes of text. Every record is sealed with `record.SealAt` at its created time; the homes' logs are signed on %d goroutines (one home's log by one goroutine, in order) and stored by `store.DB.Ingest` on one, as they come "+
			"(the store has no batch ingest: one Badger transaction per record); the agencies' records go through `(*requests.Service).CheckEntry` first. "+
			"Posts: %.1f s (%.0f records/s, signing included, %d-core machine shared with other sessions); agencies: %.1f s. No profile records (homes show as their peer IDs).\n\n",
			homes, perDay, days, g.span.Hours()/24, g.posts, g.retractions, *yearRetract, len(g.agencies), yearHood, g.requests, g.agencyRecs,
			runtime.NumCPU(), g.postsElapsed.Seconds(), float64(g.posts+g.retractions)/g.postsElapsed.Seconds(), runtime.NumCPU(), g.agencyElapsed.Seconds())
		s.printf("**Disk.** Data dir %.1f MiB (Badger dir %.1f MiB; after close: tables (*.sst) %.1f MiB, value log (*.vlog) %.1f MiB), i.e. %.0f bytes per stored record, %.1f MiB per home-year at this rate.\n\n",
			float64(sz.all)/(1<<20), float64(sz.db)/(1<<20), float64(sz.sst)/(1<<20), float64(sz.vlog)/(1<<20),
			float64(sz.all)/float64(recs), float64(sz.all)/(1<<20)/float64(homes)/(float64(days)/365))
	}
	s.printf("**The binary.** `porchlight --data D run --no-mdns --api 127.0.0.1:0 --listen /ip4/127.0.0.1/tcp/0`, started %d times on the data dir (page cache warm: the bench just wrote it); start = exec until `porchlight status --json` answers (polled every 50 ms, each poll an exec): ", len(m.starts))
	for i, d := range m.starts {
		if i > 0 {
			s.printf(", ")
		}
		s.printf("%s", ms(d))
	}
	s.printf(". On the last run: first calls after start (cold) feed?limit=50 %s, requests %s, agencies %s; then %s idle; then %d rounds of six calls in rotating order, one client, keep-alive, calls one at a time:\n\n",
		ms(m.firstFeed), ms(m.firstReqs), ms(m.firstAgencies), e.p.idle, *yearGets)
	distTable(&s.body, []string{"feed?limit=50", "feed?limit=1000", "requests (limit 100)", "requests?agency=A", "agencies", "status"},
		[]dist{m.feed50, m.feed1000, m.reqs, m.reqsAgency, m.agencies, m.stat})
	s.printf("Bodies: feed 50 posts %d bytes; requests (100 of %d) %d bytes; agencies (%d) %d bytes.\n\n", m.feedBytes, m.reqN, m.reqBytes, m.agN, m.agBytes)
	s.printf("**Scrolling load.** %d clients, each its own keep-alive connection, GET feed with limit 50, 200, 1000 in turn as fast as answered, for %s: %d calls (%.0f/s); limit-50 calls: median %s, p99 %s. VmRSS sampled every 200 ms.\n\n",
		*yearScroll, *yearLoad, m.loadCalls, float64(m.loadCalls)/yearLoad.Seconds(), ms(m.loadFeed.median), ms(m.loadFeed.p99))
	s.printf("| | idle | after the load |\n|---|---:|---:|\n")
	for _, k := range []string{"VmRSS", "RssAnon", "RssFile", "VmHWM"} {
		s.printf("| %s | %s | %s |\n", k, mib(m.idle[k]), mib(m.loaded[k]))
	}
	s.printf("| VmRSS peak during the load | – | %s |\n\n", mib(m.peakLoadRSS))
	if deep.noCursor {
		s.printf("**Deep pages.** This binary's API has no cursor (GET /api/v1/feed takes only `limit`, ≤ 1000): not measured.\n\n")
	} else {
		s.printf("**Deep pages.** With the node still running, the bench read the whole feed through the API, 50 posts a page, each page from the previous page's next cursor (`GET /api/v1/feed?limit=50&before=CURSOR`, one keep-alive client): %d pages, %d posts, %.1f s; per page median %s, p99 %s, max %s. Page at depth: ",
			deep.pages, deep.posts, deep.total.Seconds(), ms(deep.all.median), ms(deep.all.p99), ms(deep.all.max))
		for i, d := range deep.byDepth {
			if i > 0 {
				s.printf(", ")
			}
			s.printf("%d: %s", d.depth, ms(d.d))
		}
		s.printf(".\n\n")
	}
	if m.cpuProfile != "" {
		s.printf("CPU profile of the last run of the node (start to stop): `%s` (`go tool pprof -top %s`).\n\n", m.cpuProfile, m.cpuProfile)
	}
	if m.heapProfile != "" {
		s.printf("Heap of the same node started in the bench's process (`node.Start`, idle %s, then a GC): heap in use %s, Go runtime total (Sys) %s; profile `%s` (`go tool pprof -sample_index=inuse_space -top` / `-sample_index=alloc_space -base year-node-heap-before.pprof` for what the start and the idle time allocated).\n\n",
			e.p.idle, mib(int64(m.heapMem.HeapInuse>>10)), mib(int64(m.heapMem.Sys>>10)), m.heapProfile)
	}
}
