package mesh

import (
	"context"
	"errors"
	"log/slog"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-msgio"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

type metrics struct {
	accepted    *prometheus.CounterVec // by store outcome
	rejected    *prometheus.CounterVec // by record.Reason, or a gossip_* drop reason
	syncRounds  *prometheus.CounterVec // by role and result
	syncRecords prometheus.Counter     // envelopes received by sync
	syncInSync  prometheus.Counter     // pulls ended by equal digests
	shunned     *prometheus.CounterVec // peers disconnected and refused, by reason
	gated       prometheus.Counter     // connections and dials refused by the gater

	// Traversal (traversal.go).
	holePunches         *prometheus.CounterVec // by side and result
	reservationsHeld    prometheus.Gauge       // relay reservations this node holds
	reservationsServing prometheus.Gauge       // relay reservations this node's relay grants now
	reservationsServed  *prometheus.CounterVec // reservation requests answered, by status
	circuitsServed      *prometheus.CounterVec // circuit requests answered, by status
	circuitsActive      prometheus.Gauge       // circuits relayed now
	relayedBytes        prometheus.Counter     // bytes relayed for others
	relayRunning        prometheus.Gauge       // 1 while the relay service runs
	notServed           *prometheus.CounterVec // members-only service streams refused to strangers, by protocol
}

func newMetrics(r prometheus.Registerer) *metrics {
	m := &metrics{
		accepted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "porchlight_records_validated_total",
			Help: "Valid records from the network or written locally, by outcome (added, duplicate, equivocation).",
		}, []string{"outcome"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "porchlight_records_rejected_total",
			Help: "Records refused, by reason. Reasons starting with gossip_ are messages (or, for *_rpc, whole RPCs) gossipsub dropped before our validator saw them; not_neighbor counts messages from peers that have not completed the handshake, peer_rate_limited those over a peer's budget, not_member an agency's messages on the feed topic.",
		}, []string{"reason"}),
		syncRounds: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "porchlight_sync_rounds_total",
			Help: "Catch-up sync rounds, by role (client, server) and result.",
		}, []string{"role", "result"}),
		syncRecords: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "porchlight_sync_records_received_total",
			Help: "Envelopes received through catch-up sync.",
		}),
		syncInSync: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "porchlight_sync_in_sync_total",
			Help: "Pulls that ended after their first round because both sides held the same logs and documents (equal digests).",
		}),
		shunned: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "porchlight_peers_refused_total",
			Help: "Peers disconnected and refused for a while, by reason (no_handshake, other_neighborhood, not_member, flooding, graylisted).",
		}, []string{"reason"}),
		gated: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "porchlight_connections_gated_total",
			Help: "Connections and dials refused because the peer is refused for a while.",
		}),
		holePunches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "porchlight_holepunch_total",
			Help: "DCUtR hole punches this node took part in, by side (initiator, receiver; direct_dial: a direct dial tried first) and result (success, failed). Attempts are the sum.",
		}, []string{"side", "result"}),
		reservationsHeld: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "porchlight_relay_reservations_held",
			Help: "Relay reservations this node holds with anchors (AutoRelay).",
		}),
		reservationsServing: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "porchlight_relay_reservations_serving",
			Help: "Relay reservations this node, as an anchor, grants members now.",
		}),
		reservationsServed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "porchlight_relay_reservations_served_total",
			Help: "Relay reservation requests this node answered as an anchor, by status (ok, permission_denied for strangers, reservation_refused over the limits, ...).",
		}, []string{"status"}),
		circuitsServed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "porchlight_relay_circuits_served_total",
			Help: "Relayed connection requests this node answered as an anchor, by status.",
		}, []string{"status"}),
		circuitsActive: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "porchlight_relay_circuits_active",
			Help: "Connections this node relays now as an anchor.",
		}),
		relayedBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "porchlight_relay_bytes_total",
			Help: "Bytes this node relayed for members, both directions.",
		}),
		relayRunning: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "porchlight_relay_service_running",
			Help: "1 while this node serves as an anchor (relay service running).",
		}),
		notServed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "porchlight_service_refused_total",
			Help: "Streams of members-only services (AutoNAT) refused to strangers, by protocol.",
		}, []string{"protocol"}),
	}
	for _, c := range []prometheus.Collector{m.accepted, m.rejected, m.syncRounds, m.syncRecords, m.syncInSync, m.shunned, m.gated,
		m.holePunches, m.reservationsHeld, m.reservationsServing, m.reservationsServed, m.circuitsServed, m.circuitsActive,
		m.relayedBytes, m.relayRunning, m.notServed} {
		// A second mesh on the same registry (tests) keeps the first one's
		// collectors; counting continues there.
		_ = r.Register(c)
	}
	return m
}

// Rejected returns how many records were refused for reason.
func (m *Mesh) Rejected(reason string) float64 {
	return counterValue(m.metrics.rejected.WithLabelValues(reason))
}

func counterValue(c prometheus.Counter) float64 {
	var d dto.Metric
	if err := c.Write(&d); err != nil {
		return 0
	}
	return d.GetCounter().GetValue()
}

// Gossip-layer drop reasons (labels of porchlight_records_rejected_total).
const (
	ReasonNotNeighbor = "not_neighbor"
	// ReasonNotMember: an agency's message on the feed topic.
	ReasonNotMember       = "not_member"
	ReasonPeerRateLimited = "peer_rate_limited"
	ReasonGraylisted      = "gossip_graylisted"
	ReasonOversizedRPC    = "gossip_oversized_rpc"
)

// gossipDropReasons maps go-libp2p-pubsub's rejection reasons to labels.
// RejectValidationFailed and RejectValidationIgnored are our validator's
// verdicts, already counted by record reason.
var gossipDropReasons = map[string]string{
	pubsub.RejectBlacklstedPeer:      "gossip_blacklisted_peer",
	pubsub.RejectBlacklistedSource:   "gossip_blacklisted_source",
	pubsub.RejectMissingSignature:    "gossip_missing_signature",
	pubsub.RejectUnexpectedSignature: "gossip_unexpected_signature",
	pubsub.RejectUnexpectedAuthInfo:  "gossip_unexpected_auth_info",
	pubsub.RejectInvalidSignature:    "gossip_invalid_signature",
	pubsub.RejectValidationQueueFull: "gossip_validation_queue_full",
	pubsub.RejectValidationThrottled: "gossip_validation_throttled",
	pubsub.RejectSelfOrigin:          "gossip_self_origin",
}

// dropTracer counts what gossipsub drops on its own (pubsub.RawTracer).
// Its methods run on pubsub's goroutines and must not block.
type dropTracer struct{ m *metrics }

var _ pubsub.RawTracer = dropTracer{}

func (t dropTracer) RejectMessage(_ *pubsub.Message, reason string) {
	if label, ok := gossipDropReasons[reason]; ok {
		t.m.rejected.WithLabelValues(label).Inc()
	}
}

// DropRPC: an outbound RPC dropped (the peer's queue is full, or the RPC
// is over the size limit).
func (t dropTracer) DropRPC(*pubsub.RPC, peer.ID) {
	t.m.rejected.WithLabelValues("gossip_outbound_dropped_rpc").Inc()
}

// UndeliverableMessage: our own subscription did not keep up.
func (t dropTracer) UndeliverableMessage(*pubsub.Message) {
	t.m.rejected.WithLabelValues("gossip_undeliverable").Inc()
}

func (t dropTracer) ThrottlePeer(peer.ID) { t.m.rejected.WithLabelValues("gossip_throttled_rpc").Inc() }

func (dropTracer) AddPeer(peer.ID, protocol.ID)                         {}
func (dropTracer) RemovePeer(peer.ID)                                   {}
func (dropTracer) OnNewOutboundStream(peer.ID, protocol.ID)             {}
func (dropTracer) OnClosedOutboundStream(peer.ID)                       {}
func (dropTracer) Join(string)                                          {}
func (dropTracer) Leave(string)                                         {}
func (dropTracer) Graft(peer.ID, string)                                {}
func (dropTracer) Prune(peer.ID, string)                                {}
func (dropTracer) ValidateMessage(*pubsub.Message)                      {}
func (dropTracer) DeliverMessage(*pubsub.Message)                       {}
func (dropTracer) DuplicateMessage(*pubsub.Message)                     {}
func (dropTracer) RecvRPC(*pubsub.RPC)                                  {}
func (dropTracer) SendRPC(*pubsub.RPC, peer.ID)                         {}
func (dropTracer) SendRPCCompleted(*pubsub.RPC, peer.ID, time.Duration) {}

// rpcDropLog wraps pubsub's RPC logger (pubsub.WithRPCLogger). Inbound RPCs
// that pubsub drops while reading them (over the size limit, control part
// too large, not protobuf) reach no tracer hook: pubsub resets the stream
// and logs. This handler counts those log records, then passes every
// record the wrapped handler wants on.
type rpcDropLog struct {
	next slog.Handler
	m    *metrics
}

func (h rpcDropLog) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelDebug // "error reading rpc" is a Debug record
}

func (h rpcDropLog) Handle(ctx context.Context, r slog.Record) error {
	switch r.Message {
	case "error reading rpc":
		r.Attrs(func(a slog.Attr) bool {
			if err, ok := a.Value.Any().(error); ok && a.Key == "err" && errors.Is(err, msgio.ErrMsgTooLarge) {
				h.m.rejected.WithLabelValues(ReasonOversizedRPC).Inc()
				return false
			}
			return true
		})
	case "bogus rpc from":
		h.m.rejected.WithLabelValues("gossip_malformed_rpc").Inc()
	default:
		if len(r.Message) > 30 && r.Message[:30] == "RPC's control message is too l" {
			h.m.rejected.WithLabelValues("gossip_oversized_control_rpc").Inc()
		}
	}
	if h.next.Enabled(ctx, r.Level) {
		return h.next.Handle(ctx, r)
	}
	return nil
}

func (h rpcDropLog) WithAttrs(as []slog.Attr) slog.Handler {
	return rpcDropLog{h.next.WithAttrs(as), h.m}
}

func (h rpcDropLog) WithGroup(g string) slog.Handler {
	return rpcDropLog{h.next.WithGroup(g), h.m}
}

// scoreCollector exports each connected neighbor's gossipsub score at
// scrape time (porchlight_peer_score{peer}); a peer that left leaves no
// stale series.
type scoreCollector struct {
	m    *Mesh
	desc *prometheus.Desc
}

func newScoreCollector(m *Mesh) *scoreCollector {
	return &scoreCollector{m: m, desc: prometheus.NewDesc("porchlight_peer_score",
		"gossipsub's score of each connected neighbor, as of the last second; below -400 (graylisted) the peer is disconnected.",
		[]string{"peer"}, nil)}
}

func (c *scoreCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *scoreCollector) Collect(ch chan<- prometheus.Metric) {
	for _, p := range c.m.Peers() {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, p.Score, p.ID.String())
	}
}

// SyncRounds returns how many sync rounds this node ran as role ("client"
// or "server") with the given result ("ok", "error", "refused", ...).
func (m *Mesh) SyncRounds(role, result string) float64 {
	return counterValue(m.metrics.syncRounds.WithLabelValues(role, result))
}

// SyncInSync returns how many of this node's pulls ended after their
// first round because both sides held the same (equal sync digests).
func (m *Mesh) SyncInSync() float64 { return counterValue(m.metrics.syncInSync) }
