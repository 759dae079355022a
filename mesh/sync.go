package mesh

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"iter"
	"runtime"
	"sort"
	"sync"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"google.golang.org/protobuf/encoding/protodelim"

	"github.com/porchlight-mesh/porchlight/mesh/pb"
	"github.com/porchlight-mesh/porchlight/record"
)

// SyncProtocol is the catch-up protocol ID.
const SyncProtocol = protocol.ID("/porchlight/sync/1")

// Bounds of one sync round.
const (
	MaxSyncRecords = 2000
	MaxSyncBytes   = 2 << 20
	// maxSyncMsg bounds any one sync message on the wire: a response's
	// records plus framing, or a request's heads (about 60,000 authors).
	maxSyncMsg = MaxSyncBytes + 2*record.MaxSize + 64<<10
	// maxRounds bounds one pull, so a peer that keeps saying "more" cannot
	// hold us forever: 200 x 2,000 records.
	maxRounds    = 200
	roundTimeout = 30 * time.Second
	// followUpDelay: two gossipsub heartbeats.
	followUpDelay = 2 * time.Second
)

type syncer struct {
	m *Mesh

	mu       sync.Mutex
	inflight map[peer.ID]bool      // pulling now
	pending  map[peer.ID]bool      // to pull (value: ask to reciprocate)
	later    map[peer.ID]time.Time // mutual pulls due at a time
	wg       sync.WaitGroup        // pulls
	wake     chan struct{}
}

func newSyncer(m *Mesh) *syncer {
	return &syncer{m: m, inflight: map[peer.ID]bool{}, pending: map[peer.ID]bool{}, later: map[peer.ID]time.Time{}, wake: make(chan struct{}, 1)}
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

// run starts scheduled pulls, one goroutine per peer at a time, and
// schedules every connected peer each SyncInterval. It owns the pulls: it
// waits for them before returning.
func (s *syncer) run(ctx context.Context) error {
	defer s.wg.Wait()
	t := time.NewTicker(s.m.cfg.SyncInterval)
	defer t.Stop()
	due := time.NewTicker(followUpDelay / 4)
	defer due.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			for _, p := range s.m.host.Network().Peers() {
				s.schedule(p, false)
			}
		case now := <-due.C:
			s.mu.Lock()
			for p, at := range s.later {
				if now.After(at) {
					delete(s.later, p)
					s.pending[p] = true
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

// errRefused is a responder's refusal (another neighborhood).
var errRefused = errors.New("sync refused")

// pull runs rounds against p until it has nothing new for us.
func (s *syncer) pull(ctx context.Context, p peer.ID, mutual bool) error {
	total := 0
	defer func() {
		if total > 0 {
			s.nudgeOthers(p)
		}
	}()
	for round := 0; round < maxRounds; round++ {
		resp, err := s.round(ctx, p, mutual && round == 0)
		if err != nil {
			s.m.metrics.syncRounds.WithLabelValues("client", "error").Inc()
			if errors.Is(err, errRefused) {
				s.m.shun(p, shunOtherNeighborhood, otherNeighborhoodFor, err.Error())
			}
			return err
		}
		s.m.metrics.syncRounds.WithLabelValues("client", "ok").Inc()
		s.m.completeHandshake(p)
		added := s.apply(resp)
		total += added
		s.m.cfg.Logger.Debug("sync round", "peer", p, "records", len(resp.GetRecords()), "stubs", len(resp.GetStubs()), "new", added, "more", resp.GetMore())
		if !resp.GetMore() || added == 0 {
			s.m.firstSyncSet.Do(func() { close(s.m.firstSynced) })
		}
		if !resp.GetMore() || added == 0 {
			return nil
		}
	}
	return nil
}

// nudgeOthers asks every other connected peer to pull from us: records we
// just got by sync were not gossiped, so neighbors beyond the peer we pulled
// from would otherwise wait for their next periodic sync. It cascades only
// as far as records are new.
func (s *syncer) nudgeOthers(from peer.ID) {
	for _, q := range s.m.host.Network().Peers() {
		if q != from {
			s.schedule(q, true)
		}
	}
}

// round performs one request/response exchange.
func (s *syncer) round(ctx context.Context, p peer.ID, reciprocate bool) (*pb.SyncResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, roundTimeout)
	defer cancel()
	req, err := s.request()
	if err != nil {
		return nil, err
	}
	req.Reciprocate = reciprocate
	st, err := s.m.host.NewStream(network.WithAllowLimitedConn(ctx, "sync"), p, SyncProtocol)
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
	if r := resp.GetRefused(); r != "" {
		return nil, fmt.Errorf("%w: %s", errRefused, r)
	}
	if n := resp.GetNeighborhood(); n != s.m.cfg.Store.Neighborhood() {
		return nil, fmt.Errorf("%w: responder is in neighborhood %q", errRefused, n)
	}
	return resp, nil
}

func (s *syncer) request() (*pb.SyncRequest, error) {
	heads, err := s.m.cfg.Store.Heads()
	if err != nil {
		return nil, err
	}
	req := &pb.SyncRequest{Neighborhood: s.m.cfg.Store.Neighborhood()}
	for _, h := range heads {
		ph := &pb.Head{Author: []byte(h.Author), Contig: h.Contig, Flagged: h.Flagged}
		if h.Contig > 0 {
			ph.Id = h.ID[:]
		}
		req.Heads = append(req.Heads, ph)
	}
	if r := s.m.cfg.Rules; r != nil {
		ids, err := r.DocIDs()
		if err != nil {
			return nil, err
		}
		for _, id := range ids {
			req.DocsHave = append(req.DocsHave, id[:])
		}
	}
	return req, nil
}

// apply verifies and stores a response; it returns how many records and
// stubs were new.
func (s *syncer) apply(resp *pb.SyncResponse) int {
	added := 0
	for _, raw := range resp.GetDocs() {
		if v := s.m.ingestDoc(raw, "sync"); v.added {
			added++
			if s.m.held.take(record.IDOf(raw)) {
				s.m.relay(raw, s.m.reqs)
			}
		}
	}
	for o := range s.m.openAll(resp.GetRecords()) {
		s.m.metrics.syncRecords.Inc()
		if o.err != nil {
			s.m.refuse(o.err, "sync", pubsub.ValidationReject)
			continue
		}
		v := s.m.admit(o.s, "sync")
		if v.added {
			added++
		}
		if v.equivocation || v.added && s.m.held.take(o.s.ID) {
			s.m.relay(o.s.Raw, s.m.topicFor(o.s))
		}
	}
	// Stubs after records: a stub is accepted once the retraction that
	// names it (later in the same log) is stored.
	for _, st := range resp.GetStubs() {
		a, err := peer.IDFromBytes(st.GetAuthor())
		if err != nil || len(st.GetId()) != len(record.ID{}) {
			s.m.metrics.rejected.WithLabelValues(string(record.ReasonMalformed)).Inc()
			continue
		}
		if r := s.m.cfg.Rules; r != nil && !r.Purgeable(a) {
			s.m.metrics.rejected.WithLabelValues(string(record.ReasonRetraction)).Inc()
			continue
		}
		var id record.ID
		copy(id[:], st.GetId())
		ok, err := s.m.cfg.Store.IngestStub(a, st.GetSeq(), id)
		if err != nil {
			s.m.cfg.Logger.Error("store stub", "err", err)
		}
		if ok {
			added++
		}
	}
	return added
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

// serve answers one round.
func (s *syncer) serve(st network.Stream) {
	if !s.m.enter() {
		st.Reset()
		return
	}
	defer s.m.leave()
	defer st.Close()
	_ = st.SetDeadline(time.Now().Add(roundTimeout))
	req := new(pb.SyncRequest)
	if err := (protodelim.UnmarshalOptions{MaxSize: maxSyncMsg}).UnmarshalFrom(bufio.NewReader(st), req); err != nil {
		s.m.metrics.syncRounds.WithLabelValues("server", "bad_request").Inc()
		st.Reset()
		return
	}
	remote := st.Conn().RemotePeer()
	nb := s.m.cfg.Store.Neighborhood()
	var resp *pb.SyncResponse
	if req.GetNeighborhood() != nb {
		resp = &pb.SyncResponse{Neighborhood: nb, Refused: fmt.Sprintf("this node is in neighborhood %q, not %q", nb, req.GetNeighborhood())}
		s.m.metrics.syncRounds.WithLabelValues("server", "refused").Inc()
		s.m.refusePeer(remote, shunOtherNeighborhood, otherNeighborhoodFor, fmt.Sprintf("it asked to sync neighborhood %q", req.GetNeighborhood()))
	} else {
		// The handshake is the request naming our neighborhood; mark it
		// before building the answer, which may take a while.
		s.m.completeHandshake(remote)
		var err error
		if resp, err = s.respond(req); err != nil {
			s.m.cfg.Logger.Error("answer sync request", "peer", remote, "err", err)
			st.Reset()
			return
		}
		s.m.metrics.syncRounds.WithLabelValues("server", "ok").Inc()
		if req.GetReciprocate() {
			s.schedule(remote, false)
		}
	}
	if _, err := protodelim.MarshalTo(st, resp); err != nil {
		st.Reset()
	}
	// After a refusal the requester hangs up (see pull); guard closes the
	// connection on our side within guardEvery in any case.
}

// respond collects what the requester lacks, bounded by MaxSyncRecords and
// MaxSyncBytes.
func (s *syncer) respond(req *pb.SyncRequest) (*pb.SyncResponse, error) {
	theirs := make(map[peer.ID]*pb.Head, len(req.GetHeads()))
	for _, h := range req.GetHeads() {
		theirs[peer.ID(h.GetAuthor())] = h
	}
	heads, err := s.m.cfg.Store.Heads()
	if err != nil {
		return nil, err
	}
	// Authors the requester knows least about first, so a newcomer gets
	// every log started even when rounds are cut.
	sort.SliceStable(heads, func(i, j int) bool {
		return theirs[heads[i].Author].GetContig() < theirs[heads[j].Author].GetContig()
	})
	resp := &pb.SyncResponse{Neighborhood: s.m.cfg.Store.Neighborhood()}
	count, size := 0, 0
	if r := s.m.cfg.Rules; r != nil {
		have := make(map[record.ID]bool, len(req.GetDocsHave()))
		for _, b := range req.GetDocsHave() {
			var id record.ID
			copy(id[:], b)
			have[id] = true
		}
		docs, err := r.DocsNotIn(have)
		if err != nil {
			return nil, err
		}
		for _, d := range docs {
			if count >= MaxSyncRecords || size >= MaxSyncBytes {
				resp.More = true
				return resp, nil
			}
			resp.Docs = append(resp.Docs, d)
			count, size = count+1, size+len(d)
		}
	}
	for _, h := range heads {
		th := theirs[h.Author]
		from := th.GetContig() + 1
		if th.GetContig() > 0 && th.GetContig() <= h.Max {
			from = th.GetContig() // resend their head slot: a fork there shows up as a different ID
		}
		if h.Max < from && !(h.Flagged && !th.GetFlagged()) {
			continue
		}
		if h.Flagged && !th.GetFlagged() {
			_, proof, _, err := s.m.cfg.Store.Equivocation(h.Author)
			if err != nil {
				return nil, err
			}
			for _, raw := range proof {
				resp.Records = append(resp.Records, raw)
				count, size = count+1, size+len(raw)
			}
		}
		slots, more, err := s.m.cfg.Store.Slots(h.Author, from, MaxSyncRecords-count, MaxSyncBytes-size)
		if err != nil {
			return nil, err
		}
		for _, sl := range slots {
			if sl.Seq == th.GetContig() && string(sl.ID[:]) == string(th.GetId()) {
				continue // they have exactly this one
			}
			if sl.Raw == nil {
				resp.Stubs = append(resp.Stubs, &pb.Stub{Author: []byte(h.Author), Seq: sl.Seq, Id: sl.ID[:]})
				size += 48
			} else {
				resp.Records = append(resp.Records, sl.Raw)
				size += len(sl.Raw)
			}
			count++
		}
		if more || count >= MaxSyncRecords || size >= MaxSyncBytes {
			resp.More = true
			break
		}
	}
	return resp, nil
}
