package mesh

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/protocol/holepunch"
	"github.com/libp2p/go-libp2p/p2p/protocol/identify"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
)

// Hole-punch timings (see puncher).
const (
	punchEvery    = 500 * time.Millisecond  // relayed-only neighbors looked at
	punchFirst    = 500 * time.Millisecond  // a relayed-only neighbor waits this long (the lower peer ID; see due)
	punchSecond   = 1500 * time.Millisecond // the higher peer ID waits this long: one side punches, not both at once
	punchBackoff  = 5 * time.Second         // after a failed attempt; doubles
	punchMaxWait  = 5 * time.Minute         // cap of the backoff (a symmetric NAT never punches)
	punchesAtOnce = 4
)

// puncher runs go-libp2p's DCUtR hole punching (holepunch.Service) and
// retries it. libp2p's built-in wiring (libp2p.EnableHolePunching) tries
// once, when a relayed connection comes in, and only if the service has
// already found a public address of this node; it looks for one at
// growing intervals (up to 5 s) and, until four observers agree, knows
// only what identify's observers saw. A home that reserved at an anchor a
// moment ago and is dialled through it at once was thus never punched
// and stayed relayed for good (the NAT lab saw it in half its runs). The
// puncher gives the service the public addresses the anchors observed
// (one observer is enough: a street may have one anchor) and tries again
// for every neighbor still reached only through a relay, with a backoff.
type puncher struct {
	m   *Mesh
	svc *holepunch.Service

	mu     sync.Mutex
	since  map[peer.ID]time.Time // relayed-only since
	next   map[peer.ID]time.Time // next attempt allowed
	wait   map[peer.ID]time.Duration
	active int
}

func newPuncher(m *Mesh) (*puncher, error) {
	ih, ok := m.host.(interface{ IDService() identify.IDService })
	if !ok {
		return nil, fmt.Errorf("hole punching: the host has no identify service")
	}
	p := &puncher{
		m:     m,
		since: map[peer.ID]time.Time{},
		next:  map[peer.ID]time.Time{},
		wait:  map[peer.ID]time.Duration{},
	}
	svc, err := holepunch.NewService(m.host, ih.IDService(), p.addrs, holepunch.WithMetricsTracer(holePunchTracer{m.metrics}))
	if err != nil {
		return nil, fmt.Errorf("hole punching: %w", err)
	}
	p.svc = svc
	return p, nil
}

// addrs are this node's public direct addresses for hole punching: what
// the host advertises and what identify's observers saw, public only
// (holepunch.NewService's contract).
func (p *puncher) addrs() []ma.Multiaddr {
	h := p.m.host
	all := h.Addrs()
	if ah, ok := h.(interface{ AllAddrs() []ma.Multiaddr }); ok {
		all = append(all, ah.AllAddrs()...)
	}
	all = append(all, p.m.traversal.observedAddrs()...)
	var out []ma.Multiaddr
	for _, a := range all {
		if !isCircuit(a) && manet.IsPublicAddr(a) {
			out = appendNew(out, a)
		}
	}
	return out
}

// close stops the service; before the host closes.
func (p *puncher) close() {
	if err := p.svc.Close(); err != nil {
		p.m.cfg.Logger.Debug("close hole punching", "err", err)
	}
}

// run looks at the relayed-only neighbors every punchEvery and punches
// the ones whose turn it is.
func (p *puncher) run(ctx context.Context) error {
	tick := time.NewTicker(punchEvery)
	defer tick.Stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		for _, id := range p.due(time.Now()) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				p.m.cfg.Logger.Debug("hole punch", "peer", id, "own", p.addrs())
				err := p.svc.DirectConnect(id)
				p.done(id, err, time.Now())
			}()
		}
	}
}

// due returns the relayed-only neighbors to punch now and marks them
// active.
func (p *puncher) due(now time.Time) []peer.ID {
	m := p.m
	relayed := map[peer.ID]bool{}
	for id := range m.peers.list() {
		if m.PathTo(id) == PathRelayed {
			relayed[id] = true
		}
	}
	// DirectConnect waits until the service has found a public address of
	// this node, and a Close does not end that wait: call it only once the
	// service answers DCUtR, which it starts doing when it found one.
	started := slices.Contains(m.host.Mux().Protocols(), holepunch.Protocol)
	p.mu.Lock()
	defer p.mu.Unlock()
	for id := range p.since {
		if !relayed[id] {
			delete(p.since, id)
			delete(p.next, id)
			delete(p.wait, id)
		}
	}
	if !started {
		for id := range relayed {
			if _, ok := p.since[id]; !ok {
				p.since[id] = now
			}
		}
		return nil
	}
	var out []peer.ID
	for id := range relayed {
		since, ok := p.since[id]
		if !ok {
			p.since[id] = now
			continue
		}
		first := punchFirst
		if m.self > id {
			first = punchSecond
		}
		if now.Sub(since) < first || now.Before(p.next[id]) || p.active == punchesAtOnce {
			continue
		}
		p.active++
		p.next[id] = now.Add(punchMaxWait) // until done says otherwise
		out = append(out, id)
	}
	return out
}

// done records an attempt's outcome: a failure backs off, doubling.
func (p *puncher) done(id peer.ID, err error, now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.active--
	if err == nil {
		p.m.cfg.Logger.Debug("hole punch done", "peer", id)
		delete(p.wait, id)
		p.next[id] = now.Add(punchBackoff)
		return
	}
	w := p.wait[id]
	switch {
	case w == 0:
		w = punchBackoff
	case w < punchMaxWait:
		w = min(2*w, punchMaxWait)
	}
	p.wait[id] = w
	p.next[id] = now.Add(w)
	p.m.cfg.Logger.Debug("hole punch failed; retrying later", "peer", id, "in", w, "err", err)
}
