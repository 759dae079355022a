package mesh

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"iter"
	"math/rand/v2"
	"runtime"
	"slices"
	"sort"
	"sync"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"golang.org/x/time/rate"
	"google.golang.org/protobuf/encoding/protodelim"
	"google.golang.org/protobuf/proto"

	"github.com/porchlight-mesh/porchlight/mesh/pb"
	"github.com/porchlight-mesh/porchlight/record"
	"github.com/porchlight-mesh/porchlight/store"
)

// SyncProtocol is the catch-up protocol ID. Version 2 pages heads and
// document IDs across rounds (version 1 listed them all in every request).
const SyncProtocol = protocol.ID("/porchlight/sync/2")

// Bounds of one sync round.
const (
	MaxSyncRecords = 2000
	MaxSyncBytes   = 2 << 20
	// MaxSyncHeads and MaxSyncDocIDs bound one request's page of heads and
	// of document IDs; a requester with more sends them over several rounds.
	MaxSyncHeads  = 4096
	MaxSyncDocIDs = 4096
	// maxSyncRequest bounds a request on the wire: a full page of heads
	// (about 85 bytes each) and of document IDs (34 bytes) is under 0.5 MiB.
	maxSyncRequest = 1 << 20
	// maxSyncMsg bounds a response on the wire: its records plus framing.
	maxSyncMsg = MaxSyncBytes + 2*record.MaxSize + 64<<10 + MaxProofBytes
	// maxRounds bounds one pull, so a peer that keeps saying "more" cannot
	// hold us forever: 200 x 2,000 records, or 200 x 4,096 heads walked.
	// A larger neighborhood finishes over the next pulls.
	maxRounds    = 200
	roundTimeout = 30 * time.Second
	// followUpDelay: two gossipsub heartbeats.
	followUpDelay = 2 * time.Second
)

// What one peer may pull from this node (see budget): sync is the one
// protocol where a small request earns a large answer.
const (
	// SyncBytesPerSecond and SyncBurstBytes are a token bucket of response
	// bytes per peer: an honest newcomer catches up on 10 MB of records from
	// one neighbor in about 5 s, a peer hammering sync gets no more.
	SyncBytesPerSecond = 2 << 20
	SyncBurstBytes     = 2*MaxSyncBytes + 4*record.MaxSize
	// SyncRoundsPerSecond and SyncRoundBurst bound rounds per peer: a pull
	// of a 40,000-author neighborhood is about ten rounds.
	SyncRoundsPerSecond = 20
	SyncRoundBurst      = 40
	// StrangerSyncBytes bounds the answer to a peer that has not yet
	// completed a round with this node: the round is the neighborhood
	// handshake, so it is answered, but small.
	StrangerSyncBytes = 256 << 10
	// budgetWait is the longest a round waits for its peer's budget before
	// it is reset; budgetIdle is how long an idle peer's budget is kept (a
	// peer that reconnects does not get a fresh burst).
	budgetWait = 10 * time.Second
	budgetIdle = time.Minute
)

type syncer struct {
	m *Mesh

	mu       sync.Mutex
	inflight map[peer.ID]bool      // pulling now
	pending  map[peer.ID]bool      // to pull (value: ask to reciprocate)
	later    map[peer.ID]time.Time // mutual pulls due at a time
	spread   map[peer.ID]time.Time // the interval's pulls, due at a time (see spreadOffset)
	wg       sync.WaitGroup        // pulls
	wake     chan struct{}

	budgetMu sync.Mutex
	budgets  map[peer.ID]*budget // what each peer may still pull
}

// budget is one peer's allowance of sync rounds and response bytes.
type budget struct {
	rounds, bytes *rate.Limiter
	used          time.Time
}

func newSyncer(m *Mesh) *syncer {
	return &syncer{m: m, inflight: map[peer.ID]bool{}, pending: map[peer.ID]bool{}, later: map[peer.ID]time.Time{}, spread: map[peer.ID]time.Time{}, wake: make(chan struct{}, 1),
		budgets: map[peer.ID]*budget{}}
}

// budgetOf returns p's budget, creating it full.
func (s *syncer) budgetOf(p peer.ID) *budget {
	s.budgetMu.Lock()
	defer s.budgetMu.Unlock()
	b := s.budgets[p]
	if b == nil {
		b = &budget{
			rounds: rate.NewLimiter(SyncRoundsPerSecond, SyncRoundBurst),
			bytes:  rate.NewLimiter(SyncBytesPerSecond, SyncBurstBytes),
		}
		s.budgets[p] = b
	}
	b.used = time.Now()
	return b
}

// pruneBudgets forgets the budgets of peers idle for budgetIdle: by then
// their buckets are full again anyway.
func (s *syncer) pruneBudgets(now time.Time) {
	s.budgetMu.Lock()
	defer s.budgetMu.Unlock()
	for p, b := range s.budgets {
		if now.Sub(b.used) > budgetIdle {
			delete(s.budgets, p)
		}
	}
}

// schedule asks for a pull from p soon; with mutual, p is asked to pull
// from us in turn. It never blocks.
func (s *syncer) schedule(p peer.ID, mutual bool) {
	if p == s.m.self || p == "" {
		return
	}
	s.mu.Lock()
	s.pending[p] = s.pending[p] || mutual
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// scheduleFollowUp asks for a mutual pull from p after followUpDelay.
// Right after two peers meet, gossip is not yet reliable between them: a
// record may be relayed before the receiver is in the relayer's topic mesh
// (grafting waits for a heartbeat). The follow-up pull collects those.
func (s *syncer) scheduleFollowUp(p peer.ID) {
	s.mu.Lock()
	s.later[p] = time.Now().Add(followUpDelay)
	s.mu.Unlock()
}

// manyNeighbors: a node with more neighbors (an anchor) pulls from each
// every other SyncInterval. Every neighbor still pulls from it each
// interval (and gets what it lacks), records reach it by gossip, and a
// neighbor that connects is pulled from at once; the anchor's 200 pulls
// a minute more were a tenth of a core.
const manyNeighbors = 64

// spreadOffset is when in each SyncInterval p is pulled from: a fixed
// point per pair of nodes, so that a node with hundreds of neighbors (an
// anchor) runs its rounds spread over the interval, not all at once (a
// burst of 200 rounds took its heap from 30 to 50 MB every 30 s), and
// each neighbor is still pulled once an interval. Short intervals (tests)
// are not spread.
func (s *syncer) spreadOffset(p peer.ID) time.Duration {
	every := s.m.cfg.SyncInterval
	if every < 5*time.Second {
		return 0
	}
	h := fnv.New64a()
	h.Write([]byte(s.m.self))
	h.Write([]byte(p))
	return time.Duration(h.Sum64() % uint64(every-followUpDelay))
}

// run starts scheduled pulls, one goroutine per peer at a time, and
// schedules every connected peer each SyncInterval (spread over it). It owns the pulls: it
// waits for them before returning.
func (s *syncer) run(ctx context.Context) error {
	defer s.wg.Wait()
	t := time.NewTicker(s.m.cfg.SyncInterval)
	defer t.Stop()
	due := time.NewTicker(followUpDelay / 4)
	defer due.Stop()
	var ticks uint64
	for {
		select {
		case <-ctx.Done():
			return nil
		case now := <-t.C:
			ticks++
			peers := s.m.host.Network().Peers()
			s.mu.Lock()
			for _, p := range peers {
				off, every := s.spreadOffset(p), uint64(1)
				if len(peers) > manyNeighbors {
					every = 2
				}
				if (uint64(off)+ticks)%every == 0 {
					s.spread[p] = now.Add(off)
				}
			}
			s.mu.Unlock()
			s.pruneBudgets(now)
		case now := <-due.C:
			s.mu.Lock()
			for p, at := range s.later {
				if now.After(at) {
					delete(s.later, p)
					s.pending[p] = true
				}
			}
			for p, at := range s.spread {
				if !now.Before(at) {
					delete(s.spread, p)
					s.pending[p] = s.pending[p] || false
				}
			}
			s.mu.Unlock()
		case <-s.wake:
		}
		s.mu.Lock()
		for p := range s.pending {
			if !s.inflight[p] {
				s.inflight[p] = true
				s.wg.Add(1)
				go s.pullLoop(ctx, p)
			}
		}
		s.mu.Unlock()
	}
}

// pullLoop pulls from p while pulls for it are pending.
func (s *syncer) pullLoop(ctx context.Context, p peer.ID) {
	defer s.wg.Done()
	for {
		s.mu.Lock()
		mutual, ok := s.pending[p]
		delete(s.pending, p)
		if !ok || ctx.Err() != nil {
			delete(s.inflight, p)
			s.mu.Unlock()
			return
		}
		s.mu.Unlock()
		if err := s.pull(ctx, p, mutual); err != nil && ctx.Err() == nil {
			s.m.cfg.Logger.Debug("sync with peer failed", "peer", p, "err", err)
		}
	}
}

// errRefused is a responder's refusal (another neighborhood);
// errNotMember, its refusal of a peer it does not count a member.
var (
	errRefused   = errors.New("sync refused")
	errNotMember = fmt.Errorf("%w: not a member", errRefused)
)

// refusedNotMember is the refusal a responder sends a peer whose proof
// shows no membership.
const refusedNotMember = "not a member of this neighborhood"

// pull runs rounds against p until it has walked every page of heads and
// document IDs, or a round brings nothing new.
func (s *syncer) pull(ctx context.Context, p peer.ID, mutual bool) error {
	total := 0
	defer func() {
		if total > 0 {
			s.nudgeOthers(p)
		}
	}()
	st := s.m.peers.standing(p)
	hood, known := s.m.hoodFor(p)
	if st == Stranger && !known && !s.m.dialed(p) {
		// This node serves several neighborhoods and does not know p's:
		// p dialled us, and its first request names its own.
		return nil
	}
	if hood != "" {
		st = Agency // a served neighborhood: requests only (see restricted)
	}
	if st == Stranger && s.m.cfg.Membership != nil && hood == "" {
		if !s.m.dialed(p) {
			// A peer that dialled us speaks first: its handshake request
			// carries its proof, and we pull once it has proved itself
			// (it asks us to). Our proof names members: a stranger that
			// connects gets nothing.
			return nil
		}
		var err error
		if st, err = s.handshake(ctx, p, mutual); err != nil {
			return err
		}
		mutual = false // asked in the handshake
	}
	if st == Member {
		inSync, err := s.digestRound(ctx, p, mutual)
		if err != nil {
			return err
		}
		if inSync {
			s.m.firstSyncSet.Do(func() { close(s.m.firstSynced) })
			return nil
		}
		mutual = false // asked in the digest round
	}
	for i, hz := range s.m.passes(st) {
		n, again, err := s.pass(ctx, p, st, hood, mutual && i == 0, hz)
		total += n
		if err != nil {
			return err
		}
		if again {
			// A pass ran out of rounds while still moving: go on soon
			// (a newcomer's backfill is hundreds of rounds).
			defer s.schedule(p, false)
			break
		}
	}
	s.m.firstSyncSet.Do(func() { close(s.m.firstSynced) })
	return nil
}

// pass runs rounds against p for one horizon (see horizon.go) until it has
// walked every page of heads and document IDs, or a round brings nothing
// new. again reports that it stopped at maxRounds while still moving.
func (s *syncer) pass(ctx context.Context, p peer.ID, st Standing, hood string, mutual bool, horizon int64) (total int, again bool, err error) {
	c := cursor{horizon: horizon}
	for round := 0; round < maxRounds; round++ {
		req, err := s.request(&c, st)
		if err != nil {
			return total, false, err
		}
		req.Reciprocate = mutual && round == 0
		req.Neighborhood, req.RequestsOnly = s.m.name(hood), hood != ""
		req.Horizon = horizon
		if round == 0 && (s.m.cfg.Membership != nil || hood != "") {
			// The peer may not have read our proof yet (we answered its
			// handshake, and its reading races this pull): a first round
			// always carries it. A responder reads it only from a peer it
			// does not know yet.
			req.Proof = s.m.proofFor(hood)
		}
		resp, err := s.round(ctx, p, req)
		if err != nil {
			s.m.metrics.syncRounds.WithLabelValues("client", "error").Inc()
			if errors.Is(err, errRefused) {
				s.m.shun(p, shunOtherNeighborhood, otherNeighborhoodFor, err.Error())
			}
			return total, false, err
		}
		s.m.metrics.syncRounds.WithLabelValues("client", "ok").Inc()
		if s.m.cfg.Membership == nil || hood != "" {
			s.m.completeHandshakeIn(p, Member, hood)
		}
		added, held := s.apply(p, resp)
		total += added
		c.heldDocs = c.heldDocs || held
		s.m.cfg.Logger.Debug("sync round", "peer", p, "records", len(resp.GetRecords()), "stubs", len(resp.GetStubs()), "back", len(resp.GetBack()), "docs", len(resp.GetDocs()), "new", added, "more", resp.GetMore())
		moved, err := c.advance(req, resp)
		if err != nil {
			s.m.metrics.syncRounds.WithLabelValues("client", "error").Inc()
			return total, false, fmt.Errorf("sync with %s: %w", p, err)
		}
		moved = c.againForHeld() || moved
		if c.done() || added == 0 && !moved {
			return total, false, nil
		}
	}
	return total, true, nil
}

// digestRound opens a pull with a member by comparing digests of
// everything both hold (syncDigest): most periodic pulls find gossip has
// already brought both sides the same, and end here, after one small
// round instead of pages of heads and document IDs.
func (s *syncer) digestRound(ctx context.Context, p peer.ID, mutual bool) (inSync bool, err error) {
	d, err := s.m.syncDigest()
	if err != nil {
		return false, err
	}
	req := &pb.SyncRequest{
		Neighborhood: s.m.cfg.Store.Neighborhood(),
		SkipHeads:    true,
		SkipDocs:     true,
		Reciprocate:  mutual,
		Digest:       d,
	}
	if s.m.cfg.Membership != nil {
		req.Proof = s.m.proof() // as in any first round; see pull
	}
	resp, err := s.round(ctx, p, req)
	if err != nil {
		s.m.metrics.syncRounds.WithLabelValues("client", "error").Inc()
		if errors.Is(err, errRefused) {
			s.m.shun(p, shunOtherNeighborhood, otherNeighborhoodFor, err.Error())
		}
		return false, err
	}
	s.m.metrics.syncRounds.WithLabelValues("client", "ok").Inc()
	if resp.GetInSync() {
		s.m.metrics.syncInSync.Inc()
	}
	return resp.GetInSync(), nil
}

// syncDigest is SHA-256 over the heads digest (headsDigest) and every
// document ID a member is offered, sorted. Two members with equal digests
// hold the same logs up to the same positions and the same documents, so a
// pull between them would move nothing.
func (m *Mesh) syncDigest() ([]byte, error) {
	heads, err := m.headsDigest()
	if err != nil {
		return nil, err
	}
	h := sha256.New()
	h.Write(heads[:])
	if m.cfg.Rules != nil || m.cfg.Membership != nil {
		ids, err := m.docIDs(Member)
		if err != nil {
			return nil, err
		}
		sort.Slice(ids, func(i, j int) bool { return bytes.Compare(ids[i][:], ids[j][:]) < 0 })
		for _, id := range ids {
			h.Write(id[:])
		}
	}
	return h.Sum(nil), nil
}

// headsDigest is SHA-256 over every head this node holds, in the store's
// author order (per head: author length, author, contig, ID at contig,
// flagged). It is cached until the store's next write (store.Generation):
// an anchor answers hundreds of digest rounds a minute, and walking every
// head for each was a tenth of its CPU.
func (m *Mesh) headsDigest() ([sha256.Size]byte, error) {
	gen := m.cfg.Store.Generation() // read before the heads: see Generation
	m.digestMu.Lock()
	if m.digestOK && m.digestGen == gen {
		d := m.digestHeads
		m.digestMu.Unlock()
		return d, nil
	}
	m.digestMu.Unlock()
	var sum [sha256.Size]byte
	h := sha256.New()
	var after peer.ID
	var buf [8]byte
	for {
		heads, err := m.cfg.Store.HeadsAfter(after, MaxSyncHeads)
		if err != nil {
			return sum, err
		}
		for _, hd := range heads {
			h.Write([]byte{byte(len(hd.Author))})
			h.Write([]byte(hd.Author))
			binary.BigEndian.PutUint64(buf[:], hd.Contig)
			h.Write(buf[:])
			h.Write(hd.ID[:])
			if hd.Flagged {
				h.Write([]byte{1})
			} else {
				h.Write([]byte{0})
			}
			if hz := m.horizon(); hz > 0 && !hd.BackfillDone(hz) {
				// A backfill to do: never in sync with a peer that may
				// hold it (see horizon.go).
				binary.BigEndian.PutUint64(buf[:], hd.Floor)
				h.Write(buf[:])
			}
		}
		if len(heads) < MaxSyncHeads {
			break
		}
		after = heads[len(heads)-1].Author
	}
	copy(sum[:], h.Sum(nil))
	m.digestMu.Lock()
	m.digestGen, m.digestHeads, m.digestOK = gen, sum, true
	m.digestMu.Unlock()
	return sum, nil
}

// handshake is the first round with a peer that is not yet a neighbor,
// under a Membership: a node that holds an invite claims it first
// (Membership.Join); then both sides send their proofs and nothing else,
// so a stranger learns nothing of the neighborhood's logs. A responder
// that proves no standing is disconnected and refused.
func (s *syncer) handshake(ctx context.Context, p peer.ID, mutual bool) (Standing, error) {
	if err := s.m.cfg.Membership.Join(ctx, p); err != nil {
		s.m.cfg.Logger.Warn("could not join the neighborhood through this peer", "peer", p, "err", err)
	}
	req := &pb.SyncRequest{
		Neighborhood: s.m.cfg.Store.Neighborhood(),
		Proof:        s.m.proof(),
		SkipHeads:    true,
		SkipDocs:     true,
		Reciprocate:  mutual,
	}
	resp, err := s.round(ctx, p, req)
	if err != nil {
		s.m.metrics.syncRounds.WithLabelValues("client", "error").Inc()
		switch {
		case errors.Is(err, errNotMember):
			// It does not (yet) count us a member: try again soon (an
			// agency whose credential is on its way, a claim in flight).
			s.m.shun(p, shunNotMember, notMemberFor, err.Error())
		case errors.Is(err, errRefused):
			s.m.shun(p, shunOtherNeighborhood, otherNeighborhoodFor, err.Error())
		}
		return Stranger, err
	}
	s.m.metrics.syncRounds.WithLabelValues("client", "ok").Inc()
	st := s.m.ingestProof(p, resp.GetProof())
	if st == Stranger {
		// Not shunned here: it may be claiming an invite with us right
		// now (Membership.Join). It stays no neighbor; its own handshake
		// request is refused, and guard disconnects it after
		// HandshakeTimeout unless a later round proves it a member.
		return Stranger, fmt.Errorf("sync with %s: it is not (yet) a member of this neighborhood", p)
	}
	s.m.completeHandshake(p, st)
	return st, nil
}

// cursor is where a pull is in the author and document orders.
type cursor struct {
	after, docsAfter    []byte // exclusive; nil: from the start
	headsDone, docsDone bool
	// heldDocs: a document of this pull was held (a revocation whose
	// credential is on a later page); docsAgain: the one second pass over
	// the documents that brings it has begun.
	heldDocs, docsAgain bool
	// horizon of the pass (Unix ms, 0: none): heads whose backfill is not
	// done for it carry their floor.
	horizon int64
}

func (c *cursor) done() bool { return c.headsDone && c.docsDone }

// againForHeld starts the second pass over the documents once the first is
// done, if a document was held in it.
func (c *cursor) againForHeld() bool {
	if !c.docsDone || !c.heldDocs || c.docsAgain {
		return false
	}
	c.docsDone, c.docsAfter, c.docsAgain, c.heldDocs = false, nil, true, false
	return true
}

// advance moves c past what resp answered of req. moved reports whether
// the cursor went forward. A response whose cursors go backwards or out of
// the requested range is an error: it could keep us pulling forever.
func (c *cursor) advance(req *pb.SyncRequest, resp *pb.SyncResponse) (moved bool, err error) {
	if !req.GetSkipDocs() {
		switch {
		case resp.GetDocsCut():
			n := resp.GetDocsNextAfter()
			if !inRange(n, req.GetDocsAfter(), req.GetDocsUntil(), bytes.Compare) {
				return false, fmt.Errorf("documents cut at %x, outside the requested range", n)
			}
			moved, c.docsAfter = true, n
		case len(req.GetDocsUntil()) == 0:
			moved, c.docsDone = true, true
		default:
			moved, c.docsAfter = true, req.GetDocsUntil()
		}
	}
	if req.GetSkipHeads() {
		return moved, nil
	}
	switch {
	case resp.GetDocsCut():
		// The responder ran out of room in the documents: no heads answered.
	case resp.GetMore():
		if n := resp.GetNextAfter(); len(n) > 0 {
			if !inRange(n, req.GetAfter(), req.GetUntil(), authorCompare) {
				return false, fmt.Errorf("heads cut at %x, outside the requested range", n)
			}
			moved, c.after = true, n
		}
	case len(req.GetUntil()) == 0:
		moved, c.headsDone = true, true
	default:
		moved, c.after = true, req.GetUntil()
	}
	return moved, nil
}

// inRange reports whether after < x <= until (until empty: no upper bound).
func inRange(x, after, until []byte, cmp func(a, b []byte) int) bool {
	return cmp(x, after) > 0 && (len(until) == 0 || cmp(x, until) <= 0)
}

// authorCompare orders authors as the store does (store.AuthorLess).
func authorCompare(a, b []byte) int {
	switch {
	case store.AuthorLess(peer.ID(a), peer.ID(b)):
		return -1
	case store.AuthorLess(peer.ID(b), peer.ID(a)):
		return 1
	}
	return 0
}

// nudgeOthers asks every other connected peer to pull from us: records we
// just got by sync were not gossiped, so neighbors beyond the peer we pulled
// from would otherwise wait for their next periodic sync. It cascades only
// as far as records are new.
//
// A node with more than manyNeighbors neighbors (an anchor) nudges
// manyNeighbors of them, chosen at random: a nudge is a round both ways,
// and 200 of them for every record that came by sync doubled an anchor's
// rounds; the others get the records by gossip or their next pull.
func (s *syncer) nudgeOthers(from peer.ID) {
	peers := s.m.host.Network().Peers()
	if len(peers) > manyNeighbors+1 {
		rand.Shuffle(len(peers), func(i, j int) { peers[i], peers[j] = peers[j], peers[i] })
	}
	n := 0
	for _, q := range peers {
		if q == from {
			continue
		}
		if n == manyNeighbors {
			break
		}
		s.schedule(q, true)
		n++
	}
}

// round performs one request/response exchange.
func (s *syncer) round(ctx context.Context, p peer.ID, req *pb.SyncRequest) (*pb.SyncResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, roundTimeout)
	defer cancel()
	// Never dial for a round: pulls are for connected peers, and a round
	// that dialled a peer that refuses us would reconnect, be scheduled
	// again on connect, and spin.
	st, err := s.m.host.NewStream(network.WithNoDial(network.WithAllowLimitedConn(ctx, "sync"), "sync"), p, SyncProtocol)
	if err != nil {
		return nil, fmt.Errorf("open sync stream: %w", err)
	}
	defer st.Close()
	_ = st.SetDeadline(time.Now().Add(roundTimeout))
	if _, err := protodelim.MarshalTo(st, req); err != nil {
		st.Reset()
		return nil, fmt.Errorf("send sync request: %w", err)
	}
	if err := st.CloseWrite(); err != nil {
		st.Reset()
		return nil, err
	}
	resp := new(pb.SyncResponse)
	if err := (protodelim.UnmarshalOptions{MaxSize: maxSyncMsg}).UnmarshalFrom(bufio.NewReader(st), resp); err != nil {
		st.Reset()
		return nil, fmt.Errorf("read sync response: %w", err)
	}
	if r := resp.GetRefused(); r == refusedNotMember {
		return nil, fmt.Errorf("%w: %s", errNotMember, r)
	} else if r != "" {
		return nil, fmt.Errorf("%w: %s", errRefused, r)
	}
	if n := resp.GetNeighborhood(); n != req.GetNeighborhood() {
		return nil, fmt.Errorf("%w: responder is in neighborhood %q", errRefused, n)
	}
	return resp, nil
}

// request builds the next round's request from c: the next page of heads
// and of document IDs, each at most MaxSyncHeads / MaxSyncDocIDs long.
//
// To an agency (st) it lists only agency logs and issuer documents: an
// agency learns nothing of the members' logs.
func (s *syncer) request(c *cursor, st Standing) (*pb.SyncRequest, error) {
	req := &pb.SyncRequest{Neighborhood: s.m.cfg.Store.Neighborhood(), SkipHeads: c.headsDone, SkipDocs: c.docsDone}
	if !c.headsDone {
		heads, err := s.m.cfg.Store.HeadsAfter(peer.ID(c.after), MaxSyncHeads+1)
		if err != nil {
			return nil, err
		}
		if st == Agency {
			// The page is cut as before (so the cursor walks the same
			// order), then the members' logs are left out.
			defer func() {
				req.Heads = slices.DeleteFunc(req.Heads, func(h *pb.Head) bool { return !s.m.agencyLog(peer.ID(h.GetAuthor())) })
			}()
		}
		if len(heads) > MaxSyncHeads {
			heads = heads[:MaxSyncHeads]
			req.Until = []byte(heads[len(heads)-1].Author)
		}
		req.After = c.after
		for _, h := range heads {
			ph := &pb.Head{Author: []byte(h.Author), Contig: h.Contig, Flagged: h.Flagged}
			if h.Contig > 0 {
				ph.Id = h.ID[:]
			}
			if c.horizon > 0 && !h.BackfillDone(c.horizon) {
				ph.Floor = h.Floor
			}
			req.Heads = append(req.Heads, ph)
		}
	}
	if s.m.cfg.Rules == nil && s.m.cfg.Membership == nil {
		req.SkipDocs, c.docsDone = true, true
	} else if !c.docsDone {
		ids, err := s.m.docIDs(st)
		if err != nil {
			return nil, err
		}
		sort.Slice(ids, func(i, j int) bool { return bytes.Compare(ids[i][:], ids[j][:]) < 0 })
		i := sort.Search(len(ids), func(i int) bool { return bytes.Compare(ids[i][:], c.docsAfter) > 0 })
		ids = ids[i:]
		if len(ids) > MaxSyncDocIDs {
			ids = ids[:MaxSyncDocIDs]
			req.DocsUntil = bytes.Clone(ids[len(ids)-1][:])
			// Records may depend on documents of later pages: ask for
			// heads once the last page of documents is under way.
			req.SkipHeads = true
		}
		req.DocsAfter = c.docsAfter
		for _, id := range ids {
			req.DocsHave = append(req.DocsHave, bytes.Clone(id[:]))
		}
	}
	return req, nil
}

// apply verifies and stores a response; it returns how many documents,
// records and stubs were new, and whether a document was held (it depends
// on one not yet here).
func (s *syncer) apply(p peer.ID, resp *pb.SyncResponse) (added int, heldDocs bool) {
	for _, raw := range resp.GetDocs() {
		if !s.m.fromRestricted(p, raw, "") {
			continue
		}
		v := s.m.ingestDoc(raw, "sync")
		heldDocs = heldDocs || v.gap
		if v.added {
			added++
			if s.m.held.take(record.IDOf(raw)) {
				s.m.relay(raw, s.m.reqs)
			}
		}
	}
	starts := map[record.ID]bool{}
	for _, st := range resp.GetStarts() {
		if id, ok := stubID(st); ok {
			starts[id] = true
		}
	}
	for o := range s.m.openAll(resp.GetRecords()) {
		s.m.metrics.syncRecords.Inc()
		if o.err != nil {
			s.m.refuse(o.err, "sync", pubsub.ValidationReject)
			continue
		}
		if !s.m.fromRestricted(p, nil, o.s.Author) {
			continue
		}
		ingest := s.m.cfg.Store.Ingest
		if starts[o.s.ID] && !s.m.agencyLog(o.s.Author) {
			ingest = s.m.cfg.Store.IngestStart
		}
		v := s.m.admitBy(o.s, "sync", ingest)
		if v.added {
			added++
		}
		if v.overLimit && v.author == p {
			s.m.strike(p)
		}
		if v.equivocation || v.added && s.m.held.take(o.s.ID) {
			s.m.relay(o.s.Raw, s.m.topicFor(o.s))
		}
	}
	// Stubs after records: a stub is accepted once the retraction that
	// names it (later in the same log) is stored.
	for _, st := range resp.GetStubs() {
		if s.applyStub(st) {
			added++
		}
	}
	// Backfill last: it hangs below the floors the records above set.
	added += s.applyBack(p, resp.GetBack())
	return added, heldDocs
}

// applyStub stores a stub of a purged record if this node holds the
// author's retraction of it (store.IngestStub); it reports whether it did.
func (s *syncer) applyStub(st *pb.Stub) bool {
	a, err := peer.IDFromBytes(st.GetAuthor())
	id, okID := stubID(st)
	if err != nil || !okID {
		s.m.metrics.rejected.WithLabelValues(string(record.ReasonMalformed)).Inc()
		return false
	}
	if r := s.m.cfg.Rules; r != nil && !r.Purgeable(a) {
		s.m.metrics.rejected.WithLabelValues(string(record.ReasonRetraction)).Inc()
		return false
	}
	ok, err := s.m.cfg.Store.IngestStub(a, st.GetSeq(), id)
	if err != nil {
		s.m.cfg.Logger.Error("store stub", "err", err)
	}
	return ok
}

type opened struct {
	s   *record.Signed
	err error
}

// openAll verifies envelopes on every core and yields them in order, so a
// catch-up of thousands of records is not bound to one core's Ed25519 rate
// while storing (which must stay in log order) proceeds as they come.
func (m *Mesh) openAll(raws [][]byte) iter.Seq[opened] {
	return func(yield func(opened) bool) {
		results := make([]chan opened, len(raws))
		for i := range results {
			results[i] = make(chan opened, 1)
		}
		next := make(chan int)
		var wg sync.WaitGroup
		for range runtime.GOMAXPROCS(0) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range next {
					s, err := record.Open(raws[i], m.cfg.Now())
					results[i] <- opened{s, err}
				}
			}()
		}
		stop := make(chan struct{})
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(next)
			for i := range raws {
				select {
				case next <- i:
				case <-stop:
					return
				}
			}
		}()
		defer wg.Wait()
		defer close(stop)
		for _, r := range results {
			if !yield(<-r) {
				return
			}
		}
	}
}

// serve answers one round, within the peer's budget.
func (s *syncer) serve(st network.Stream) {
	if !s.m.enter() {
		st.Reset()
		return
	}
	defer s.m.leave()
	defer st.Close()
	_ = st.SetDeadline(time.Now().Add(roundTimeout))
	remote := st.Conn().RemotePeer()
	b := s.budgetOf(remote)
	ctx, cancel := context.WithTimeout(s.m.ctx, budgetWait)
	defer cancel()
	if err := b.rounds.Wait(ctx); err != nil {
		s.m.metrics.syncRounds.WithLabelValues("server", "rate_limited").Inc()
		st.Reset()
		return
	}
	req := new(pb.SyncRequest)
	if err := (protodelim.UnmarshalOptions{MaxSize: maxSyncRequest}).UnmarshalFrom(bufio.NewReader(st), req); err != nil {
		s.m.metrics.syncRounds.WithLabelValues("server", "bad_request").Inc()
		st.Reset()
		return
	}
	nb := req.GetNeighborhood()
	hood, errHood := s.m.matchHood(nb)
	var resp *pb.SyncResponse
	known := s.neighbor(remote)
	standing := s.m.homeStanding(remote) // a peer met in a served neighborhood proves itself here too
	switch {
	case errHood != nil:
	case hood != "":
		// A served neighborhood: whatever p is there, it gets agency logs
		// and issuer documents only, and sends nothing else.
		standing = Agency
	case standing == Stranger:
		standing = s.m.ingestProof(remote, req.GetProof())
	}
	if errHood != nil {
		// The answer does not name our neighborhood: a stranger guessing
		// IDs learns nothing from it.
		resp = &pb.SyncResponse{Refused: fmt.Sprintf("this node is not in neighborhood %q", trunc(req.GetNeighborhood(), record.MaxNeighborhoodLen))}
		s.m.metrics.syncRounds.WithLabelValues("server", "refused").Inc()
		s.m.refusePeer(remote, shunOtherNeighborhood, otherNeighborhoodFor, fmt.Sprintf("it asked to sync neighborhood %q", req.GetNeighborhood()))
	} else if standing == Stranger {
		// Not a member, nor an agency this node trusts: refused at the
		// handshake, told why, and disconnected (below).
		resp = &pb.SyncResponse{Neighborhood: nb, Refused: refusedNotMember}
		s.m.metrics.syncRounds.WithLabelValues("server", "refused").Inc()
		s.m.refusePeer(remote, shunNotMember, notMemberFor, "its proof shows no membership")
		defer func() { _ = s.m.host.Network().ClosePeer(remote) }()
	} else {
		// A peer's first round is its neighborhood handshake: answered,
		// but small, so a stranger cannot pull much before it is known.
		maxBytes := MaxSyncBytes
		if !known {
			maxBytes = StrangerSyncBytes
		}
		// The handshake is the request naming our neighborhood; mark it
		// before building the answer, which may take a while.
		s.m.completeHandshakeIn(remote, standing, hood)
		if req.GetRequestsOnly() {
			// It serves our neighborhood for requests only.
			s.m.peers.capStanding(remote)
			if standing == Member {
				standing = Agency
			}
		}
		var err error
		if d := req.GetDigest(); len(d) > 0 {
			resp, err = s.answerDigest(d, standing)
		} else {
			resp, err = s.respond(req, maxBytes, standing)
		}
		if err != nil {
			s.m.cfg.Logger.Error("answer sync request", "peer", remote, "err", err)
			st.Reset()
			return
		}
		// Wait for the bytes before sending them. A response never exceeds
		// the burst, so the wait is at most about a second.
		ctx, cancel := context.WithTimeout(s.m.ctx, budgetWait)
		defer cancel()
		if err := b.bytes.WaitN(ctx, min(proto.Size(resp), SyncBurstBytes)); err != nil {
			s.m.metrics.syncRounds.WithLabelValues("server", "rate_limited").Inc()
			st.Reset()
			return
		}
		resp.Neighborhood = nb
		if !known || len(req.GetProof()) > 0 {
			resp.Proof = s.m.proofFor(hood)
		}
		s.m.metrics.syncRounds.WithLabelValues("server", "ok").Inc()
		if req.GetReciprocate() && !resp.GetInSync() {
			s.schedule(remote, false)
		}
	}
	if _, err := protodelim.MarshalTo(st, resp); err != nil {
		st.Reset()
	}
	// After a refusal the requester hangs up (see pull); guard closes the
	// connection on our side within guardEvery in any case.
}

// answerDigest answers a digest round: in_sync if the requester, a member,
// holds exactly what this node holds. An agency is never told: what it is
// offered differs from what a member is, and so would the digests.
func (s *syncer) answerDigest(d []byte, st Standing) (*pb.SyncResponse, error) {
	resp := &pb.SyncResponse{Neighborhood: s.m.cfg.Store.Neighborhood()}
	if st != Member || len(d) != sha256.Size {
		return resp, nil
	}
	own, err := s.m.syncDigest()
	if err != nil {
		return nil, err
	}
	resp.InSync = bytes.Equal(own, d)
	return resp, nil
}

// neighbor reports whether p has completed a sync round with this node.
func (s *syncer) neighbor(p peer.ID) bool { return s.m.peers.has(p) }

// respond collects what the requester lacks in the requested page, bounded
// by MaxSyncRecords and maxBytes (at most MaxSyncBytes): documents first,
// then authors in order. Its work is bounded by the page: every author it
// walks is either listed in the request or gets at least one record.
//
// An agency (st) gets issuer documents and agency logs only.
func (s *syncer) respond(req *pb.SyncRequest, maxBytes int, st Standing) (*pb.SyncResponse, error) {
	maxBytes = min(maxBytes, MaxSyncBytes)
	resp := &pb.SyncResponse{Neighborhood: s.m.cfg.Store.Neighborhood()}
	count, size := 0, 0
	full := func() bool { return count >= MaxSyncRecords || size >= maxBytes }
	if (s.m.cfg.Rules != nil || s.m.cfg.Membership != nil) && !req.GetSkipDocs() {
		have := make(map[record.ID]bool, len(req.GetDocsHave()))
		for _, b := range req.GetDocsHave() {
			var id record.ID
			copy(id[:], b)
			have[id] = true
		}
		docs, err := s.m.docsNotIn(have, st)
		if err != nil {
			return nil, err
		}
		type doc struct {
			id  record.ID
			raw []byte
		}
		var page []doc
		for _, d := range docs {
			id := record.IDOf(d)
			if inRange(id[:], req.GetDocsAfter(), req.GetDocsUntil(), bytes.Compare) {
				page = append(page, doc{id, d})
			}
		}
		sort.Slice(page, func(i, j int) bool { return bytes.Compare(page[i].id[:], page[j].id[:]) < 0 })
		for _, d := range page {
			if full() {
				resp.More, resp.DocsCut = true, true
				break
			}
			resp.Docs = append(resp.Docs, d.raw)
			resp.DocsNextAfter = bytes.Clone(d.id[:])
			count, size = count+1, size+len(d.raw)
		}
		// The cut is in ID order; within the round, credentials go first,
		// since a revocation is held until its credential is stored.
		sort.SliceStable(resp.Docs, func(i, j int) bool {
			return !record.IsRevocation(resp.Docs[i]) && record.IsRevocation(resp.Docs[j])
		})
		if resp.DocsCut {
			return resp, nil
		}
		resp.DocsNextAfter = nil
	}
	if req.GetSkipHeads() {
		return resp, nil
	}
	theirs := make(map[peer.ID]*pb.Head, len(req.GetHeads()))
	for _, h := range req.GetHeads() {
		theirs[peer.ID(h.GetAuthor())] = h
	}
	until := req.GetUntil()
	after := peer.ID(req.GetAfter())
	for {
		heads, err := s.m.cfg.Store.HeadsAfter(after, 256)
		if err != nil {
			return nil, err
		}
		if len(heads) == 0 {
			return resp, nil
		}
		for _, h := range heads {
			if len(until) > 0 && authorCompare([]byte(h.Author), until) > 0 {
				return resp, nil
			}
			if st == Agency && !s.m.agencyLog(h.Author) {
				resp.NextAfter = []byte(h.Author)
				after = h.Author
				continue
			}
			if full() {
				resp.More = true
				return resp, nil
			}
			cut, err := s.respondAuthor(resp, req.GetHorizon(), st, h, theirs[h.Author], &count, &size, maxBytes)
			if err != nil {
				return nil, err
			}
			if cut {
				resp.More = true
				return resp, nil
			}
			// Everything of h.Author that fits was sent: a cut after this
			// point resumes after it.
			resp.NextAfter = []byte(h.Author)
			after = h.Author
		}
	}
}

// respondAuthor adds what the requester (holding th, nil if nothing) lacks
// of one author's log; cut reports that it did not all fit. With a horizon
// (Unix ms, see horizon.go), a member's feed log the requester holds
// nothing of starts at store.HorizonStart (named in resp.Starts), and the
// records below th's floor follow as backfill (resp.Back).
func (s *syncer) respondAuthor(resp *pb.SyncResponse, horizon int64, st Standing, h store.Head, th *pb.Head, count, size *int, maxBytes int) (cut bool, err error) {
	from := th.GetContig() + 1
	same := th.GetContig() == h.Contig && string(th.GetId()) == string(h.ID[:])
	if th.GetContig() > 0 && th.GetContig() <= h.Max && !same {
		// Resend their head slot: a fork there shows up as a different
		// ID. When their head is ours (same seq, same ID) there is no fork
		// to show, and the store is not read at all for an author they
		// are level with: most authors of most rounds.
		from = th.GetContig()
	}
	var start uint64
	horizonLog := horizon > 0 && s.m.feedLog(st, h)
	if horizonLog && th.GetContig() == 0 && th.GetFloor() == 0 && h.Max >= from {
		if start, err = s.m.cfg.Store.HorizonStart(h.Author, horizon, MaxSyncRecords); err != nil {
			return false, err
		}
		if start > from {
			from = start
		}
	}
	backfill := horizonLog && th.GetFloor() > 1
	sendProof := h.Flagged && !th.GetFlagged()
	if h.Max < from && !sendProof && !backfill {
		return false, nil
	}
	if sendProof {
		_, proof, _, err := s.m.cfg.Store.Equivocation(h.Author)
		if err != nil {
			return false, err
		}
		for _, raw := range proof {
			resp.Records = append(resp.Records, raw)
			*count, *size = *count+1, *size+len(raw)
		}
	}
	var more bool
	if h.Max >= from {
		var slots []store.Slot
		slots, more, err = s.m.cfg.Store.Slots(h.Author, from, MaxSyncRecords-*count, maxBytes-*size)
		if err != nil {
			return false, err
		}
		for i, sl := range slots {
			if sl.Seq == th.GetContig() && string(sl.ID[:]) == string(th.GetId()) {
				continue // they have exactly this one
			}
			if i == 0 && horizonLog && sl.Seq > 1 && sl.Raw != nil && th.GetContig() == 0 && th.GetFloor() == 0 {
				// Where their copy begins: our horizon start, or our own
				// floor when we hold the log from mid-way ourselves.
				resp.Starts = append(resp.Starts, &pb.Stub{Author: []byte(h.Author), Seq: sl.Seq, Id: bytes.Clone(sl.ID[:])})
			}
			if sl.Raw == nil {
				resp.Stubs = append(resp.Stubs, &pb.Stub{Author: []byte(h.Author), Seq: sl.Seq, Id: sl.ID[:]})
				*size += 48
			} else {
				resp.Records = append(resp.Records, sl.Raw)
				*size += len(sl.Raw)
			}
			*count++
		}
	}
	if more || !backfill {
		return more, nil
	}
	if *count >= MaxSyncRecords || *size >= maxBytes {
		return true, nil
	}
	below, err := s.m.cfg.Store.SlotsBelow(h.Author, th.GetFloor(), horizon, MaxSyncRecords-*count, maxBytes-*size)
	if err != nil {
		return false, err
	}
	for _, sl := range below {
		if sl.Raw == nil {
			resp.Back = append(resp.Back, &pb.Back{Stub: &pb.Stub{Author: []byte(h.Author), Seq: sl.Seq, Id: bytes.Clone(sl.ID[:])}})
			*size += 48
		} else {
			resp.Back = append(resp.Back, &pb.Back{Record: sl.Raw})
			*size += len(sl.Raw)
		}
		*count++
	}
	// Cut when the page filled up before the backfill reached its end.
	return *count >= MaxSyncRecords || *size >= maxBytes, nil
}

// trunc cuts s to at most n bytes (for echoing a peer's input).
func trunc(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
