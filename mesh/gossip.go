package mesh

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"google.golang.org/protobuf/proto"

	pubsubpb "github.com/libp2p/go-libp2p-pubsub/pb"

	"github.com/porchlight-mesh/porchlight/record"
	"github.com/porchlight-mesh/porchlight/record/pb"
	"github.com/porchlight-mesh/porchlight/store"
)

// maxRPCSize bounds one gossipsub RPC (which may batch several records and
// control messages). A single record is bounded by record.MaxSize.
const maxRPCSize = 256 << 10

// validate is the validator of both topics. It verifies and stores each
// record before gossipsub relays it; see the package doc for the verdicts.
// from is the peer that delivered the message first.
func (m *Mesh) validate(_ context.Context, from peer.ID, msg *pubsub.Message) pubsub.ValidationResult {
	if from == m.self {
		return pubsub.ValidationAccept // our own publish: stored by AppendOwn
	}
	if !m.peers.has(from) {
		// inspectRPC drops strangers' messages; this catches one that came
		// in before pubsub scored the peer, or from a neighbor that just left.
		m.metrics.rejected.WithLabelValues(ReasonNotNeighbor).Inc()
		return pubsub.ValidationIgnore
	}
	if msg.GetTopic() == m.feed.String() && !m.isMember(from) {
		m.metrics.rejected.WithLabelValues(ReasonNotMember).Inc()
		return pubsub.ValidationReject // inspectRPC drops these; an agency has no business here
	}
	if !m.enter() {
		return pubsub.ValidationIgnore // shutting down
	}
	defer m.leave()
	var v verdict
	if record.IsDoc(msg.Data) || m.cfg.Membership != nil && m.cfg.Membership.Owns(msg.Data) {
		v = m.ingestDoc(msg.Data, "gossip")
	} else {
		var s *record.Signed
		var err error
		s, v, err = m.ingest(msg.Data, "gossip")
		m.clock.observe(from, s, msg.Data, err)
	}
	if v.overLimit && v.author == from {
		m.strike(from)
	}
	if v.gap {
		m.syncer.schedule(msg.ReceivedFrom, false)
	}
	return v.result
}

// ingestDoc verifies and stores an issuer document or a membership
// document.
func (m *Mesh) ingestDoc(raw []byte, via string) verdict {
	var added bool
	var err error
	switch {
	case m.cfg.Membership != nil && m.cfg.Membership.Owns(raw):
		added, err = m.cfg.Membership.IngestDoc(raw)
		if added && err == nil && m.abook != nil {
			m.abook.rosterGrew()
		}
	case m.cfg.Rules != nil:
		added, err = m.cfg.Rules.IngestDoc(raw)
	default:
		return verdict{result: pubsub.ValidationIgnore}
	}
	switch {
	case errors.Is(err, ErrHeld):
		m.held.add(record.IDOf(raw))
		m.metrics.rejected.WithLabelValues(string(record.ReasonHeld)).Inc()
		m.cfg.Logger.Debug("document held", "via", via, "err", err)
		return verdict{result: pubsub.ValidationIgnore, gap: true}
	case err != nil:
		return m.refuse(err, via, pubsub.ValidationReject)
	case !added:
		return verdict{result: pubsub.ValidationIgnore}
	}
	m.metrics.accepted.WithLabelValues("document").Inc()
	if !(m.cfg.Membership != nil && m.cfg.Membership.Owns(raw)) {
		m.bridge()
	}
	return verdict{result: pubsub.ValidationAccept, added: true}
}

type verdict struct {
	result       pubsub.ValidationResult
	added        bool
	gap          bool
	equivocation bool
	overLimit    bool    // a record over the per-author limits (see strike)
	author       peer.ID // its author, when overLimit
}

// ingest opens and stores one record from the network, counting and logging
// the outcome. via names the path ("gossip" or "sync") for logs.
// The error is record.Open's, when it refused the record.
func (m *Mesh) ingest(raw []byte, via string) (*record.Signed, verdict, error) {
	s, err := record.Open(raw, m.cfg.Now())
	if err != nil {
		return nil, m.refuse(err, via, pubsub.ValidationReject), err
	}
	return s, m.admit(s, via), nil
}

// admit judges an opened record by the Rules and stores it.
func (m *Mesh) admit(s *record.Signed, via string) verdict {
	return m.admitBy(s, via, m.cfg.Store.Ingest)
}

// admitBy is admit storing with ingest (store.DB's Ingest, IngestStart or
// IngestBelow: see horizon.go).
func (m *Mesh) admitBy(s *record.Signed, via string, ingest func(*record.Signed) (store.Result, error)) verdict {
	if m.cfg.Rules != nil {
		err := m.cfg.Rules.CheckEntry(s)
		if errors.Is(err, ErrHeld) {
			m.held.add(s.ID)
			m.metrics.rejected.WithLabelValues(string(record.ReasonHeld)).Inc()
			m.cfg.Logger.Debug("record held", "author", s.Author, "seq", s.Seq(), "via", via, "err", err)
			behind, why := m.refusedLogs.behind(m.cfg.Store, s)
			return verdict{result: pubsub.ValidationIgnore, gap: !behind, overLimit: behind && overLimit(why), author: s.Author}
		}
		if err != nil {
			reason := record.ReasonOf(err)
			if reason != "" {
				m.refusedLogs.add(s, reason)
			}
			v := m.refuse(err, via, pubsub.ValidationReject)
			v.overLimit, v.author = overLimit(reason), s.Author
			return v
		}
	}
	res, err := ingest(s)
	if err != nil {
		return m.refuse(err, via, pubsub.ValidationIgnore)
	}
	m.metrics.accepted.WithLabelValues(res.Outcome.String()).Inc()
	if res.Ignored != "" {
		// Stored to keep the author's chain whole, but without effect.
		m.metrics.rejected.WithLabelValues(string(res.Ignored)).Inc()
		m.cfg.Logger.Debug("record stored without effect", "reason", res.Ignored, "author", s.Author, "seq", s.Seq(), "via", via)
	}
	switch res.Outcome {
	case store.Duplicate:
		return verdict{result: pubsub.ValidationIgnore}
	case store.Equivocation:
		m.cfg.Logger.Warn("author equivocated: two records for one position in its log", "author", s.Author, "seq", s.Seq(), "via", via)
	}
	if m.cfg.OnRecord != nil {
		m.cfg.OnRecord(s)
	}
	m.bridgeRecord(s.Author)
	return verdict{result: pubsub.ValidationAccept, added: true, gap: res.Gap, equivocation: res.Outcome == store.Equivocation}
}

// refuse counts and logs a record that was not stored. def is the verdict
// for reasons that are not specifically the sender's fault.
func (m *Mesh) refuse(err error, via string, def pubsub.ValidationResult) verdict {
	reason := record.ReasonOf(err)
	if reason == "" {
		m.cfg.Logger.Error("store record", "err", err)
		m.metrics.rejected.WithLabelValues("store_error").Inc()
		return verdict{result: pubsub.ValidationIgnore}
	}
	m.metrics.rejected.WithLabelValues(string(reason)).Inc()
	m.cfg.Logger.Debug("record refused", "reason", reason, "via", via, "err", err)
	switch reason {
	case record.ReasonFuture, record.ReasonPrevMismatch, record.ReasonSeqJump:
		// Depends on our clock or our copy of the log, not the relayer's honesty.
		return verdict{result: pubsub.ValidationIgnore}
	case record.ReasonNeighborhood:
		return verdict{result: pubsub.ValidationReject}
	}
	return verdict{result: def}
}

// readLoop drains a subscription. Records were stored by the validator;
// the subscription must exist for this node to be part of the topic mesh.
func readLoop(ctx context.Context, sub *pubsub.Subscription) error {
	for {
		if _, err := sub.Next(ctx); err != nil {
			if ctx.Err() != nil || errors.Is(err, pubsub.ErrSubscriptionCancelled) {
				return nil
			}
			return err
		}
	}
}

// topicEvents pulls (mutually) from every peer that joins topic t: from
// then on our own records reach it (flood publishing, see
// gossipOptions) and others' once gossipsub grafts it, and the pull
// covers whatever either side published before.
func (m *Mesh) topicEvents(ctx context.Context, t *pubsub.Topic) error {
	h, err := t.EventHandler()
	if err != nil {
		return err
	}
	defer h.Cancel()
	for {
		ev, err := h.NextPeerEvent(ctx)
		if err != nil {
			return nil
		}
		if ev.Type == pubsub.PeerJoin {
			m.syncer.schedule(ev.Peer, true)
			m.syncer.scheduleFollowUp(ev.Peer)
		}
	}
}

// relay gossips something that arrived by sync but that gossip did not
// carry past this node: the second record of an equivocation (the proof),
// and records this node held (ignored) when gossip brought them because
// what they depend on had not arrived. Without it, nodes beyond this one
// would wait for their next periodic sync.
func (m *Mesh) relay(raw []byte, t *pubsub.Topic) {
	ctx, cancel := context.WithTimeout(m.ctx, 5*time.Second)
	defer cancel()
	if err := t.Publish(ctx, raw); err != nil {
		m.cfg.Logger.Debug("relay", "err", err)
	}
}

// heldSet remembers, boundedly, the IDs of records held at gossip time.
type heldSet struct {
	mu  sync.Mutex
	ids map[record.ID]struct{}
}

const maxHeld = 4096

func (h *heldSet) add(id record.ID) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.ids == nil || len(h.ids) >= maxHeld {
		h.ids = map[record.ID]struct{}{}
	}
	h.ids[id] = struct{}{}
}

// take reports whether id was held, forgetting it.
func (h *heldSet) take(id record.ID) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	_, ok := h.ids[id]
	delete(h.ids, id)
	return ok
}

func (m *Mesh) topicFor(s *record.Signed) *pubsub.Topic {
	switch s.Entry.GetBody().(type) {
	case *pb.Entry_Request, *pb.Entry_Update, *pb.Entry_Yield:
		return m.reqs
	}
	return m.feed
}

// publish sends a stored own record to its topic. A failure is only
// logged: the record is stored, and catch-up sync delivers it.
func (m *Mesh) publish(s *record.Signed) {
	ctx, cancel := context.WithTimeout(m.ctx, 5*time.Second)
	defer cancel()
	if err := m.topicFor(s).Publish(ctx, s.Raw); err != nil {
		m.cfg.Logger.Warn("publish record; peers will fetch it by sync", "id", s.ID, "err", err)
	}
	if m.cfg.OnRecord != nil {
		m.cfg.OnRecord(s)
	}
	m.storedRecord()
	m.bridgeRecord(s.Author)
}

// inspectRPC sees every inbound gossipsub RPC before pubsub handles it
// (pubsub.WithAppSpecificRpcInspector).
//
// A peer that has not completed the handshake keeps only its subscriptions
// (so that traffic flows once it completes); its messages and control
// messages are dropped and counted. Messages from a graylisted neighbor are
// counted here, since pubsub drops them without a trace. A neighbor's
// messages beyond its budget (see PeerRecordBurst) are dropped here, before
// they can fill gossipsub's validation queue (shared by all peers) or be
// marked seen.
//
// Messages from nodes of the previous release carry from and seqno (it
// published with author fields); pubsub in no-author mode would reject them
// and penalize the relayer. They mean nothing to us (the record carries its
// signature and the message ID is the hash of the data), so they are
// cleared. See docs/protocol.md, "Author fields": the next release drops
// this and refuses them like any StrictNoSign client.
func (m *Mesh) inspectRPC(p peer.ID, rpc *pubsub.RPC) error {
	st := m.peers.standing(p)
	if h, _ := m.peers.hoodOf(p); st == Stranger || h != "" {
		// A peer of a served neighborhood exchanges no gossip with us
		// (records cross by sync, see bridge).
		if n := len(rpc.Publish); n > 0 {
			m.metrics.rejected.WithLabelValues(ReasonNotNeighbor).Add(float64(n))
		}
		rpc.Publish, rpc.Control = nil, nil
		return nil
	}
	if st == Agency {
		// The feed is for members: an agency's messages and control
		// messages on it are dropped (it is never grafted, see the peer
		// filter, and never sent the feed).
		feed := m.feed.String()
		kept := rpc.Publish[:0]
		for _, msg := range rpc.Publish {
			if msg.GetTopic() == feed {
				m.metrics.rejected.WithLabelValues(ReasonNotMember).Inc()
				continue
			}
			kept = append(kept, msg)
		}
		rpc.Publish = kept
		if c := rpc.Control; c != nil {
			c.Ihave = slices.DeleteFunc(c.Ihave, func(x *pubsubpb.ControlIHave) bool { return x.GetTopicID() == feed })
			c.Graft = slices.DeleteFunc(c.Graft, func(x *pubsubpb.ControlGraft) bool { return x.GetTopicID() == feed })
			// IWANTs name message IDs; pubsub serves one only if the peer
			// filter lets the message's topic go to the peer.
		}
	}
	if n := len(rpc.Publish); n > 0 {
		if s, ok := m.behaviourScore(p); ok && s < GraylistThreshold {
			m.metrics.rejected.WithLabelValues(ReasonGraylisted).Add(float64(n))
			return nil // pubsub drops the whole RPC
		}
	}
	now := m.cfg.Now()
	kept := rpc.Publish[:0]
	for _, msg := range rpc.Publish {
		if !m.budget.allow(p, len(msg.GetData()), now) {
			m.metrics.rejected.WithLabelValues(ReasonPeerRateLimited).Inc()
			continue
		}
		if msg.Signature == nil && (msg.From != nil || msg.Seqno != nil || msg.Key != nil) {
			msg.From, msg.Seqno, msg.Key = nil, nil, nil
		}
		kept = append(kept, msg)
	}
	rpc.Publish = kept
	return nil
}

// notNeighborScore is the application-specific score of a peer that has
// not completed the handshake: far below GraylistThreshold, so gossipsub
// ignores its RPCs, never publishes or relays to it, never grafts it and
// sends it no gossip, once it scores the peer (until then, see wireGate).
// Scores are computed when used, so a peer that completes the handshake
// counts as a normal peer at once; its subscriptions, which pubsub records
// before the graylist check, are known already.
const notNeighborScore = -10_000

func (m *Mesh) appScore(p peer.ID) float64 {
	if m.peers.standing(p) != Stranger {
		return 0
	}
	return notNeighborScore
}

// GraylistThreshold is the peer score below which a node ignores every
// gossipsub RPC of the peer (see PeerScore).
const GraylistThreshold = -400

// scoreThresholds: a peer is graylisted (its RPCs ignored) at -400, which
// invalid messages alone reach after ~6 (see scoreParams).
func scoreThresholds() *pubsub.PeerScoreThresholds {
	return &pubsub.PeerScoreThresholds{
		SkipAtomicValidation:        true,
		GossipThreshold:             -100,
		PublishThreshold:            -200,
		GraylistThreshold:           GraylistThreshold,
		AcceptPXThreshold:           10,
		OpportunisticGraftThreshold: 2,
	}
}

// scoreParams tunes peer scoring for a small, quiet LAN mesh. Off: IP
// colocation (many homes behind one NAT address; tests on 127.0.0.1) and
// mesh message delivery rates (a neighborhood topic is silent for hours, and
// the penalty would punish honest peers for it). On: a large, squared penalty
// for invalid messages, a bounded reward for first deliveries, and the
// behaviour penalty for broken promises (IHAVE spam and the like). appScore
// keeps peers that have not completed the handshake out (see
// notNeighborScore).
func scoreParams(appScore func(peer.ID) float64, topics ...string) *pubsub.PeerScoreParams {
	p := &pubsub.PeerScoreParams{
		SkipAtomicValidation:      true,
		Topics:                    map[string]*pubsub.TopicScoreParams{},
		TopicScoreCap:             50,
		AppSpecificScore:          appScore,
		AppSpecificWeight:         1,
		IPColocationFactorWeight:  0,
		BehaviourPenaltyWeight:    -10,
		BehaviourPenaltyThreshold: 6,
		BehaviourPenaltyDecay:     pubsub.ScoreParameterDecay(10 * time.Minute),
		DecayInterval:             time.Second,
		DecayToZero:               0.01,
		RetainScore:               10 * time.Minute,
	}
	for _, topic := range topics {
		p.Topics[topic] = &pubsub.TopicScoreParams{
			SkipAtomicValidation:           true,
			TopicWeight:                    1,
			TimeInMeshWeight:               0.01,
			TimeInMeshQuantum:              time.Second,
			TimeInMeshCap:                  300,
			FirstMessageDeliveriesWeight:   1,
			FirstMessageDeliveriesDecay:    pubsub.ScoreParameterDecay(time.Hour),
			FirstMessageDeliveriesCap:      20,
			InvalidMessageDeliveriesWeight: -10,
			InvalidMessageDeliveriesDecay:  pubsub.ScoreParameterDecay(time.Hour),
		}
	}
	return p
}

// Per-peer gossip budget: every message a neighbor sends, duplicates
// included, checked in inspectRPC before gossipsub queues it for
// validation. Beyond it, messages are dropped (no penalty: the peer may be
// an honest relay of a burst) and counted as peer_rate_limited; they are
// not marked seen, so another peer's copy still gets through, and catch-up
// sync fetches whatever was lost. A neighborhood's honest traffic is a few
// records a minute, a few hundred bytes each: these bounds are 100 times
// that and more, yet cap one peer at about 2 MB a minute (it could push
// 400 MB a minute) and keep one flooding peer from filling gossipsub's
// validation queue, which all peers share.
const (
	PeerRecordBurst      = 200
	PeerRecordsPerSecond = 20
	PeerBytesBurst       = 512 << 10
	PeerBytesPerSecond   = 32 << 10
	// maxBudgets bounds the budget map; full buckets are forgotten first
	// (a fresh bucket is a full one).
	maxBudgets = 1024
	// validateQueueSize: messages waiting for a validation worker, from all
	// peers; a few bursts' worth. Each entry points at a message already
	// read (at most record.MaxSize of data).
	validateQueueSize = 4 * PeerRecordBurst
)

// peerBudget is a token bucket per peer, in records and bytes. Buckets
// outlive connections, so reconnecting does not refill one.
type peerBudget struct {
	mu    sync.Mutex
	peers map[peer.ID]*bucket
}

type bucket struct {
	records, bytes float64
	at             time.Time
}

func (b *bucket) refill(now time.Time) {
	if el := now.Sub(b.at).Seconds(); el > 0 {
		b.records = min(PeerRecordBurst, b.records+el*PeerRecordsPerSecond)
		b.bytes = min(PeerBytesBurst, b.bytes+el*PeerBytesPerSecond)
		b.at = now
	}
}

// allow takes one record of size bytes from p's budget, if it has them.
func (pb *peerBudget) allow(p peer.ID, size int, now time.Time) bool {
	pb.mu.Lock()
	defer pb.mu.Unlock()
	if pb.peers == nil {
		pb.peers = map[peer.ID]*bucket{}
	}
	b := pb.peers[p]
	if b == nil {
		if len(pb.peers) >= maxBudgets {
			for q, o := range pb.peers {
				if o.refill(now); o.records >= PeerRecordBurst && o.bytes >= PeerBytesBurst {
					delete(pb.peers, q)
				}
			}
		}
		b = &bucket{records: PeerRecordBurst, bytes: PeerBytesBurst, at: now}
		if len(pb.peers) < maxBudgets {
			pb.peers[p] = b
		}
	}
	b.refill(now)
	if b.records < 1 || b.bytes < float64(size) {
		return false
	}
	b.records--
	b.bytes -= float64(size)
	return true
}

// refusedLogs remembers, boundedly, the record of each log that the Rules
// refused last. A record held because the one before it is missing, when
// the missing one is that refused record, is not worth a sync with its
// sender: the sender holds the refused record, and the round would bring
// it (and everything after it) only to refuse it again. A flooding member
// sends thousands of them; each would cost every neighbor a sync round of
// the whole rest of its log. Periodic sync still runs.
type refusedLogs struct {
	mu   sync.Mutex
	seqs map[peer.ID]refusedAt
}

type refusedAt struct {
	seq    uint64
	reason record.Reason
}

func (r *refusedLogs) add(s *record.Signed, reason record.Reason) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.seqs == nil || len(r.seqs) >= maxHeld {
		r.seqs = map[peer.ID]refusedAt{}
	}
	r.seqs[s.Author] = refusedAt{s.Seq(), reason}
}

// behind reports whether s waits for a record of its log that was
// refused, and the reason it was.
func (r *refusedLogs) behind(db *store.DB, s *record.Signed) (bool, record.Reason) {
	r.mu.Lock()
	k, ok := r.seqs[s.Author]
	r.mu.Unlock()
	if !ok || s.Seq() <= k.seq {
		return false, ""
	}
	h, err := db.Head(s.Author)
	return err == nil && h.Contig == k.seq-1, k.reason
}

// overLimit reports whether a refusal is for breaking the per-author
// limits: a verdict every honest node reaches from the record and its
// log alone, so only the author's own node sends such records (an honest
// node never stores, so never relays, the refused record or its log past
// it).
func overLimit(r record.Reason) bool { return r == record.ReasonRate || r == record.ReasonSize }

// Flooding: a peer that sends FloodStrikes records over the per-author
// limits (refused, or held behind one refused) within a minute is
// disconnected and refused for graylistBackoff. Gossipsub's score punishes
// only what arrives by gossip; a flooder's records mostly arrive by sync.
const FloodStrikes = 50

type strikes struct {
	mu sync.Mutex
	by map[peer.ID]*strikeCount
}

type strikeCount struct {
	n     int
	since time.Time
}

// add counts one strike against p and reports whether p reached
// FloodStrikes within a minute.
func (s *strikes) add(p peer.ID, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.by == nil || len(s.by) >= maxHeld {
		s.by = map[peer.ID]*strikeCount{}
	}
	c := s.by[p]
	if c == nil || now.Sub(c.since) > time.Minute {
		c = &strikeCount{since: now}
		s.by[p] = c
	}
	c.n++
	return c.n >= FloodStrikes
}

// strike counts a record over the limits that p sent and wrote: only
// its author's own node sends such records, so a relay is never struck
// (were verdicts ever to differ between nodes, an honest relay would not
// pay for it).
func (m *Mesh) strike(p peer.ID) {
	if p == "" || p == m.self {
		return
	}
	if m.strikes.add(p, m.cfg.Now()) {
		m.shun(p, shunFlooding, graylistBackoff, fmt.Sprintf("%d records over the per-author limits within a minute", FloodStrikes))
	}
}

// gossipPolicy says which topics' gossip may flow between this node and a
// peer: every topic for a member, the requests topic for an agency of this
// neighborhood, nothing for a stranger (a peer that has not completed the
// handshake) or a peer met in a served neighborhood (records cross by
// sync, see bridge). It is gossipsub's peer filter, and wireGate enforces
// it on what leaves for the peer.
type gossipPolicy struct {
	peers *peerSet
	reqs  string // the requests topic
}

func (g gossipPolicy) allows(p peer.ID, topic string) bool {
	switch g.peers.standing(p) {
	case Member:
		return true
	case Agency:
		h, _ := g.peers.hoodOf(p)
		return topic == g.reqs && h == ""
	}
	return false
}

// gossipHost is the host gossipsub is given: the node's host, whose
// NewStream puts a wireGate on every stream gossipsub opens (one per peer,
// which carries everything gossipsub sends the peer).
type gossipHost struct {
	host.Host
	policy gossipPolicy
	log    *slog.Logger
}

func (h gossipHost) NewStream(ctx context.Context, p peer.ID, pids ...protocol.ID) (network.Stream, error) {
	s, err := h.Host.NewStream(ctx, p, pids...)
	if err != nil {
		return nil, err
	}
	return &wireGate{Stream: s, policy: h.policy, peer: p, log: h.log}, nil
}

// wireGate is the last check on gossip to a peer, made as each RPC is
// written: messages and control of topics the policy does not allow the
// peer at that moment are cut out; an RPC left empty is not sent.
//
// The peer filter, appScore and inspectRPC keep gossipsub from choosing a
// stranger, but gossipsub's choices are made on its own state, which lags
// the network's: go-libp2p-pubsub v0.19.0 learns a peer's subscriptions
// from the stream the peer opens, and scores the peer and learns that it
// speaks gossipsub only when its own stream to the peer opens. In between,
// it takes a subscribed stranger for a floodsub peer with score 0 and
// queues to it whatever is published or relayed on the topic (the flake
// of TestStrangerWithoutHandshakeGetsNoFeed: a's profile, published as the
// stranger connected). Checking at the wire does not depend on that
// timing, nor on which of gossipsub's paths chose the peer.
//
// A member's RPCs pass as they are, unparsed. The subscriptions in the
// first RPC always pass: a peer learns this node's topics before its
// handshake completes, as it would from their names.
//
// gossipsub writes one length-prefixed RPC per Write, from one goroutine;
// an RPC split across writes is put back together first.
type wireGate struct {
	network.Stream
	policy gossipPolicy
	peer   peer.ID
	log    *slog.Logger
	buf    []byte // the start of an RPC whose rest is still to come
}

// maxGossipFrame bounds an RPC the gate reassembles. Gossipsub splits or
// drops RPCs over maxRPCSize (WithMaxMessageSize), so a larger length
// means the stream is not what the gate takes it for.
const maxGossipFrame = 4 * maxRPCSize

func (w *wireGate) Write(b []byte) (int, error) {
	data := b
	if len(w.buf) > 0 {
		w.buf = append(w.buf, b...)
		data = w.buf
	}
	for len(data) > 0 {
		size, n := binary.Uvarint(data)
		if n < 0 || size > maxGossipFrame {
			return 0, fmt.Errorf("gossip to %s: RPC length prefix %x is not one gossipsub writes", w.peer, data[:min(len(data), binary.MaxVarintLen64)])
		}
		if n == 0 || uint64(len(data)-n) < size {
			break // the rest comes in the next Write
		}
		end := n + int(size)
		if err := w.send(data[:end], data[n:end]); err != nil {
			return 0, err
		}
		data = data[end:]
	}
	w.buf = append(w.buf[:0], data...)
	return len(b), nil
}

// send writes one RPC (frame, its body after the length prefix), less what
// the peer may not have.
func (w *wireGate) send(frame, body []byte) error {
	if w.policy.peers.standing(w.peer) == Member {
		_, err := w.Stream.Write(frame)
		return err
	}
	rpc := new(pubsubpb.RPC)
	if err := proto.Unmarshal(body, rpc); err != nil {
		return fmt.Errorf("gossip to %s: decode own RPC: %w", w.peer, err)
	}
	cut := withhold(rpc, func(topic string) bool { return w.policy.allows(w.peer, topic) })
	if cut == 0 {
		_, err := w.Stream.Write(frame)
		return err
	}
	w.log.Debug("gossip withheld from a peer that may not have it", "peer", w.peer, "entries", cut)
	if proto.Size(rpc) == 0 {
		return nil
	}
	out, err := proto.MarshalOptions{}.MarshalAppend(binary.AppendUvarint(nil, uint64(proto.Size(rpc))), rpc)
	if err != nil {
		return fmt.Errorf("gossip to %s: encode RPC: %w", w.peer, err)
	}
	_, err = w.Stream.Write(out)
	return err
}

// withhold removes from rpc the messages, partial messages and topic
// control (IHAVE, GRAFT, PRUNE) of topics that allowed refuses, and
// returns how many entries it removed. IWANT and IDONTWANT carry neither
// a topic nor content, only message IDs (hashes).
func withhold(rpc *pubsubpb.RPC, allowed func(topic string) bool) int {
	cut := 0
	drop := func(topic string) bool {
		if allowed(topic) {
			return false
		}
		cut++
		return true
	}
	rpc.Publish = slices.DeleteFunc(rpc.Publish, func(m *pubsubpb.Message) bool { return drop(m.GetTopic()) })
	if p := rpc.Partial; p != nil && drop(p.GetTopicID()) {
		rpc.Partial = nil
	}
	if c := rpc.Control; c != nil {
		c.Ihave = slices.DeleteFunc(c.Ihave, func(x *pubsubpb.ControlIHave) bool { return drop(x.GetTopicID()) })
		c.Graft = slices.DeleteFunc(c.Graft, func(x *pubsubpb.ControlGraft) bool { return drop(x.GetTopicID()) })
		c.Prune = slices.DeleteFunc(c.Prune, func(x *pubsubpb.ControlPrune) bool { return drop(x.GetTopicID()) })
		if proto.Size(c) == 0 {
			rpc.Control = nil
		}
	}
	return cut
}
