package scalesim_test

import (
	"bufio"
	"bytes"
	"fmt"
	"maps"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// phases logs each phase of a simulation (start, connect, handshakes,
// settle, idle, posting, drain, close) with its simulated and real time,
// the process's CPU, RSS, heap and goroutines, so that a long run says
// where it is. A monitor outside the synctest bubble logs the phase in
// progress every SCALESIM_PROGRESS (default 30 s) of real time, and stops
// the process when its RSS passes SCALESIM_MAXRSS (MiB, default 10,240):
// the machine is shared, and an out-of-memory kill takes other processes
// with it. With SCALESIM_HEAPPROFILE_CONNECT set, each of those logs in
// the connect phase also writes the heap as of the last collection to
// that file. With SCALESIM_CPUPROFILE set, the phase named by
// SCALESIM_CPUPROFILE_PHASE (default connect) is CPU-profiled to that file.
type phases struct {
	t     *testing.T
	homes int

	mu         sync.Mutex
	name       string
	total      int
	simStart   time.Time // simulated: time.Now inside the bubble
	realStart  time.Time
	cpuStart   time.Duration
	done       atomic.Int64
	peakRSS    atomic.Int64
	stopc      chan struct{}
	monitoring sync.WaitGroup
	// counters, if set, returns the mesh counters to log per phase
	// (their change over the phase).
	counters func() map[string]float64
	counts0  map[string]float64
	// profile starts (a phase's name) and stops ("") the CPU profile
	// (SCALESIM_CPUPROFILE) from the monitor: a profile started inside
	// the synctest bubble puts its writer goroutine in the bubble, which
	// is then never idle, and simulated time stops.
	profile chan string
}

// phaseEnd is what a phase cost.
type phaseEnd struct {
	sim, real, cpu time.Duration
	heap           uint64 // HeapInuse at the end
	stacks         uint64 // StackInuse at the end
	rss            int64
	goroutines     int
}

func newPhases(t *testing.T, homes int) *phases {
	p := &phases{t: t, homes: homes, stopc: make(chan struct{}), profile: make(chan string)}
	every := 30 * time.Second
	if v, err := time.ParseDuration(os.Getenv("SCALESIM_PROGRESS")); err == nil && v > 0 {
		every = v
	}
	maxRSS := int64(10240) << 20
	if v, err := strconv.ParseInt(os.Getenv("SCALESIM_MAXRSS"), 10, 64); err == nil && v > 0 {
		maxRSS = v << 20
	}
	p.monitoring.Go(func() {
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		last := realNow()
		var profiling *os.File
		defer func() { stopProfile(profiling) }()
		for {
			select {
			case <-p.stopc:
				return
			case name := <-p.profile:
				profiling = stopProfile(profiling)
				if name != "" {
					profiling = startProfile(p.t, name)
				}
				continue
			case <-tick.C:
			}
			rss := p.sampleRSS()
			if rss > maxRSS {
				fmt.Fprintf(os.Stderr, "scalesim: RSS %d MiB passed SCALESIM_MAXRSS (%d MiB) in phase %s; stopping the process\n",
					rss>>20, maxRSS>>20, p.current())
				os.Exit(3)
			}
			if realNow().Sub(last) < every {
				continue
			}
			last = realNow()
			p.mu.Lock()
			name, total, start := p.name, p.total, p.realStart
			p.mu.Unlock()
			if f := os.Getenv("SCALESIM_HEAPPROFILE_CONNECT"); f != "" && name == "connect" {
				// The heap at the last collection: what the connect
				// phase holds live, besides the homes themselves.
				writeHeapAtLastGC(f)
			}
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			p.t.Logf("%d homes: in %s %d/%d for %v real; RSS %d MiB, heap %d MiB, %d goroutines, CPU %v",
				p.homes, name, p.done.Load(), total, realNow().Sub(start).Round(time.Second),
				rss>>20, ms.HeapInuse>>20, runtime.NumGoroutine(), cpuTime().Round(time.Second))
		}
	})
	return p
}

func (p *phases) current() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.name
}

// begin starts a phase of total steps (0: not counted). Called inside the
// bubble.
func (p *phases) begin(name string, total int) {
	p.profile <- name // before p.mu: the monitor takes it
	p.mu.Lock()
	defer p.mu.Unlock()
	p.name, p.total = name, total
	p.simStart, p.realStart, p.cpuStart = time.Now(), realNow(), cpuTime()
	p.done.Store(0)
	if p.counters != nil {
		p.counts0 = p.counters()
	}
}

// startProfile starts a CPU profile of phase name into SCALESIM_CPUPROFILE
// if SCALESIM_CPUPROFILE_PHASE (default connect) names it: where one
// phase's CPU goes, without the others'. It returns the file, nil if no
// profile was started.
func startProfile(t *testing.T, name string) *os.File {
	file := os.Getenv("SCALESIM_CPUPROFILE")
	want := os.Getenv("SCALESIM_CPUPROFILE_PHASE")
	if want == "" {
		want = "connect"
	}
	if file == "" || name != want {
		return nil
	}
	f, err := os.Create(file)
	if err != nil {
		t.Errorf("cpu profile: %v", err)
		return nil
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		t.Errorf("cpu profile: %v", err)
		return nil
	}
	return f
}

// stopProfile stops the profile writing to f, if any; it returns nil.
func stopProfile(f *os.File) *os.File {
	if f != nil {
		pprof.StopCPUProfile()
		f.Close()
	}
	return nil
}

// step counts one step of the phase; progress sets the count.
func (p *phases) step()          { p.done.Add(1) }
func (p *phases) progress(n int) { p.done.Store(int64(n)) }

// end logs the phase that began last and returns what it cost.
func (p *phases) end() phaseEnd {
	p.mu.Lock()
	name, sim0, real0, cpu0, counts0 := p.name, p.simStart, p.realStart, p.cpuStart, p.counts0
	p.name = name + " (ended)"
	p.mu.Unlock()
	p.profile <- ""
	var counts []string
	if p.counters != nil {
		now := p.counters()
		for _, k := range slices.Sorted(maps.Keys(now)) {
			counts = append(counts, fmt.Sprintf("%s %.0f (%.1f a home)", k, now[k]-counts0[k], (now[k]-counts0[k])/float64(p.homes)))
		}
	}
	e := phaseEnd{sim: time.Since(sim0), real: realNow().Sub(real0), cpu: cpuTime() - cpu0, goroutines: runtime.NumGoroutine()}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	e.heap, e.stacks = ms.HeapInuse, ms.StackInuse
	e.rss = p.sampleRSS()
	mib := func(b float64) float64 { return b / (1 << 20) }
	p.t.Logf("%d homes: phase %-10s simulated %8v  real %8v  CPU %8v  RSS %6.0f MiB (%.2f a home)  heap %6.0f MiB (%.2f a home)  stacks %.0f MiB  goroutines %d (%.0f a home)  load %s  %s",
		p.homes, name, e.sim.Round(time.Millisecond), e.real.Round(100*time.Millisecond), e.cpu.Round(100*time.Millisecond),
		mib(float64(e.rss)), mib(float64(e.rss))/float64(p.homes), mib(float64(e.heap)), mib(float64(e.heap))/float64(p.homes),
		mib(float64(e.stacks)), e.goroutines, float64(e.goroutines)/float64(p.homes), loadAvg(), strings.Join(counts, ", "))
	return e
}

func (p *phases) stop() {
	close(p.stopc)
	p.monitoring.Wait()
}

// sampleRSS reads the process's resident set and keeps the peak.
func (p *phases) sampleRSS() int64 {
	rss := readRSS()
	for {
		old := p.peakRSS.Load()
		if rss <= old || p.peakRSS.CompareAndSwap(old, rss) {
			return rss
		}
	}
}

// readRSS is VmRSS from /proc/self/status, in bytes.
func readRSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			f := strings.Fields(v)
			if len(f) > 0 {
				kb, _ := strconv.ParseInt(f[0], 10, 64)
				return kb << 10
			}
		}
	}
	return 0
}

// writeHeapAtLastGC writes the heap profile as of the last garbage
// collection (no collection forced), replacing file.
func writeHeapAtLastGC(file string) {
	f, err := os.Create(file)
	if err != nil {
		return
	}
	defer f.Close()
	pprof.WriteHeapProfile(f)
}

// realNow is the wall clock, also inside a synctest bubble (whose
// time.Now is simulated).
func realNow() time.Time {
	var tv syscall.Timeval
	if err := syscall.Gettimeofday(&tv); err != nil {
		return time.Time{}
	}
	return time.Unix(tv.Sec, tv.Usec*1000)
}
