package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/big"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"

	"github.com/porchlight-mesh/porchlight/clips"
	"github.com/porchlight-mesh/porchlight/record"
	"github.com/porchlight-mesh/porchlight/store"
)

// The clips benchmark moves hundreds of MiB through the disk, so it is not
// part of -run all; select it with -run clips.
var (
	clipMiB    = flag.Int("clip-mib", 256, "clips: size of the transferred clip and of each imported file, in MiB")
	clipFiles  = flag.Int("clip-files", 4, "clips: files imported (each -clip-mib)")
	clipRounds = flag.Int("clip-rounds", 3, "clips: measured rounds of each transfer and of import vs copy (after one unmeasured warm-up transfer of each kind)")
)

// optIn names the benchmarks that -run all leaves out.
var optIn = map[string]bool{"clips": true}

// Clips targets.
const (
	targetFetchRatio  = 0.8
	targetImportRatio = 0.6
	targetPeakRSS     = 128_000_000 // bytes (128 MB), both nodes together
)

func runClips(ctx context.Context, e *env) (*section, error) {
	s := &section{title: "Clips"}
	if *clipMiB < 1 || *clipFiles < 1 || *clipRounds < 1 {
		return nil, errors.New("-clip-mib, -clip-files and -clip-rounds must be at least 1")
	}
	root := filepath.Join(e.tmp, "clips")
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, err
	}
	defer os.RemoveAll(root)
	if err := clipTransfer(ctx, e, s, root); err != nil {
		return nil, err
	}
	if err := clipImport(ctx, e, s, root); err != nil {
		return nil, err
	}
	return s, nil
}

// writeRandomFile writes size pseudo-random (ChaCha8, incompressible)
// bytes to path and fsyncs it.
func writeRandomFile(path string, size int64, seed uint64) error {
	var key [32]byte
	key[0], key[1] = byte(seed), byte(seed>>8)
	src := mrand.NewChaCha8(key)
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	buf := make([]byte, 1<<20)
	for left := size; left > 0; left -= int64(len(buf)) {
		b := buf[:min(int64(len(buf)), left)]
		_, _ = src.Read(b)
		if _, err := f.Write(b); err != nil {
			f.Close()
			return err
		}
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func newClipHost(key crypto.PrivKey) (host.Host, error) {
	return libp2p.New(
		libp2p.Identity(key),
		libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"),
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.DisableMetrics(),
	)
}

// clipDBs are a node's two databases, as node.Start opens them: records
// (for the access log and grants) and clips.
type clipDBs struct {
	records *store.DB
	clips   *clips.DB
}

func (d clipDBs) Close() {
	d.clips.Close()
	d.records.Close()
}

func openClipStore(e *env, dir string, key crypto.PrivKey) (clipDBs, *clips.Store, error) {
	db, err := store.Open(store.Config{Dir: filepath.Join(dir, "db"), Neighborhood: neighborhood, Logger: e.log})
	if err != nil {
		return clipDBs{}, nil, err
	}
	cdb, err := clips.OpenDB(filepath.Join(dir, "clips"), e.log)
	if err != nil {
		db.Close()
		return clipDBs{}, nil, err
	}
	dbs := clipDBs{db, cdb}
	cs, err := clips.New(clips.Config{DB: cdb, Key: key, ChunkSize: 1 << 20, Logger: e.log})
	if err != nil {
		dbs.Close()
		return clipDBs{}, nil, err
	}
	return dbs, cs, nil
}

// countWriter discards what it is given and counts it.
type countWriter struct{ n int64 }

func (w *countWriter) Write(p []byte) (int, error) { w.n += int64(len(p)); return len(p), nil }

// rssStats is the process's memory during one measured call, in KiB.
type rssStats struct {
	before, peak         int64         // VmRSS before; peak VmRSS (VmHWM after a reset, or sampled)
	cpu                  time.Duration // process CPU time (getrusage) during the call
	peakAnon, peakFile   int64         // sampled maxima of RssAnon and RssFile
	hwmReset, hwmPresent bool
}

// withRSS runs f while watching the process's RSS: it resets VmHWM
// (echo 5 > /proc/self/clear_refs) before and reads it after, and samples
// VmRSS, RssAnon and RssFile every 2 ms as a fallback and for the split.
func withRSS(f func() error) (rssStats, error) {
	runtime.GC()
	debug.FreeOSMemory()
	var st rssStats
	pid := os.Getpid()
	m, err := readProcStatus(pid)
	if err != nil {
		return st, err
	}
	st.before = m["VmRSS"]
	st.hwmReset = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil
	var mu sync.Mutex
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(2 * time.Millisecond)
		defer t.Stop()
		for {
			if m, err := readProcStatus(pid); err == nil {
				mu.Lock()
				st.peak = max(st.peak, m["VmRSS"])
				st.peakAnon = max(st.peakAnon, m["RssAnon"])
				st.peakFile = max(st.peakFile, m["RssFile"])
				mu.Unlock()
			}
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	})
	c0 := processCPU()
	ferr := f()
	st.cpu = processCPU() - c0
	close(stop)
	wg.Wait()
	if m, err := readProcStatus(pid); err == nil && st.hwmReset {
		if hwm, ok := m["VmHWM"]; ok {
			st.peak, st.hwmPresent = max(st.peak, hwm), true
		}
	}
	return st, ferr
}

// transferRun is one measured transfer.
type transferRun struct {
	d   time.Duration
	rss rssStats
}

func (r transferRun) mibps(size int64) float64 { return float64(size) / (1 << 20) / r.d.Seconds() }

// cpuMiBps is MiB moved per CPU-second of the whole process (both sides).
func (r transferRun) cpuMiBps(size int64) float64 {
	return float64(size) / (1 << 20) / r.rss.cpu.Seconds()
}

func clipTransfer(ctx context.Context, e *env, s *section, root string) error {
	size := int64(*clipMiB) << 20
	file := filepath.Join(root, "clip.bin")
	progress("writing a %d MiB clip of random bytes", *clipMiB)
	if err := writeRandomFile(file, size, e.p.seed); err != nil {
		return err
	}

	// Owner: store, audit, grants, host, server.
	ownerKey, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		return err
	}
	recvKey, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		return err
	}
	recvID, _ := peer.IDFromPrivateKey(recvKey)
	ownerDB, ownerStore, err := openClipStore(e, filepath.Join(root, "owner"), ownerKey)
	if err != nil {
		return err
	}
	defer ownerDB.Close()
	progress("importing it into the owner's store")
	m, err := ownerStore.ImportFile(ctx, file, clips.ImportMeta{Camera: "bench", Start: time.Now().Add(-time.Minute), MediaType: "video/mp4"})
	if err != nil {
		return err
	}
	if err := ownerDB.clips.Sync(); err != nil {
		return err
	}
	clipID := m.ClipID()
	audit, err := clips.NewAudit(ownerDB.records)
	if err != nil {
		return err
	}
	grants, err := clips.NewGrants(ownerDB.records)
	if err != nil {
		return err
	}
	grant, err := grants.Issue(ownerKey, recvID, []record.ID{clipID}, record.ID{}, time.Now().Add(24*time.Hour))
	if err != nil {
		return err
	}
	ownerHost, err := newClipHost(ownerKey)
	if err != nil {
		return err
	}
	defer ownerHost.Close()
	srv, err := clips.NewServer(clips.ServerConfig{Host: ownerHost, Store: ownerStore, Audit: audit, Revoked: grants.Revoked, Logger: e.log,
		InNeighborhood: func(peer.ID) bool { return true }}) // the benchmark measures transfer, not admission
	if err != nil {
		return err
	}
	defer srv.Close()
	recvHost, err := newClipHost(recvKey)
	if err != nil {
		return err
	}
	defer recvHost.Close()
	if err := recvHost.Connect(ctx, peer.AddrInfo{ID: ownerHost.ID(), Addrs: ownerHost.Addrs()}); err != nil {
		return err
	}
	var secInfo string
	if cs := recvHost.Network().ConnsToPeer(ownerHost.ID()); len(cs) > 0 {
		st := cs[0].ConnState()
		secInfo = fmt.Sprintf("%s, %s over %s", st.Security, st.StreamMultiplexer, st.Transport)
	}

	// HTTPS baseline: the same file, served by net/http over TLS 1.3.
	https, err := startHTTPS(file)
	if err != nil {
		return err
	}
	defer https.close()

	fetch := func() (transferRun, error) {
		var w countWriter
		var d time.Duration
		rss, err := withRSS(func() error {
			t0 := time.Now()
			_, err := clips.Fetch(ctx, recvHost, ownerHost.ID(), grant.Raw, clipID, 0, 0, &w)
			d = time.Since(t0)
			return err
		})
		if err == nil && w.n != size {
			err = fmt.Errorf("fetch: got %d of %d bytes", w.n, size)
		}
		return transferRun{d, rss}, err
	}
	n := 0
	fetchStore := func() (transferRun, error) {
		n++
		key, _, err := crypto.GenerateEd25519Key(rand.Reader)
		if err != nil {
			return transferRun{}, err
		}
		dir := filepath.Join(root, fmt.Sprintf("recv-%d", n))
		db, cs, err := openClipStore(e, dir, key)
		if err != nil {
			return transferRun{}, err
		}
		defer os.RemoveAll(dir)
		defer db.Close()
		var d time.Duration
		rss, err := withRSS(func() error {
			t0 := time.Now()
			_, err := clips.FetchAndStore(ctx, recvHost, ownerHost.ID(), grant.Raw, clipID, cs)
			d = time.Since(t0)
			return err
		})
		if err == nil {
			if got, merr := cs.Manifest(clipID); merr != nil || got.Size() != size {
				err = fmt.Errorf("fetch and store: clip not stored whole (%v)", merr)
			}
		}
		return transferRun{d, rss}, err
	}
	httpsGet := func() (transferRun, error) {
		var w countWriter
		var d time.Duration
		rss, err := withRSS(func() error {
			t0 := time.Now()
			err := https.get(ctx, &w)
			d = time.Since(t0)
			return err
		})
		if err == nil && w.n != size {
			err = fmt.Errorf("https: got %d of %d bytes", w.n, size)
		}
		return transferRun{d, rss}, err
	}

	// For scale: the same bytes over a bare stream between the same two
	// hosts (TCP, TLS, yamux), written from memory in 1 MiB writes and
	// read to io.Discard: no store, no hashing, no protocol.
	const rawProto = "/porchlight-bench/raw/1"
	rawBuf := make([]byte, 1<<20)
	ownerHost.SetStreamHandler(rawProto, func(st network.Stream) {
		defer st.Close()
		for left := size; left > 0; left -= int64(len(rawBuf)) {
			if _, err := st.Write(rawBuf[:min(left, int64(len(rawBuf)))]); err != nil {
				_ = st.Reset()
				return
			}
		}
	})
	defer ownerHost.RemoveStreamHandler(rawProto)
	bare := func() (transferRun, error) {
		var n int64
		var d time.Duration
		rss, err := withRSS(func() error {
			t0 := time.Now()
			st, err := recvHost.NewStream(ctx, ownerHost.ID(), rawProto)
			if err != nil {
				return err
			}
			buf := make([]byte, 1<<20)
			for {
				m, err := io.ReadFull(st, buf)
				n += int64(m)
				if err == io.EOF || err == io.ErrUnexpectedEOF {
					break
				}
				if err != nil {
					_ = st.Reset()
					return err
				}
			}
			d = time.Since(t0)
			return st.Close()
		})
		if err == nil && n != size {
			err = fmt.Errorf("bare stream: got %d of %d bytes", n, size)
		}
		return transferRun{d, rss}, err
	}

	// Equal work (issue 17): the HTTPS receiver SHA-256s every byte, and
	// for FetchAndStore also writes them to a file and fsyncs it.
	timed := func(name string, f func() error) func() (transferRun, error) {
		return func() (transferRun, error) {
			var d time.Duration
			rss, err := withRSS(func() error {
				t0 := time.Now()
				err := f()
				d = time.Since(t0)
				return err
			})
			if err != nil {
				err = fmt.Errorf("%s: %w", name, err)
			}
			return transferRun{d, rss}, err
		}
	}
	httpsHash := timed("https+sha256", func() error { return https.getHashed(ctx, size) })
	hn := 0
	httpsHashFile := timed("https+sha256+file", func() error {
		hn++
		return https.getHashedToFile(ctx, filepath.Join(root, fmt.Sprintf("https-recv-%d.bin", hn)), size)
	})

	const (
		kHTTPS = iota
		kHTTPSHash
		kFetch
		kHTTPSHashFile
		kFetchStore
		kBare
	)
	kinds := []struct {
		name string
		f    func() (transferRun, error)
	}{{"HTTPS", httpsGet}, {"HTTPS+SHA-256", httpsHash}, {"Fetch", fetch},
		{"HTTPS+SHA-256+file+fsync", httpsHashFile}, {"FetchAndStore", fetchStore}, {"bare stream", bare}}
	progress("warm-up: one transfer of each kind")
	for _, k := range kinds {
		if _, err := k.f(); err != nil {
			return fmt.Errorf("warm-up %s: %w", k.name, err)
		}
	}
	if err := e.profilePhase("clips-transfer"); err != nil {
		return err
	}
	runs := make([][]transferRun, len(kinds))
	for r := range *clipRounds {
		for i, k := range kinds {
			syscall.Sync() // flush the previous round's writes first
			tr, err := k.f()
			if err != nil {
				return fmt.Errorf("round %d, %s: %w", r+1, k.name, err)
			}
			runs[i] = append(runs[i], tr)
			progress("round %d %-24s %7.1f MiB/s, CPU %.2f s, peak RSS %s", r+1, k.name, tr.mibps(size), tr.rss.cpu.Seconds(), mib(tr.rss.peak))
		}
	}

	med := make([]float64, len(kinds))
	medCPU := make([]float64, len(kinds)) // MiB per CPU-second of the process
	peak := make([]int64, len(kinds))
	for i := range kinds {
		var v, c []float64
		for _, tr := range runs[i] {
			v = append(v, tr.mibps(size))
			c = append(c, tr.cpuMiBps(size))
			peak[i] = max(peak[i], tr.rss.peak)
		}
		med[i], medCPU[i] = median(v), median(c)
	}
	s.add(row{metric: fmt.Sprintf("transfer of a %d MiB clip: Fetch to io.Discard (median MiB/s), raw", *clipMiB),
		result: fmt.Sprintf("%.1f MiB/s", med[kFetch]), baseline: fmt.Sprintf("%.1f MiB/s HTTPS", med[kHTTPS]), ratio: ratio(med[kFetch], med[kHTTPS]),
		target: fmt.Sprintf("≥ %.1f× HTTPS", targetFetchRatio), met: met(med[kFetch] >= targetFetchRatio*med[kHTTPS])})
	s.add(row{metric: "transfer, equal work: Fetch vs HTTPS whose receiver SHA-256s every byte (median MiB/s)",
		result: fmt.Sprintf("%.1f MiB/s", med[kFetch]), baseline: fmt.Sprintf("%.1f MiB/s HTTPS+SHA-256", med[kHTTPSHash]), ratio: ratio(med[kFetch], med[kHTTPSHash]),
		target: fmt.Sprintf("≥ %.1f×", targetFetchEqualRatio), met: met(med[kFetch] >= targetFetchEqualRatio*med[kHTTPSHash])})
	s.add(row{metric: "transfer: FetchAndStore into the receiver's store (median MiB/s), raw",
		result: fmt.Sprintf("%.1f MiB/s", med[kFetchStore]), baseline: fmt.Sprintf("%.1f MiB/s HTTPS", med[kHTTPS]), ratio: ratio(med[kFetchStore], med[kHTTPS])})
	s.add(row{metric: "transfer, equal work: FetchAndStore vs HTTPS + SHA-256 of every byte + write to a file + fsync (median MiB/s)",
		result: fmt.Sprintf("%.1f MiB/s", med[kFetchStore]), baseline: fmt.Sprintf("%.1f MiB/s HTTPS+SHA-256+file+fsync", med[kHTTPSHashFile]), ratio: ratio(med[kFetchStore], med[kHTTPSHashFile]),
		target: fmt.Sprintf("≥ %.1f×", targetFetchStoreEqualRatio), met: met(med[kFetchStore] >= targetFetchStoreEqualRatio*med[kHTTPSHashFile])})
	s.add(row{metric: "for scale: a bare libp2p stream between the same hosts, from memory to io.Discard (median MiB/s)",
		result: fmt.Sprintf("%.1f MiB/s", med[kBare]), baseline: fmt.Sprintf("%.1f MiB/s HTTPS", med[kHTTPS]), ratio: ratio(med[kBare], med[kHTTPS])})
	s.add(row{metric: "one core per side: Fetch, MiB per CPU-second of both sides together (a lower bound on what one core per side sustains)",
		result: fmt.Sprintf("%.1f MiB/s", medCPU[kFetch]), baseline: fmt.Sprintf("%.1f MiB/s HTTPS+SHA-256", medCPU[kHTTPSHash]), ratio: ratio(medCPU[kFetch], medCPU[kHTTPSHash]),
		target: fmt.Sprintf("≥ %d MiB/s", targetOneCoreMiBps), met: met(medCPU[kFetch] >= targetOneCoreMiBps)})
	s.add(row{metric: "transfer: peak RSS of the process (both nodes), Fetch",
		result: mib(peak[kFetch]), baseline: mib(peak[kHTTPS]) + " HTTPS", target: "≤ 128 MB", met: met(peak[kFetch]*1024 <= targetPeakRSS)})
	s.add(row{metric: "transfer: peak RSS of the process (both nodes), FetchAndStore",
		result: mib(peak[kFetchStore]), baseline: mib(peak[kHTTPS]) + " HTTPS", target: "≤ 128 MB", met: met(peak[kFetchStore]*1024 <= targetPeakRSS)})

	s.printf("A %d MiB clip of random bytes, imported with `ImportFile` into the owner's `clips.Store` (its own Badger from `clips.OpenDB`, as a node has, 1 MiB chunks), "+
		"fetched over `%s` between two libp2p hosts in this process on 127.0.0.1 (TCP only; %s). The owner runs `clips.NewServer` with a real `Audit` "+
		"and a grant from `Grants.Issue` naming the receiver. `Fetch` writes to `io.Discard` (every chunk verified against the signed manifest); "+
		"`FetchAndStore` stores into a fresh receiver store each time (verified chunks, whole-file hash, synced to disk before it returns). Baseline: the same file downloaded from a Go `net/http` "+
		"server with `ServeFile` over %s (self-signed ECDSA P-256 cert made in-process, keep-alive connection), body to `io.Discard`. "+
		"Equal-work baselines (issue 17): the same download whose receiver SHA-256s every byte (`HTTPS+SHA-256`, against `Fetch`), "+
		"and that also writes the bytes to a new file in the same temp dir and fsyncs it (`HTTPS+SHA-256+file+fsync`, against `FetchAndStore`). "+
		"One unmeasured warm-up of each, then %d rounds in turn; the file and the owner's store are in the page cache.\n\n",
		*clipMiB, clips.ClipProtocol, secInfo, https.desc, *clipRounds)
	s.printf("| Round |")
	for _, k := range kinds {
		s.printf(" %s MiB/s | peak RSS |", k.name)
	}
	s.printf("\n|---|")
	for range kinds {
		s.printf("---:|---:|")
	}
	s.printf("\n")
	for r := range *clipRounds {
		s.printf("| %d |", r+1)
		for i := range kinds {
			tr := runs[i][r]
			s.printf(" %.1f | %s |", tr.mibps(size), mib(tr.rss.peak))
		}
		s.printf("\n")
	}
	s.printf("| median |")
	for i := range kinds {
		s.printf(" %.1f | max %s |", med[i], mib(peak[i]))
	}
	s.printf("\n\nCPU time of the whole process (user + system, `getrusage(RUSAGE_SELF)` around each transfer: both sides, " +
		"plus the bench's 2 ms RSS sampler, the same for every kind), in seconds, and MiB moved per CPU-second:\n\n| Round |")
	for _, k := range kinds {
		s.printf(" %s CPU s |", k.name)
	}
	s.printf("\n|---|")
	for range kinds {
		s.printf("---:|")
	}
	s.printf("\n")
	for r := range *clipRounds {
		s.printf("| %d |", r+1)
		for i := range kinds {
			s.printf(" %.2f |", runs[i][r].rss.cpu.Seconds())
		}
		s.printf("\n")
	}
	s.printf("| median MiB per CPU-s |")
	for i := range kinds {
		s.printf(" %.1f |", medCPU[i])
	}
	s.printf("\n\nOne core per side: both sides run in this process, so a transfer's CPU time is the sender's plus the receiver's; "+
		"with one core each, the busier side needs at most that much, so MiB per CPU-second of the process is a lower bound "+
		"on the rate one core per side sustains (if the transfer is CPU-bound and not held up by the network): Fetch %.1f MiB/s, target ≥ %d MiB/s.",
		medCPU[kFetch], targetOneCoreMiBps)
	s.printf("\n\nRSS split at its peak sample (RssAnon / RssFile, max of rounds) and VmRSS before the transfer:")
	for i, k := range kinds {
		var anon, file, before int64
		for _, tr := range runs[i] {
			anon, file, before = max(anon, tr.rss.peakAnon), max(file, tr.rss.peakFile), max(before, tr.rss.before)
		}
		s.printf(" %s %s / %s (before %s);", k.name, mib(anon), mib(file), mib(before))
	}
	hwm := "VmHWM reset with `echo 5 > /proc/self/clear_refs` before each transfer and read after, plus VmRSS sampled every 2 ms"
	if len(runs[kFetch]) > 0 && !runs[kFetch][0].rss.hwmPresent {
		hwm = "VmRSS sampled every 2 ms (VmHWM could not be reset)"
	}
	s.printf(" peak RSS is %s; the whole process (both nodes, the HTTPS server, the bench) after `runtime.GC` and `debug.FreeOSMemory`. MiB = 2^20 bytes; the target is 128 MB = 122.1 MiB.\n\n", hwm)
	return nil
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// httpsServer serves one file over TLS 1.3 on 127.0.0.1.
type httpsServer struct {
	srv    *http.Server
	client *http.Client
	url    string
	desc   string
}

func startHTTPS(file string) (*httpsServer, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.ServeFile(w, r, file) }),
		TLSConfig: &tls.Config{
			Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}},
			MinVersion:   tls.VersionTLS13,
		},
	}
	go func() { _ = srv.ServeTLS(ln, "", "") }()
	h := &httpsServer{
		srv: srv,
		client: &http.Client{Transport: &http.Transport{
			TLSClientConfig:    &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS13},
			DisableCompression: true,
		}},
		url: "https://" + ln.Addr().String() + "/clip.bin",
	}
	return h, nil
}

func (h *httpsServer) get(ctx context.Context, w io.Writer) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, h.url, nil)
	if err != nil {
		return err
	}
	resp, err := h.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("https: %s", resp.Status)
	}
	if h.desc == "" && resp.TLS != nil {
		h.desc = fmt.Sprintf("%s, %s, %s", resp.Proto, tls.VersionName(resp.TLS.Version), tls.CipherSuiteName(resp.TLS.CipherSuite))
	}
	_, err = io.Copy(w, resp.Body)
	return err
}

func (h *httpsServer) close() { _ = h.srv.Close() }

// clipImport times ImportFile of -clip-files files against copying the
// same files, alternating round by round.
func clipImport(ctx context.Context, e *env, s *section, root string) error {
	if err := e.profilePhase("clips-import-setup"); err != nil {
		return err
	}
	size := int64(*clipMiB) << 20
	total := size * int64(*clipFiles)
	srcDir := filepath.Join(root, "import-src")
	if err := os.MkdirAll(srcDir, 0o755); err != nil {
		return err
	}
	var files []string
	progress("writing %d files of %d MiB of random bytes", *clipFiles, *clipMiB)
	for i := range *clipFiles {
		f := filepath.Join(srcDir, fmt.Sprintf("cam-%d.mp4", i))
		if err := writeRandomFile(f, size, e.p.seed+100+uint64(i)); err != nil {
			return err
		}
		files = append(files, f)
	}
	key, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		return err
	}
	meta := clips.ImportMeta{Camera: "bench", Start: time.Now().Add(-time.Hour)}

	// importAll returns the time of the ImportFile calls and of them plus
	// a Badger Sync at the end.
	importAll := func(dir string) (imp, synced, cpu time.Duration, err error) {
		db, cs, err := openClipStore(e, dir, key)
		if err != nil {
			return 0, 0, 0, err
		}
		defer db.Close()
		c0 := processCPU()
		t0 := time.Now()
		for _, f := range files {
			m, err := cs.ImportFile(ctx, f, meta)
			if err != nil {
				return 0, 0, 0, err
			}
			if m.Size() != size {
				return 0, 0, 0, fmt.Errorf("imported %d of %d bytes", m.Size(), size)
			}
		}
		imp = time.Since(t0)
		if err := db.clips.Sync(); err != nil {
			return 0, 0, 0, err
		}
		synced = time.Since(t0)
		return imp, synced, processCPU() - c0, nil
	}
	copyAll := func(dir string) (time.Duration, time.Duration, error) {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return 0, 0, err
		}
		c0 := processCPU()
		t0 := time.Now()
		for _, f := range files {
			if err := copyFile(f, filepath.Join(dir, filepath.Base(f))); err != nil {
				return 0, 0, err
			}
		}
		return time.Since(t0), processCPU() - c0, nil
	}
	// Equal work (issue 17): read, SHA-256 each chunk and the whole file,
	// write(2), fsync.
	hashCopyAll := func(dir string) (time.Duration, time.Duration, error) {
		c0 := processCPU()
		t0 := time.Now()
		if err := hashCopyFiles(files, dir, 1<<20); err != nil {
			return 0, 0, err
		}
		return time.Since(t0), processCPU() - c0, nil
	}
	if err := e.profilePhase("clips-import"); err != nil {
		return err
	}
	mibps := func(d time.Duration) float64 { return float64(total) / (1 << 20) / d.Seconds() }
	gib := float64(total) / (1 << 30)
	var imps, synceds, copies, hashCopies []float64
	var impCPU, copyCPU, hashCopyCPU []float64 // CPU-seconds per GiB
	for r := range *clipRounds {
		// The sides take turns, and which goes first rotates by round.
		sides := []func() error{
			func() error {
				dir := filepath.Join(root, fmt.Sprintf("import-%d", r))
				defer os.RemoveAll(dir)
				imp, synced, cpu, err := importAll(dir)
				if err != nil {
					return fmt.Errorf("round %d, import: %w", r+1, err)
				}
				imps, synceds, impCPU = append(imps, mibps(imp)), append(synceds, mibps(synced)), append(impCPU, cpu.Seconds()/gib)
				return nil
			},
			func() error {
				dir := filepath.Join(root, fmt.Sprintf("copy-%d", r))
				defer os.RemoveAll(dir)
				cp, cpu, err := copyAll(dir)
				if err != nil {
					return fmt.Errorf("round %d, copy: %w", r+1, err)
				}
				copies, copyCPU = append(copies, mibps(cp)), append(copyCPU, cpu.Seconds()/gib)
				return nil
			},
			func() error {
				dir := filepath.Join(root, fmt.Sprintf("hashcopy-%d", r))
				defer os.RemoveAll(dir)
				hc, cpu, err := hashCopyAll(dir)
				if err != nil {
					return fmt.Errorf("round %d, read+2×SHA-256+write+fsync: %w", r+1, err)
				}
				hashCopies, hashCopyCPU = append(hashCopies, mibps(hc)), append(hashCopyCPU, cpu.Seconds()/gib)
				return nil
			},
		}
		for i := range sides {
			syscall.Sync()
			if err := sides[(i+r)%len(sides)](); err != nil {
				return err
			}
		}
		progress("round %d import %.1f MiB/s (%.1f with Sync, %.2f CPU-s/GiB), copy %.1f MiB/s (%.2f CPU-s/GiB), read+2×SHA-256+write+fsync %.1f MiB/s (%.2f CPU-s/GiB)",
			r+1, imps[r], synceds[r], impCPU[r], copies[r], copyCPU[r], hashCopies[r], hashCopyCPU[r])
	}
	mi, ms, mc, mh := median(imps), median(synceds), median(copies), median(hashCopies)
	ci, cc, ch := median(impCPU), median(copyCPU), median(hashCopyCPU)
	s.add(row{metric: fmt.Sprintf("import of %d × %d MiB: ImportFile, then Badger Sync (median MiB/s), raw", *clipFiles, *clipMiB),
		result: fmt.Sprintf("%.1f MiB/s", ms), baseline: fmt.Sprintf("%.1f MiB/s copy", mc), ratio: ratio(ms, mc),
		target: fmt.Sprintf("≥ %.1f× copy", targetImportRatio), met: met(ms >= targetImportRatio*mc)})
	s.add(row{metric: "import: ImportFile alone (no Sync; median MiB/s), raw",
		result: fmt.Sprintf("%.1f MiB/s", mi), baseline: fmt.Sprintf("%.1f MiB/s copy", mc), ratio: ratio(mi, mc)})
	s.add(row{metric: "import, equal work: ImportFile + Sync vs read + SHA-256 of each chunk and of the file + write(2) + fsync (median MiB/s)",
		result: fmt.Sprintf("%.1f MiB/s", ms), baseline: fmt.Sprintf("%.1f MiB/s", mh), ratio: ratio(ms, mh),
		target: fmt.Sprintf("≥ %.1f×", targetImportEqualRatio), met: met(ms >= targetImportEqualRatio*mh)})
	s.add(row{metric: "import, equal work: CPU-seconds per GiB imported (median; lower is better)",
		result: fmt.Sprintf("%.2f s/GiB", ci), baseline: fmt.Sprintf("%.2f s/GiB", ch), ratio: ratio(ci, ch),
		target: fmt.Sprintf("≤ %.1f×", targetImportCPURatio), met: met(ci <= targetImportCPURatio*ch)})

	s.printf("%d files of %d MiB of random bytes (%d MiB), written and fsynced first, imported with `(*clips.Store).ImportFile` into a fresh store "+
		"(`clips.OpenDB`, 1 MiB chunks; ImportFile syncs the database before it returns) and then `badger.DB.Sync` (finds nothing left to write), "+
		"vs `io.Copy` of each file to a new file in the same temp dir, `f.Sync()` and `Close` (on Linux `io.Copy` between files uses "+
		"`copy_file_range`, an in-kernel copy). Each round imports then copies, after a `sync`; sources are in the page cache. "+
		"ImportFile reads each file once.\n\n", *clipFiles, *clipMiB, total>>20)
	s.printf("Equal-work baseline (issue 17): each file read once in 1 MiB chunks, each chunk SHA-256'd on its own and fed to a whole-file SHA-256 " +
		"(two SHA-256 passes over every byte, as ImportFile does), written to a new file with write(2), then fsync and close; one goroutine. " +
		"The three sides take turns, the first rotating each round, each after a `sync`. CPU: `getrusage(RUSAGE_SELF)` user + system around each side " +
		"(ImportFile's includes Badger's background goroutines while it runs).\n\n")
	s.printf("| Round | ImportFile MiB/s | ImportFile + Sync MiB/s | copy + fsync MiB/s | read+2×SHA-256+write+fsync MiB/s | ratio to copy | ratio to equal work | CPU-s/GiB import | copy | equal work | CPU ratio |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for r := range imps {
		s.printf("| %d | %.1f | %.1f | %.1f | %.1f | %s | %s | %.2f | %.2f | %.2f | %s |\n", r+1, imps[r], synceds[r], copies[r], hashCopies[r],
			ratio(synceds[r], copies[r]), ratio(synceds[r], hashCopies[r]), impCPU[r], copyCPU[r], hashCopyCPU[r], ratio(impCPU[r], hashCopyCPU[r]))
	}
	s.printf("| median | %.1f | %.1f | %.1f | %.1f | %s | %s | %.2f | %.2f | %.2f | %s |\n\n", mi, ms, mc, mh, ratio(ms, mc), ratio(ms, mh), ci, cc, ch, ratio(ci, ch))
	return nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
