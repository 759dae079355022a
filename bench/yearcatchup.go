package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/porchlight-mesh/porchlight/api"
	"github.com/porchlight-mesh/porchlight/mesh"
	"github.com/porchlight-mesh/porchlight/node"
	"github.com/porchlight-mesh/porchlight/store"
)

// -run yearcatchup (issue 17 section 2): how long a new home takes to
// catch up on the LAN with a year of a busy street. The history is the
// year bench's (bench/year.go's generator, or a data dir it kept with
// -year-keep); its node runs as the real binary, and each newcomer is a
// node.Start in this process (so -cpuprofile profiles it), a fresh data dir
// joining it over loopback TCP with one of -yearcatchup-horizons.
var (
	ycHorizons = flag.String("yearcatchup-horizons", "forever,365d", "yearcatchup: the newcomers' horizons, run in turn against the same node (forever: sync every record from seq 1, as before the horizon)")
	ycTimeout  = flag.Duration("yearcatchup-timeout", 10*time.Minute, "yearcatchup: give up on a newcomer after this long")
	ycSource   = flag.String("yearcatchup-source-horizon", "forever", "yearcatchup: the horizon the history's node runs with (forever: it prunes nothing, so every newcomer sees the same logs)")
	ycPrune    = flag.String("yearcatchup-prune", "", "yearcatchup: after the newcomers, copy the history's database, prune its feed posts older than this horizon (e.g. 180d), compact it, and report the time and the disk before and after")
)

func init() {
	optIn["yearcatchup"] = true
	benchmarks = append(benchmarks, struct {
		name    string
		prepare func(*env) error
		run     func(context.Context, *env) (*section, error)
	}{"yearcatchup", needBinary, runYearCatchup})
}

// ycAuthor is what the history's node holds of one log.
type ycAuthor struct {
	contig uint64
	agency bool
}

// ycMilestones are the times from the newcomer's start.
type ycMilestones struct {
	horizon                                         string
	neighbor, agencies, window, inHorizon, all      time.Duration
	held                                            uint64 // records and stubs held at the end
	rounds                                          float64
	timedOut                                        bool
	loadStart, loadEnd                              string
	diskMiB                                         float64
	end                                             time.Duration
	authorsWindow, authorsHorizon, authorsAll, logs int
}

func runYearCatchup(ctx context.Context, e *env) (*section, error) {
	data, err := ycHistory(ctx, e)
	if err != nil {
		return nil, err
	}
	settings, err := node.LoadConfig(data)
	if err != nil {
		return nil, err
	}
	if len(settings.Issuers) == 0 {
		return nil, fmt.Errorf("%s trusts no issuer: not a year bench data dir", data)
	}
	horizons := strings.Split(*ycHorizons, ",")
	for _, h := range horizons {
		if _, err := node.ParseHorizon(h); err != nil {
			return nil, err
		}
	}

	// What the history holds, read before its node starts.
	progress("yearcatchup: reading the history's heads")
	db, err := store.Open(store.Config{Dir: filepath.Join(data, node.DBDir), Neighborhood: settings.Neighborhood, Logger: e.log})
	if err != nil {
		return nil, err
	}
	heads, err := db.Heads()
	if err != nil {
		db.Close()
		return nil, err
	}
	authors := map[peer.ID]*ycAuthor{}
	var total uint64
	for _, h := range heads {
		a := &ycAuthor{contig: h.Contig}
		total += h.Contig
		authors[h.Author] = a
	}
	if err := db.Close(); err != nil {
		return nil, err
	}

	env := []string(nil)
	if e.p.cpuProfileDir != "" {
		env = append(env, "PORCHLIGHT_CPUPROFILE="+filepath.Join(e.p.cpuProfileDir, "yearcatchup-source.pprof"))
	}
	progress("yearcatchup: the history's node starts (horizon %s)", *ycSource)
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		os.Setenv(k, v)
	}
	src, err := startChild(e.p.bin, data, []string{"--horizon", *ycSource})
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		os.Unsetenv(k)
	}
	if err != nil {
		return nil, err
	}
	defer src.stop()
	if _, err := src.waitStatus(ctx, 2*time.Minute); err != nil {
		return nil, err
	}
	cl, err := newAPIClient(data)
	if err != nil {
		return nil, err
	}
	body, _, err := cl.get(ctx, "/api/v1/status")
	if err != nil {
		return nil, err
	}
	var st api.Status
	if err := json.Unmarshal(body, &st); err != nil {
		return nil, err
	}
	var srcAddr string
	for _, a := range st.Addrs {
		if strings.Contains(a, "/127.0.0.1/tcp/") {
			srcAddr = a
		}
	}
	if srcAddr == "" {
		return nil, fmt.Errorf("the history's node listens on no loopback TCP address: %v", st.Addrs)
	}
	if !strings.Contains(srcAddr, "/p2p/") {
		srcAddr += "/p2p/" + st.PeerID
	}
	srcID, err := peer.Decode(st.PeerID)
	if err != nil {
		return nil, err
	}
	if body, _, err = cl.get(ctx, "/api/v1/agencies"); err != nil {
		return nil, err
	}
	var ags []api.AgencyJSON
	if err := json.Unmarshal(body, &ags); err != nil {
		return nil, err
	}
	var agencies []peer.ID
	for _, ag := range ags {
		id, err := peer.Decode(ag.PeerID)
		if err != nil {
			return nil, err
		}
		agencies = append(agencies, id)
		if a := authors[id]; a != nil {
			a.agency = true
		}
	}

	var runs []ycMilestones
	for _, h := range horizons {
		r, err := ycNewcomer(ctx, e, settings, srcAddr, srcID, h, authors, agencies)
		if err != nil {
			return nil, fmt.Errorf("newcomer with horizon %s: %w", h, err)
		}
		runs = append(runs, r)
	}
	if err := src.stop(); err != nil {
		return nil, fmt.Errorf("stop the history's node: %w", err)
	}

	var pr *ycPruned
	if *ycPrune != "" {
		keep := map[peer.ID]bool{}
		for _, a := range agencies {
			keep[a] = true
		}
		if pr, err = ycPruneCopy(e, data, settings.Neighborhood, *ycPrune, keep); err != nil {
			return nil, err
		}
	}

	s := &section{title: "A new home catches up with a year of a busy street"}
	s.printf("History: %s (%d logs, %d records at their heads, %d agencies). Its node: `porchlight run --horizon %s` (the real binary). ",
		data, len(authors), total, len(agencies), *ycSource)
	s.printf("Each newcomer: `porchlight init` with the same neighborhood and issuer, then `node.Start` in the bench's process with the history's node as its one static peer (TCP on 127.0.0.1, no mDNS), and `Horizon` as named. ")
	s.printf("Times are from `node.Start` until the newcomer's store (polled every 100 ms) holds: its first neighbor; every agency's credential and whole log; the newest week of every feed log (its head, down to the newest record created more than 7 days ago); its horizon of every feed log; every record from seq 1.\n\n")
	s.printf("| newcomer horizon | first neighbor | agency logs + issuer docs | newest week of feed | horizon of feed | everything | slots held at end (contiguous) | sync rounds (client, ok) | newcomer's data dir | load avg start → end |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---|\n")
	for _, r := range runs {
		d := func(t time.Duration) string {
			if t == 0 {
				if r.timedOut {
					return fmt.Sprintf("> %.0f s", r.end.Seconds())
				}
				return "–"
			}
			return fmt.Sprintf("%.2f s", t.Seconds())
		}
		s.printf("| %s | %s | %s | %s | %s | %s | %d | %.0f | %.1f MiB | %s → %s |\n",
			r.horizon, d(r.neighbor), d(r.agencies), d(r.window), d(r.inHorizon), d(r.all), r.held, r.rounds, r.diskMiB, r.loadStart, r.loadEnd)
	}
	s.printf("\n")
	if pr != nil {
		s.printf("Pruning a copy of the history's database to a horizon of %s (`store.DB.PruneBefore` in batches of 1,000, agencies' logs kept), then `badger.DB.Flatten` and value-log GC: %d posts purged in %.1f s (%.0f posts/s, %d batches, longest %.0f ms); disk %.1f MiB before (after the same compaction without pruning: %.1f MiB), %.1f MiB after. Load average %s → %s.\n\n",
			*ycPrune, pr.purged, pr.took.Seconds(), float64(pr.purged)/pr.took.Seconds(), pr.batches, float64(pr.longest)/float64(time.Millisecond), pr.before, pr.compacted, pr.after, pr.loadStart, pr.loadEnd)
	}
	return s, nil
}

// ycPruned is what pruning a copy of the history measured.
type ycPruned struct {
	purged, batches          int
	took, longest            time.Duration
	before, compacted, after float64 // MiB
	loadStart, loadEnd       string
}

// ycPruneCopy copies the history's database, compacts it (the baseline
// size), prunes it to horizon and compacts it again.
func ycPruneCopy(e *env, data, hood, horizon string, keep map[peer.ID]bool) (*ycPruned, error) {
	p := &ycPruned{loadStart: loadAvg()}
	period, err := node.ParseHorizon(horizon)
	if err != nil || period < 0 {
		return nil, fmt.Errorf("-yearcatchup-prune %q: want a horizon such as 180d", horizon)
	}
	dir := filepath.Join(e.tmp, "pruned-db")
	progress("yearcatchup: copying the history's database to prune it")
	if out, err := exec.Command("cp", "-a", filepath.Join(data, node.DBDir), dir).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("cp: %w\n%s", err, out)
	}
	mib := func() float64 { b, _ := duBytes(dir); return float64(b) / (1 << 20) }
	p.before = mib()
	if err := ycCompact(e, dir); err != nil {
		return nil, err
	}
	p.compacted = mib()
	db, err := store.Open(store.Config{Dir: dir, Neighborhood: hood, Logger: e.log})
	if err != nil {
		return nil, err
	}
	cutoff := time.Now().Add(-period).UnixMilli()
	progress("yearcatchup: pruning to %s", horizon)
	start := time.Now()
	for {
		t := time.Now()
		n, more, err := db.PruneBefore(cutoff, func(a peer.ID) bool { return keep[a] }, 1000)
		if err != nil {
			db.Close()
			return nil, err
		}
		p.purged, p.batches = p.purged+n, p.batches+1
		p.longest = max(p.longest, time.Since(t))
		if !more {
			break
		}
	}
	p.took = time.Since(start)
	if err := db.Close(); err != nil {
		return nil, err
	}
	if err := ycCompact(e, dir); err != nil {
		return nil, err
	}
	p.after = mib()
	p.loadEnd = loadAvg()
	return p, nil
}

// ycCompact flattens a Badger directory's LSM and collects its value log,
// so its size on disk is what it holds, not what it has been.
func ycCompact(e *env, dir string) error {
	bdb, err := badger.Open(badger.DefaultOptions(dir).WithLogger(nil).WithNumCompactors(2))
	if err != nil {
		return err
	}
	if err := bdb.Flatten(2); err != nil {
		bdb.Close()
		return err
	}
	for bdb.RunValueLogGC(0.5) == nil {
	}
	return bdb.Close()
}

// ycHistory returns the year's data dir: -year-keep's when it exists,
// else one generated as the year bench does (into -year-keep if set).
func ycHistory(ctx context.Context, e *env) (string, error) {
	data := filepath.Join(e.tmp, "year-data")
	if *yearKeep != "" {
		data = *yearKeep
		if _, err := os.Stat(filepath.Join(data, node.DBDir)); err == nil {
			progress("yearcatchup: reusing the history in %s", data)
			return data, nil
		}
	}
	homes, days, perDay := *yearHomes, *yearDays, *yearPerDay
	if homes < 1 || days < 1 || perDay < 1 || *yearAgencies < 1 {
		return "", errors.New("-year-homes, -year-days, -year-per-day and -year-agencies must be at least 1")
	}
	nreq := *yearRequests
	if nreq < 0 {
		nreq = max(1, 2000*days/365)
	}
	issuerKey, issuer, err := newKey()
	if err != nil {
		return "", err
	}
	if out, err := exec.Command(e.p.bin, "--data", data, "init", "--neighborhood", yearHood, "--trust-issuer", issuer.String(),
		"--api", "127.0.0.1:0", "--listen", "/ip4/127.0.0.1/tcp/0").CombinedOutput(); err != nil {
		return "", fmt.Errorf("porchlight init: %w\n%s", err, out)
	}
	db, err := store.Open(store.Config{Dir: filepath.Join(data, node.DBDir), Neighborhood: yearHood, Logger: e.log})
	if err != nil {
		return "", err
	}
	defer db.Close()
	span := time.Duration(days) * 24 * time.Hour
	base := time.Now().Add(-span).Truncate(time.Minute)
	g := &yearGen{span: span}
	progress("yearcatchup: generating %d homes × %d posts a day × %d days (%d goroutines sign)", homes, perDay, days, runtime.NumCPU())
	if err := yearPosts(ctx, db, g, homes, days, perDay, *yearRetract, base); err != nil {
		return "", err
	}
	if err := yearAgencyLogs(ctx, db, g, issuerKey, issuer, *yearAgencies, nreq, base, span, e.p.seed); err != nil {
		return "", err
	}
	return data, db.Close()
}

// ycNewcomer runs one newcomer until it holds everything (or its horizon,
// when it has one and everything is not to be had) or -yearcatchup-timeout.
func ycNewcomer(ctx context.Context, e *env, settings node.Settings, srcAddr string, srcID peer.ID, horizon string, authors map[peer.ID]*ycAuthor, agencies []peer.ID) (ycMilestones, error) {
	r := ycMilestones{horizon: horizon, logs: len(authors), loadStart: loadAvg()}
	dir := filepath.Join(e.tmp, "newcomer-"+horizon)
	initArgs := []string{"--data", dir, "init", "--neighborhood", settings.Neighborhood, "--api", "127.0.0.1:0", "--listen", "/ip4/127.0.0.1/tcp/0"}
	for _, is := range settings.Issuers {
		initArgs = append(initArgs, "--trust-issuer", is.String())
	}
	if out, err := exec.Command(e.p.bin, initArgs...).CombinedOutput(); err != nil {
		return r, fmt.Errorf("porchlight init: %w\n%s", err, out)
	}
	if err := e.profilePhase("yearcatchup-" + horizon); err != nil {
		return r, err
	}
	progress("yearcatchup: newcomer with horizon %s joins", horizon)
	start := time.Now()
	n, err := node.Start(node.Options{Dir: dir, Peers: []string{srcAddr}, Listen: []string{"/ip4/127.0.0.1/tcp/0"}, API: "off", DisableMDNS: true, Horizon: horizon, Logger: e.log})
	if err != nil {
		return r, err
	}
	defer n.Close()
	db := n.Store()
	windowMs := start.Add(-mesh.NewcomerWindow).UnixMilli()
	var horizonMs int64
	if p, _ := node.ParseHorizon(horizon); p > 0 {
		horizonMs = start.Add(-p).UnixMilli()
	}
	deadline := start.Add(*ycTimeout)
	lastLog := start
	for {
		now := time.Since(start)
		if r.neighbor == 0 && n.Mesh().IsNeighbor(srcID) {
			r.neighbor = now
		}
		heads, err := db.Heads()
		if err != nil {
			return r, err
		}
		got := make(map[peer.ID]store.Head, len(heads))
		for _, h := range heads {
			got[h.Author] = h
		}
		agOK := true
		for _, a := range agencies {
			if !n.Requests().IsAgency(a) || got[a].Contig < authors[a].contig {
				agOK = false
			}
		}
		win, hor, all := 0, 0, 0
		for id, a := range authors {
			h, ok := got[id]
			if !ok || h.Contig < a.contig {
				continue
			}
			if h.Floor == 0 {
				win, hor, all = win+1, hor+1, all+1
				continue
			}
			// Held from a record created before the newcomer's window
			// (horizon) up to the history's head, with no hole: Contig
			// counts from the floor.
			if h.BackfillDone(windowMs) {
				win++
			}
			if horizonMs > 0 && h.BackfillDone(horizonMs) {
				hor++
			}
		}
		r.authorsWindow, r.authorsHorizon, r.authorsAll = win, hor, all
		if r.agencies == 0 && agOK {
			r.agencies = now
		}
		if r.window == 0 && win == len(authors) {
			r.window = now
		}
		if r.inHorizon == 0 && hor == len(authors) {
			r.inHorizon = now
		}
		if r.all == 0 && all == len(authors) {
			r.all = now
		}
		if time.Since(lastLog) > 10*time.Second {
			lastLog = time.Now()
			progress("yearcatchup: %s at %.0f s: logs with the week %d, the horizon %d, everything %d of %d", horizon, now.Seconds(), win, hor, all, len(authors))
		}
		if r.all != 0 || r.inHorizon != 0 && settingsHorizonEnds(horizon) {
			break
		}
		if time.Now().After(deadline) {
			r.timedOut = true
			break
		}
		select {
		case <-ctx.Done():
			return r, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	r.end = time.Since(start)
	r.loadEnd = loadAvg()
	for _, h := range mustHeads(db) {
		switch {
		case h.Floor == 0:
			r.held += h.Contig
		case h.Contig >= h.Floor:
			r.held += h.Contig - h.Floor + 1
		}
	}
	r.rounds = n.Mesh().SyncRounds("client", "ok")
	if err := e.profilePhase("yearcatchup-rest"); err != nil {
		return r, err
	}
	if err := n.Close(); err != nil {
		return r, err
	}
	if b, err := duBytes(dir); err == nil {
		r.diskMiB = float64(b) / (1 << 20)
	}
	progress("yearcatchup: %s: week %.1f s, horizon %.1f s, everything %.1f s", horizon, r.window.Seconds(), r.inHorizon.Seconds(), r.all.Seconds())
	return r, nil
}

// settingsHorizonEnds: a newcomer with a horizon is done at it (it never
// fetches what is older); one without runs until everything.
func settingsHorizonEnds(h string) bool { return h != "forever" }

func mustHeads(db *store.DB) []store.Head {
	h, _ := db.Heads()
	return h
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
