// Command bench measures Porchlight against its performance targets and
// prints a Markdown report (docs/benchmarks.md is a copy of one).
//
// Baselines run in the same process and alternate with Porchlight, message
// by message (propagation) or in 20 ms turns (validation), so that both see
// the same machine (one message or turn at a time; the idle side's nodes
// stay up):
//
//	propagation  20 in-process mesh nodes on 127.0.0.1, sparse random
//	             topology; Post() until OnRecord has fired on every other
//	             node. Baseline: bare gossipsub on the same topology.
//	catchup      a fresh node syncs 10,000 posts of 50 authors from a peer.
//	validation   record.Open on one core. Floor: crypto/ed25519.Verify.
//	memory       RSS of the real binary, idle and after ingesting the
//	             10,000 posts from a peer.
//	requests     (*requests.Service).CheckEntry on valid requests over an
//	             agency's long log, with record.Open; floor: Ed25519
//	             verify. Then GET /api/v1/requests?agency=ID of the real
//	             binary with 10,000 requests stored. Baseline: GET
//	             /api/v1/status on the same node.
//	handshake    two fresh meshes per turn on 127.0.0.1: Connect until
//	             both sides' IsNeighbor, for a member whose proof is its
//	             admission chain (3 invites from the founder). Baseline:
//	             the same in an open neighborhood (no proof). Alternating.
//	api          (only with -run api) GET /api/v1/feed?limit=50 with
//	             100,000 posts stored; baselines: the same read without
//	             HTTP, and GET /api/v1/status. The web UI's first page in
//	             headless Chromium; see bench/api.go.
//	clips        (only with -run clips) a 256 MiB clip over
//	             /porchlight/clip/1 vs HTTPS, and importing 1 GiB vs a
//	             file copy; see bench/clips.go.
//
// Usage:
//
//	go run ./bench                       # everything, default sizes
//	go run ./bench -run propagation -posts 50
//	go run ./bench -run requests -requests 2000 -gets 100
//	go run ./bench -cpuprofile /tmp/prof # one CPU profile per benchmark
//	go tool pprof -tags /tmp/prof/propagation-messages.pprof
//
// Progress goes to stderr, the report (Markdown) to stdout. Each section
// ends with the CPU used meanwhile by the bench and by other processes: on
// a shared 2-core machine the latter move the results a lot.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strings"
	"time"
)

// params are the benchmark sizes, from flags.
type params struct {
	nodes, degree, posts, warmup int
	settle                       time.Duration
	postTimeout                  time.Duration
	gap                          time.Duration
	authors, perAuthor           int
	textLen                      int
	validateTime                 time.Duration
	idle                         time.Duration
	seed                         uint64
	bin                          string
	reqCount, reqChecked         int
	reqGets, reqGetsAll          int
	reqListCalls                 int
	cpuProfileDir                string
	samplesFile                  string
	verbose                      bool
	apiPosts, apiGets, apiWarmup int
	uiLoads                      int
	handshakes                   int
}

// benchmarks run in this order. prepare (optional) builds fixtures outside
// the timed and profiled part.
var benchmarks = []struct {
	name    string
	prepare func(*env) error
	run     func(context.Context, *env) (*section, error)
}{
	{"validation", needDataset, runValidation},
	{"propagation", nil, runPropagation},
	{"catchup", needSource, runCatchup},
	{"memory", needSourceAndBinary, runMemory},
	{"requests", needBinary, runRequests},
	{"handshake", nil, runHandshake},
	{"clips", nil, runClips}, // opt-in (optIn): not part of -run all
	{"api", nil, runAPI},     // opt-in too
}

func needDataset(e *env) error { _, err := e.dataset(); return err }

func needSource(e *env) error { _, err := e.sourceNode(); return err }

func needSourceAndBinary(e *env) error {
	if err := needBinary(e); err != nil {
		return err
	}
	return needSource(e)
}

func needBinary(e *env) error {
	if e.p.bin == "" {
		bin, err := buildBinary(e.tmp)
		if err != nil {
			return err
		}
		e.p.bin = bin
	}
	return nil
}

func main() {
	var p params
	var which, out string
	flag.StringVar(&which, "run", "all", "comma-separated benchmarks: validation, propagation, catchup, memory, requests, handshake (or all), and clips (not in all: moves 256 MiB + 1 GiB through the disk), api (not in all: needs chromium), anchor (not in all: an anchor binary serving 200 simulated homes, two windows of -anchor-window) and year (not in all: a year of a busy street, about 940,000 records, generated then measured; -year-days scales it)")
	flag.IntVar(&p.nodes, "nodes", 20, "propagation: mesh nodes in the process")
	flag.IntVar(&p.degree, "degree", 4, "propagation: random peers each node dials")
	flag.IntVar(&p.posts, "posts", 200, "propagation: measured posts")
	flag.IntVar(&p.warmup, "warmup", 20, "propagation: unmeasured warm-up posts (after -settle)")
	flag.DurationVar(&p.settle, "settle", 3*time.Second, "propagation: wait after connecting, for gossipsub meshes (heartbeat 1 s) and profiles")
	flag.DurationVar(&p.gap, "gap", 0, "propagation: pause before each message, to let the previous one's trailing work (duplicates, gossip) drain")
	flag.DurationVar(&p.postTimeout, "post-timeout", 10*time.Second, "propagation: give up on one post after this long")
	flag.IntVar(&p.authors, "authors", 50, "catchup/memory: authors of the pre-filled store")
	flag.IntVar(&p.perAuthor, "per-author", 200, "catchup/memory: posts per author")
	flag.IntVar(&p.textLen, "text", 200, "post text length in bytes (all benchmarks)")
	flag.DurationVar(&p.validateTime, "validate-time", 2*time.Second, "validation: time each measured function runs in all")
	flag.DurationVar(&p.idle, "idle", 5*time.Second, "memory: idle time before reading the RSS")
	flag.Uint64Var(&p.seed, "seed", 1, "random seed (topology, posting nodes)")
	flag.StringVar(&p.bin, "bin", "", "memory, requests: porchlight binary to run (default: go build ./cmd/porchlight into a temp dir)")
	flag.IntVar(&p.reqCount, "requests", 10000, "requests: requests in the agency's log, each followed by its close")
	flag.IntVar(&p.reqChecked, "checked", 2000, "requests: the last this many requests (and closes) are timed through record.Open, CheckEntry and Ingest")
	flag.IntVar(&p.reqGets, "gets", 500, "requests: timed GET /api/v1/requests?agency=ID (limit 100) and GET /api/v1/status calls")
	flag.IntVar(&p.reqGetsAll, "gets-all", 100, "requests: timed GET /api/v1/requests?agency=ID&limit=(-requests) calls")
	flag.IntVar(&p.reqListCalls, "list-calls", 20, "requests: in-process (*requests.Service).List calls of each limit, before the node starts")
	flag.StringVar(&p.cpuProfileDir, "cpuprofile", "", "write a CPU profile per benchmark into this directory (propagation: setup in propagation.pprof, messages in propagation-messages.pprof, goroutines labelled side=porchlight or side=baseline)")
	flag.StringVar(&p.samplesFile, "samples", "", "propagation: write every measured message to this CSV file")
	flag.IntVar(&p.apiPosts, "api-posts", 100000, "api: posts stored in the node (100 authors)")
	flag.IntVar(&p.apiGets, "api-gets", 2000, "api: timed turns of feed (HTTP), feed (no HTTP), status (HTTP)")
	flag.IntVar(&p.apiWarmup, "api-warmup", 200, "api: unmeasured turns first")
	flag.IntVar(&p.uiLoads, "ui-loads", 20, "api: timed loads of the UI's first page in headless Chromium")
	flag.IntVar(&p.handshakes, "handshakes", 50, "handshake: timed handshakes of each kind (with a membership proof, open)")
	flag.StringVar(&out, "o", "", "also write the report to this file")
	flag.BoolVar(&p.verbose, "v", false, "show the nodes' warnings and errors")
	flag.Parse()

	selected, err := selectBenchmarks(which)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
	if err := run(p, selected, out); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func selectBenchmarks(which string) (map[string]bool, error) {
	sel := map[string]bool{}
	for _, w := range strings.Split(which, ",") {
		w = strings.TrimSpace(w)
		if w == "all" {
			for _, b := range benchmarks {
				sel[b.name] = sel[b.name] || !optIn[b.name]
			}
			continue
		}
		found := false
		for _, b := range benchmarks {
			if b.name == w {
				sel[w], found = true, true
			}
		}
		if !found {
			return nil, fmt.Errorf("-run: unknown benchmark %q (want validation, propagation, catchup, memory, requests, handshake, clips, api, anchor, year or all)", w)
		}
	}
	return sel, nil
}

// env is what the benchmarks share: parameters, a scratch directory, the
// logger handed to nodes, and the signed data set (built once, on demand).
type env struct {
	p       params
	tmp     string
	log     *slog.Logger
	data    *dataset
	source  *sourceNode
	started time.Time
	// stopProfile ends the running benchmark's CPU profile (a no-op without
	// -cpuprofile).
	stopProfile func()
}

// profilePhase ends the benchmark's CPU profile so far and starts one named
// name, so that setup and measurement can be profiled apart.
func (e *env) profilePhase(name string) error {
	e.stopProfile()
	stop, err := startProfile(e.p.cpuProfileDir, name)
	if err != nil {
		e.stopProfile = func() {}
		return err
	}
	e.stopProfile = stop
	return nil
}

// dataset returns the pre-signed posts of -authors x -per-author.
func (e *env) dataset() (*dataset, error) {
	if e.data == nil {
		progress("signing %d posts of %d authors", e.p.authors*e.p.perAuthor, e.p.authors)
		d, err := newDataset(e.p.authors, e.p.perAuthor, e.p.textLen)
		if err != nil {
			return nil, err
		}
		e.data = d
	}
	return e.data, nil
}

// sourceNode returns a running node whose store holds the whole data set.
func (e *env) sourceNode() (*sourceNode, error) {
	if e.source == nil {
		d, err := e.dataset()
		if err != nil {
			return nil, err
		}
		progress("pre-filling a store with %d posts", len(d.recs))
		s, err := startSource(e, d)
		if err != nil {
			return nil, err
		}
		e.source = s
	}
	return e.source, nil
}

func run(p params, selected map[string]bool, out string) error {
	tmp, err := os.MkdirTemp("", "porchlight-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	lvl := slog.LevelError + 1 // quiet: a benchmark failure is reported by the benchmark
	if p.verbose {
		lvl = slog.LevelWarn
	}
	e := &env{
		p:       p,
		tmp:     tmp,
		log:     slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lvl})),
		started: time.Now(),
	}
	defer func() {
		if e.source != nil {
			e.source.close()
		}
	}()
	if p.cpuProfileDir != "" {
		if err := os.MkdirAll(p.cpuProfileDir, 0o755); err != nil {
			return err
		}
	}
	ctx := context.Background()
	var sections []*section
	for _, b := range benchmarks {
		if !selected[b.name] {
			continue
		}
		progress("== %s", b.name)
		if b.prepare != nil {
			if err := b.prepare(e); err != nil {
				return fmt.Errorf("%s: %w", b.name, err)
			}
		}
		if e.stopProfile, err = startProfile(p.cpuProfileDir, b.name); err != nil {
			return err
		}
		t0 := readCPUTimes()
		s, err := b.run(ctx, e)
		e.stopProfile()
		if err != nil {
			return fmt.Errorf("%s: %w", b.name, err)
		}
		load := loadSince(t0)
		s.printf("%s\n\n", load)
		progress("%s", load)
		sections = append(sections, s)
	}
	r := report(e, sections, time.Since(e.started))
	fmt.Print(r)
	if out != "" {
		return os.WriteFile(out, []byte(r), 0o644)
	}
	return nil
}

func startProfile(dir, name string) (stop func(), err error) {
	if dir == "" {
		return func() {}, nil
	}
	f, err := os.Create(filepath.Join(dir, name+".pprof"))
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}

var progressStart = time.Now()

func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "[%6.1fs] %s\n", time.Since(progressStart).Seconds(), fmt.Sprintf(format, args...))
}

// machine describes where the benchmark ran.
func machine() []string {
	lines := []string{
		fmt.Sprintf("Go: %s %s/%s", runtime.Version(), runtime.GOOS, runtime.GOARCH),
		fmt.Sprintf("CPUs: %d (GOMAXPROCS %d)", runtime.NumCPU(), runtime.GOMAXPROCS(0)),
	}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				lines = append(lines, "CPU model: "+strings.TrimSpace(v))
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		l, _, _ := strings.Cut(string(b), "\n")
		lines = append(lines, "Memory: "+strings.Join(strings.Fields(strings.TrimPrefix(l, "MemTotal:")), " "))
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		lines = append(lines, "Kernel: Linux "+strings.TrimSpace(string(b)))
	}
	lines = append(lines, "Temp dir (Badger stores): "+os.TempDir()+fsType(os.TempDir()))
	if c := codeState(); c != "" {
		lines = append(lines, "Code: "+c)
	}
	return lines
}

// codeState names the commit measured and any uncommitted changes outside
// the bench itself.
func codeState() string {
	git := func(args ...string) ([]byte, error) {
		cmd := exec.Command("git", args...)
		// Read only: no index refresh, no lock in a shared working tree.
		cmd.Env = append(os.Environ(), "GIT_OPTIONAL_LOCKS=0")
		return cmd.Output()
	}
	head, err := git("rev-parse", "--short", "HEAD")
	if err != nil {
		return ""
	}
	st, err := git("status", "--porcelain", "--untracked-files=no")
	if err != nil {
		return ""
	}
	var dirty []string
	for _, l := range strings.Split(strings.TrimRight(string(st), "\n"), "\n") {
		if len(l) > 3 && !strings.HasPrefix(l[3:], "bench/") && l[3:] != "docs/benchmarks.md" {
			dirty = append(dirty, l[3:])
		}
	}
	s := "commit " + strings.TrimSpace(string(head))
	if len(dirty) > 0 {
		s += " plus uncommitted changes to " + strings.Join(dirty, ", ")
	}
	return s
}

// fsType names the filesystem holding dir, from /proc/mounts (longest
// matching mount point), since fsync cost depends on it.
func fsType(dir string) string {
	b, err := os.ReadFile("/proc/mounts")
	if err != nil {
		return ""
	}
	abs, _ := filepath.EvalSymlinks(dir)
	best, typ := "", ""
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) < 3 {
			continue
		}
		mp := f[1]
		if (abs == mp || strings.HasPrefix(abs, strings.TrimSuffix(mp, "/")+"/")) && len(mp) > len(best) {
			best, typ = mp, f[2]
		}
	}
	if typ == "" {
		return ""
	}
	return fmt.Sprintf(" (%s on %s)", typ, best)
}
