package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/porchlight-mesh/porchlight/mesh"
	"github.com/porchlight-mesh/porchlight/record"
	"github.com/porchlight-mesh/porchlight/store"
)

const targetCatchup = 3 * time.Second

// runCatchup measures how long a fresh node takes to hold every post of a
// peer's store, from the moment it connects (sync runs on connect).
func runCatchup(ctx context.Context, e *env) (*section, error) {
	src, err := e.sourceNode()
	if err != nil {
		return nil, err
	}
	d := e.data
	total := int64(len(d.recs))
	authors := map[peer.ID]bool{}
	for _, a := range d.authors {
		authors[a] = true
	}

	var (
		count       atomic.Int64
		mu          sync.Mutex
		first, last time.Time
		done        = make(chan struct{})
	)
	onRecord := func(s *record.Signed) {
		if s.Entry.GetPost() == nil || !authors[s.Author] {
			return
		}
		now := time.Now()
		switch count.Add(1) {
		case 1:
			mu.Lock()
			first = now
			mu.Unlock()
		case total:
			mu.Lock()
			last = now
			mu.Unlock()
			close(done)
		}
	}

	dir, err := e.tempDir("catchup-")
	if err != nil {
		return nil, err
	}
	db, err := store.Open(store.Config{Dir: dir, Neighborhood: neighborhood, Logger: e.log})
	if err != nil {
		return nil, err
	}
	defer db.Close()
	key, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		return nil, err
	}
	reg := prometheus.NewRegistry()
	m, err := mesh.New(mesh.Config{
		Key:         key,
		Store:       db,
		Name:        "fresh node",
		ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"},
		Registerer:  reg,
		Logger:      e.log,
		OnRecord:    onRecord,
	})
	if err != nil {
		return nil, err
	}
	defer m.Close()

	progress("fresh node connects and syncs %d posts", total)
	start := time.Now()
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	err = m.Connect(cctx, src.addrInfo())
	cancel()
	if err != nil {
		return nil, err
	}
	select {
	case <-done:
	case <-time.After(120 * time.Second):
		return nil, fmt.Errorf("fresh node has %d of %d posts after 120 s", count.Load(), total)
	}
	mu.Lock()
	elapsed, firstAt := last.Sub(start), first.Sub(start)
	mu.Unlock()

	complete := 0
	for _, a := range d.authors {
		h, err := db.Head(a)
		if err != nil {
			return nil, err
		}
		if h.Contig == uint64(d.perAuthor) {
			complete++
		}
	}
	rounds := counterSum(reg, "porchlight_sync_rounds_total", "role=client", "result=ok")
	received := counterSum(reg, "porchlight_sync_records_received_total")

	s := &section{title: "Catch-up"}
	rate := float64(total) / elapsed.Seconds()
	s.add(row{metric: fmt.Sprintf("fresh node has all %d posts", total), result: fmt.Sprintf("%.2f s", elapsed.Seconds()), target: "≤ 3 s", met: met(elapsed <= targetCatchup && complete == len(d.authors))})
	s.add(row{metric: "catch-up rate", result: fmt.Sprintf("%.0f posts/s", rate)})
	s.printf("A bench-side node's store holds %d posts (%d authors × %d, signed, %d-byte text, %d-byte envelopes). ",
		total, len(d.authors), d.perAuthor, e.p.textLen, len(d.recs[0].Raw))
	s.printf("A fresh node (empty Badger store, same process, TCP on 127.0.0.1) connects to it; `/porchlight/sync/2` starts on connect. ")
	s.printf("Time is from `Connect` until `OnRecord` (verified and stored) fired for the last of the %d posts.\n\n", total)
	s.printf("| | |\n|---|---:|\n")
	s.printf("| time to all posts | %.2f s |\n", elapsed.Seconds())
	s.printf("| time to first post | %s |\n", ms(firstAt))
	s.printf("| rate | %.0f posts/s |\n", rate)
	s.printf("| sync rounds (client, ok) | %.0f |\n", rounds)
	s.printf("| envelopes received by sync | %.0f |\n", received)
	s.printf("| authors complete in the fresh store afterwards | %d of %d |\n", complete, len(d.authors))
	s.printf("| for scale: `store.Ingest` of the same pre-verified records into an empty store, one goroutine | %.0f records/s (%.2f s) |\n\n",
		float64(src.n)/src.fill.Seconds(), src.fill.Seconds())
	return s, nil
}
