package main

import (
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/porchlight-mesh/porchlight/mesh"
	"github.com/porchlight-mesh/porchlight/record"
	"github.com/porchlight-mesh/porchlight/record/pb"
	"github.com/porchlight-mesh/porchlight/store"
)

// neighborhood is the one every benchmark node is in. It is the default of
// `porchlight run` on a fresh data directory, so the memory benchmark's
// child process can sync from a bench-side node.
const neighborhood = "default"

// dataset is a neighborhood's worth of signed posts: perAuthor posts in the
// log of each author, created so that sorting by created time interleaves
// the authors seq by seq (created = base + seq*authors + author ms). So the
// newest `authors` posts of the feed are exactly every author's last post.
type dataset struct {
	authors   []peer.ID
	perAuthor int
	recs      []*record.Signed // author by author, each log in seq order
	last      map[record.ID]bool
}

func newDataset(authors, perAuthor, textLen int) (*dataset, error) {
	d := &dataset{
		authors:   make([]peer.ID, authors),
		perAuthor: perAuthor,
		recs:      make([]*record.Signed, authors*perAuthor),
		last:      map[record.ID]bool{},
	}
	base := time.Now().Add(-24 * time.Hour).UnixMilli()
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
		next     = make(chan int)
	)
	for range runtime.NumCPU() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for a := range next {
				if err := d.signLog(a, base, textLen); err != nil {
					mu.Lock()
					firstErr = err
					mu.Unlock()
				}
			}
		}()
	}
	for a := range authors {
		next <- a
	}
	close(next)
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	for a := range authors {
		d.last[d.recs[a*perAuthor+perAuthor-1].ID] = true
	}
	return d, nil
}

// signLog writes author a's log into d.recs[a*perAuthor:].
func (d *dataset) signLog(a int, base int64, textLen int) error {
	key, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		return err
	}
	id, err := peer.IDFromPrivateKey(key)
	if err != nil {
		return err
	}
	d.authors[a] = id
	var prev []byte
	for i := range d.perAuthor {
		seq := uint64(i + 1)
		e := &pb.Entry{
			Author:       []byte(id),
			Seq:          seq,
			Prev:         prev,
			Created:      base + int64(seq)*int64(len(d.authors)) + int64(a),
			Neighborhood: neighborhood,
			Body:         &pb.Entry_Post{Post: &pb.Post{Kind: "general", Text: postText(fmt.Sprintf("author %d post %d", a, seq), textLen)}},
		}
		s, err := record.Seal(e, key)
		if err != nil {
			return fmt.Errorf("sign post %d of author %d: %w", seq, a, err)
		}
		d.recs[a*d.perAuthor+i] = s
		prev = s.ID[:]
	}
	return nil
}

// postText is n bytes of plain text starting with tag.
func postText(tag string, n int) string {
	const filler = " Porch light on at the corner house; package left by the side gate, please knock."
	var b strings.Builder
	b.WriteString(tag)
	for b.Len() < n {
		b.WriteString(filler)
	}
	return b.String()[:max(n, 1)]
}

// sourceNode is a bench-side node whose store holds the whole data set.
type sourceNode struct {
	db   *store.DB
	m    *mesh.Mesh
	reg  *prometheus.Registry
	fill time.Duration // time to Ingest the data set into an empty store
	n    int
}

func startSource(e *env, d *dataset) (*sourceNode, error) {
	dir := filepath.Join(e.tmp, "source")
	db, err := store.Open(store.Config{Dir: dir, Neighborhood: neighborhood, Logger: e.log})
	if err != nil {
		return nil, err
	}
	t0 := time.Now()
	for _, s := range d.recs {
		res, err := db.Ingest(s)
		if err != nil {
			db.Close()
			return nil, fmt.Errorf("pre-fill: %w", err)
		}
		if res.Outcome != store.Added {
			db.Close()
			return nil, fmt.Errorf("pre-fill: record %s %s, want added", s.ID, res.Outcome)
		}
	}
	fill := time.Since(t0)
	key, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		db.Close()
		return nil, err
	}
	reg := prometheus.NewRegistry()
	m, err := mesh.New(mesh.Config{
		Key:         key,
		Store:       db,
		Name:        "bench-source",
		ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"},
		Registerer:  reg,
		Logger:      e.log,
	})
	if err != nil {
		db.Close()
		return nil, err
	}
	return &sourceNode{db: db, m: m, reg: reg, fill: fill, n: len(d.recs)}, nil
}

func (s *sourceNode) addrInfo() peer.AddrInfo {
	return peer.AddrInfo{ID: s.m.ID(), Addrs: s.m.Host().Addrs()}
}

func (s *sourceNode) close() {
	s.m.Close()
	s.db.Close()
}

// tempDir makes a fresh directory under the run's scratch directory.
func (e *env) tempDir(prefix string) (string, error) {
	return os.MkdirTemp(e.tmp, prefix)
}
