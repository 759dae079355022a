package mesh

import (
	"context"
	"iter"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/porchlight-mesh/porchlight/mesh/pb"
	"github.com/porchlight-mesh/porchlight/record"
	"github.com/porchlight-mesh/porchlight/store"
)

// The horizon in catch-up (measured in docs/benchmarks.md, "A year of a
// busy street", horizon): a pull with a member runs two passes. The first
// asks for feed logs from NewcomerWindow ago and agency logs whole, so a
// newcomer has the public record and the street's last week in seconds;
// the second asks for the rest of the horizon, which a newcomer gets as
// backfill below its logs' floors (store/horizon.go), newest first. A node
// that holds its logs already moves the same records either way: both
// passes send what it lacks above its heads.
const (
	// DefaultHorizon is how far back a node syncs (and keeps, see
	// node's horizon setting) feed posts.
	DefaultHorizon = 365 * 24 * time.Hour
	// NewcomerWindow is the first pass's horizon: the newest week of every
	// feed log.
	NewcomerWindow = 7 * 24 * time.Hour
)

// horizon returns the Unix ms before which this node does not sync feed
// logs it starts to hold, 0 for none.
func (m *Mesh) horizon() int64 {
	h := m.cfg.Horizon
	if h == 0 {
		h = DefaultHorizon
	}
	if h < 0 {
		return 0
	}
	return m.cfg.Now().Add(-h).UnixMilli()
}

// passes returns the horizons of a pull's passes with a peer of standing
// st: the window, then the horizon, for a member (or a peer of an open
// neighborhood whose first round is still to come: it is a member once
// that round names our neighborhood); one pass for an agency, which is
// sent agency logs only and they have no horizon.
func (m *Mesh) passes(st Standing) []int64 {
	full := m.horizon()
	if st == Agency || full == 0 {
		return []int64{full}
	}
	window := m.cfg.Now().Add(-NewcomerWindow).UnixMilli()
	if window <= full {
		return []int64{full}
	}
	return []int64{window, full}
}

// feedLog reports whether a's log is served from a horizon: a member's
// (agency logs are the public record, served whole).
func (m *Mesh) feedLog(st Standing, h store.Head) bool {
	return st == Member && !m.agencyLog(h.Author)
}

// applyBack stores one response's backfill in order (each author's newest
// first): records below a floor (verified as any other, and checked
// against the chain by store.IngestBelow) and stubs of records the
// responder holds no content of, which the store takes only with the
// author's retraction. It returns how many were new.
func (s *syncer) applyBack(p peer.ID, back []*pb.Back) int {
	var raws [][]byte
	for _, b := range back {
		if len(b.GetRecord()) > 0 {
			raws = append(raws, b.GetRecord())
		}
	}
	next, stop := iter.Pull(s.m.openAll(raws))
	defer stop()
	added := 0
	for _, b := range back {
		if len(b.GetRecord()) > 0 {
			o, _ := next()
			s.m.metrics.syncRecords.Inc()
			if o.err != nil {
				s.m.refuse(o.err, "sync", pubsub.ValidationReject)
				continue
			}
			if !s.m.fromRestricted(p, nil, o.s.Author) {
				continue
			}
			if v := s.m.admitBy(o.s, "sync", s.m.cfg.Store.IngestBelow); v.added {
				added++
			}
			continue
		}
		if s.applyStub(b.GetStub()) {
			added++
		}
	}
	return added
}

// stubID parses a stub's ID.
func stubID(st *pb.Stub) (record.ID, bool) {
	var id record.ID
	if len(st.GetId()) != len(id) {
		return id, false
	}
	copy(id[:], st.GetId())
	return id, true
}

// Pruning (store.PruneBefore): at most pruneBatch posts a transaction,
// pruneRest between batches so catch-up and gossip writes interleave,
// every pruneEvery (and pruneFirst after start). A batch holds the
// store's writer lock: batches of 1,000 took up to 3.8 s on a machine at
// load 28 (docs/benchmarks.md, horizon), so a quarter of that.
const (
	pruneBatch = 250
	pruneRest  = 100 * time.Millisecond
	pruneEvery = time.Hour
	pruneFirst = time.Minute
)

// pruneLoop purges the content of feed posts older than the horizon (not
// agency logs': the public record), in bounded batches.
func (m *Mesh) pruneLoop(ctx context.Context) error {
	t := time.NewTimer(pruneFirst)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if _, err := m.Prune(ctx); err != nil && ctx.Err() == nil {
			m.cfg.Logger.Warn("prune feed posts older than the horizon", "err", err)
		}
		t.Reset(pruneEvery)
	}
}

// Prune purges the content of every feed post older than the horizon now
// (see pruneLoop), batch by batch; it returns how many.
func (m *Mesh) Prune(ctx context.Context) (int, error) {
	total := 0
	for {
		cutoff := m.horizon()
		if cutoff == 0 {
			return total, nil
		}
		n, more, err := m.cfg.Store.PruneBefore(cutoff, m.agencyLog, pruneBatch)
		total += n
		if err != nil || !more {
			return total, err
		}
		select {
		case <-ctx.Done():
			return total, ctx.Err()
		case <-time.After(pruneRest):
		}
	}
}
