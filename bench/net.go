package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"
)

// maxNodes bounds the propagation benchmark's node count (arrival arrays).
const maxNodes = 64

// topology is an undirected graph: node i dials every j in dials[i].
type topology struct {
	n     int
	dials [][]int
	adj   [][]int
}

// randomTopology has each of n nodes dial degree random others it is not
// linked to yet (so a node ends up with about 2*degree links). It draws
// again until the graph is connected.
func randomTopology(n, degree int, seed uint64) (*topology, error) {
	if n < 2 || n > maxNodes {
		return nil, fmt.Errorf("-nodes %d: want 2 to %d", n, maxNodes)
	}
	degree = min(degree, n-1)
	for attempt := uint64(0); attempt < 100; attempt++ {
		rng := rand.New(rand.NewPCG(seed, attempt))
		t := &topology{n: n, dials: make([][]int, n), adj: make([][]int, n)}
		linked := map[[2]int]bool{}
		for i := range n {
			for _, j := range rng.Perm(n) {
				pair := [2]int{min(i, j), max(i, j)}
				if len(t.dials[i]) == degree || j == i || linked[pair] {
					continue
				}
				linked[pair] = true
				t.dials[i] = append(t.dials[i], j)
				t.adj[i] = append(t.adj[i], j)
				t.adj[j] = append(t.adj[j], i)
			}
		}
		if t.diameter() >= 0 {
			return t, nil
		}
	}
	return nil, fmt.Errorf("no connected topology of %d nodes with degree %d in 100 draws", n, degree)
}

func (t *topology) edges() int {
	e := 0
	for _, a := range t.adj {
		e += len(a)
	}
	return e / 2
}

// diameter is the longest shortest path in hops, or -1 if disconnected.
func (t *topology) diameter() int {
	diam := 0
	for s := range t.n {
		for _, d := range t.hops(s) {
			if d < 0 {
				return -1
			}
			diam = max(diam, d)
		}
	}
	return diam
}

// hops is the shortest path length from s to every node.
func (t *topology) hops(s int) []int {
	dist := make([]int, t.n)
	for i := range dist {
		dist[i] = -1
	}
	dist[s] = 0
	queue := []int{s}
	for len(queue) > 0 {
		u := queue[0]
		queue = queue[1:]
		for _, v := range t.adj[u] {
			if dist[v] < 0 {
				dist[v] = dist[u] + 1
				queue = append(queue, v)
			}
		}
	}
	return dist
}

func (t *topology) describe() string {
	lo, hi := t.n, 0
	for _, a := range t.adj {
		lo, hi = min(lo, len(a)), max(hi, len(a))
	}
	return fmt.Sprintf("%d nodes, %d links (degree %d to %d, mean %.1f), diameter %d hops",
		t.n, t.edges(), lo, hi, 2*float64(t.edges())/float64(t.n), t.diameter())
}

// arrivals records when each node first saw each message. mark is called
// from delivery callbacks and never blocks; one goroutine waits.
type arrivals struct {
	mu   sync.Mutex
	seen map[string]*[maxNodes]time.Time
	wake chan struct{}
}

func newArrivals() *arrivals {
	return &arrivals{seen: map[string]*[maxNodes]time.Time{}, wake: make(chan struct{}, 1)}
}

func (a *arrivals) mark(key string, node int) {
	now := time.Now()
	a.mu.Lock()
	at := a.seen[key]
	if at == nil {
		at = new([maxNodes]time.Time)
		a.seen[key] = at
	}
	if at[node].IsZero() {
		at[node] = now
	}
	a.mu.Unlock()
	select {
	case a.wake <- struct{}{}:
	default:
	}
}

// wait waits until every node of 0..n-1 but exclude has seen key, and
// returns when and which was the last of them. On timeout it returns how
// many had.
func (a *arrivals) wait(ctx context.Context, key string, exclude, n int, timeout time.Duration) (last time.Time, lastNode, got int, err error) {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		a.mu.Lock()
		got, last, lastNode = 0, time.Time{}, -1
		if at := a.seen[key]; at != nil {
			for i := range n {
				if i != exclude && !at[i].IsZero() {
					got++
					if at[i].After(last) {
						last, lastNode = at[i], i
					}
				}
			}
		}
		a.mu.Unlock()
		if got == n-1 {
			return last, lastNode, got, nil
		}
		select {
		case <-a.wake:
		case <-timer.C:
			return last, lastNode, got, fmt.Errorf("reached %d of %d nodes in %s", got, n-1, timeout)
		case <-ctx.Done():
			return last, lastNode, got, ctx.Err()
		}
	}
}
