package mesh

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pubsubpb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	rcmgr "github.com/libp2p/go-libp2p/p2p/host/resource-manager"
	"github.com/libp2p/go-libp2p/p2p/net/connmgr"
	"github.com/libp2p/go-libp2p/x/rate"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/porchlight-mesh/porchlight/record"
	"github.com/porchlight-mesh/porchlight/store"
)

// ServiceName is the mDNS service every node answers for.
const ServiceName = "_porchlight._tcp"

// TopicName returns the gossipsub topic of a neighborhood and record kind.
func TopicName(neighborhood, kind string) string {
	return fmt.Sprintf("porchlight/%s/%s/1", neighborhood, kind)
}

// Config configures New. Zero values mean "use the default".
type Config struct {
	// Key is the node's identity. Required.
	Key crypto.PrivKey
	// Store holds the logs. Required; its neighborhood is the mesh's.
	Store *store.DB
	// Name is this home's display name, published as its profile.
	Name string
	// ListenAddrs are libp2p multiaddrs to listen on. Default: TCP and
	// QUIC on port 7781, IPv4 and IPv6 (/ip4/0.0.0.0/tcp/7781,
	// /ip6/::/tcp/7781, /ip4/0.0.0.0/udp/7781/quic-v1,
	// /ip6/::/udp/7781/quic-v1).
	ListenAddrs []string
	// StaticPeers are multiaddrs (with /p2p/ID) dialled at start and whenever
	// disconnected, for networks without multicast.
	StaticPeers []string
	// MDNS turns on mDNS discovery.
	MDNS bool
	// Anchor makes this node an anchor from the start (porchlight run
	// --anchor): it takes itself to be publicly reachable and serves relay
	// reservations and circuits, AutoNAT and peer records to members. A
	// node that is not configured as one becomes one when AutoNAT finds
	// it publicly reachable.
	Anchor bool
	// Anchors are multiaddrs (with /p2p/ID) of known anchors: dialled, kept
	// connected and used for relay reservations.
	Anchors []string
	// NoNATPortMap turns off asking the router for a port mapping
	// (UPnP/NAT-PMP), which is on by default (off when every listen
	// address is a loopback one).
	NoNATPortMap bool
	// SyncInterval is how often every connected peer is synced with. Default 30 s.
	SyncInterval time.Duration
	// Horizon is how far back this node syncs feed logs it starts to
	// hold (see horizon.go). Default DefaultHorizon; negative: no horizon,
	// every record from seq 1.
	Horizon time.Duration
	// MDNSInterval is the steady-state period between mDNS queries. Default 10 s.
	MDNSInterval time.Duration
	// Registerer receives the mesh's metrics. Default: a private registry.
	Registerer prometheus.Registerer
	// Logger. Default slog.Default().
	Logger *slog.Logger
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// OnRecord, if set, is called for every record newly stored from the
	// network or written locally. It must not block.
	OnRecord func(*record.Signed)
	// OnPeers, if set, is called when a neighbor joins or leaves the peer
	// list. It must not block.
	OnPeers func()
	// Rules, if set, judges log records beyond record.Open's checks and
	// carries issuer documents (package requests).
	Rules Rules
	// Membership decides who may be a neighbor. Nil: the open policy,
	// every peer naming the neighborhood is a member.
	Membership Membership
	// HandshakeTimeout is how long a connected peer may take to complete
	// the neighborhood handshake (a sync round naming this neighborhood)
	// before it is disconnected and refused for a while. Until then no
	// gossip flows to or from it. Default DefaultHandshakeTimeout.
	HandshakeTimeout time.Duration
	// NoPeerExchange: the node neither asks its neighbors for their peers
	// nor dials from its address book; it still keeps its book and
	// answers members who ask. For tests that build a topology (a line, a
	// victim's neighbor kept apart) that introductions would undo.
	NoPeerExchange bool
	// Serve lists other neighborhoods this node serves for agency
	// requests only, at most MaxServe (an agency covering several; a node
	// bridging them). There it exchanges issuer documents and agency logs
	// only, by sync; see docs/protocol.md, "Agencies across neighborhoods".
	Serve []Served
	// Credentials, if set, returns this node's agency credentials: its
	// handshake proof in a served neighborhood.
	Credentials func() [][]byte
	// KeyMayHaveLog says the identity may have written a log before this
	// database existed: a key restored onto a fresh database. While this
	// node's own log is empty it then writes nothing, its profile
	// included, until it has synced with a neighbor, however long that
	// takes: writing seq 1 again would fork its log, and every neighbor
	// would flag the home as an equivocator for good. Package node sets it
	// unless init has just made the key.
	KeyMayHaveLog bool
	// HostOptions are appended to the libp2p options the host is built
	// with. For simulations only (go-libp2p's x/simlibp2p: a simulated
	// QUIC network in one process, see mesh/scalesim); a node leaves it
	// empty.
	HostOptions []libp2p.Option
	// PubSubOptions are applied after the node's own gossipsub options
	// (gossipOptions, mesh/gossipparams.go). For simulations only
	// (mesh/scalesim's parameter sweep: other GossipSubParams, flood
	// publishing, a tracer); a node leaves it empty.
	PubSubOptions []pubsub.Option
}

// ErrHeld is returned (wrapped) by Rules.CheckEntry for a record that cannot
// be judged yet, e.g. its credential has not arrived. The record is ignored,
// not rejected (it is not the sender's fault), and the sender is synced with:
// it holds what we lack, and the next round brings both.
var ErrHeld = errors.New("record held until what it depends on arrives")

// Rules is what a domain package adds to the mesh.
type Rules interface {
	// CheckEntry judges a verified log record, before it is stored. It
	// returns nil to accept, a *record.Invalid to refuse, or an error
	// wrapping ErrHeld.
	CheckEntry(s *record.Signed) error
	// IngestDoc verifies and stores an issuer document; added is false for
	// one already held. Errors are *record.Invalid or wrap ErrHeld.
	IngestDoc(raw []byte) (added bool, err error)
	// DocIDs lists the IDs of the documents held.
	DocIDs() ([]record.ID, error)
	// DocsNotIn returns the documents held whose IDs are not in have.
	DocsNotIn(have map[record.ID]bool) ([][]byte, error)
	// Purgeable reports whether an author's log may hold retracted slots
	// (sync stubs are refused for the others).
	Purgeable(author peer.ID) bool
}

// Mesh is a running node's network side.
type Mesh struct {
	cfg     Config
	self    peer.ID
	host    host.Host
	ps      *pubsub.PubSub
	feed    *pubsub.Topic
	sub     *pubsub.Subscription
	reqs    *pubsub.Topic
	reqSub  *pubsub.Subscription
	metrics *metrics
	peers   *peerSet
	syncer  *syncer
	abook   *addrBook

	// The heads part of the sync digest, cached until the store's next
	// write (headsDigest).
	digestMu    sync.Mutex
	digestGen   uint64
	digestHeads [32]byte
	digestOK    bool
	// traversal: anchors, reachability, NAT kind, RTTs (anchor.go).
	traversal *traversal
	// punch: DCUtR hole punching, retried (punch.go).
	punch *puncher
	// relayTracer follows this node's relay service (IsAnchor).
	relayTracer *relayTracer
	// reservations follows AutoRelay's reservations.
	reservations *reservationTracer
	held         heldSet
	clock        *clockWatch
	// refusedLogs: where the Rules last refused a record of each log (see
	// refusedLogs).
	refusedLogs refusedLogs
	// strikes counts records over the per-author limits, by sender.
	strikes strikes

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	profileMu    sync.Mutex
	firstSynced  chan struct{} // closed after the first successful sync round
	firstSyncSet sync.Once

	// inflight counts stream handlers and validations that touch the store,
	// so Close can wait for them: libp2p and gossipsub run them on their own
	// goroutines, which may outlive host.Close.
	inflightMu sync.Mutex
	closing    bool
	inflight   sync.WaitGroup

	closeOnce sync.Once
	closeErr  error

	scoreMu sync.Mutex
	scores  map[peer.ID]*pubsub.PeerScoreSnapshot // gossipsub's peer scores, refreshed every scoreInspectEvery

	refused refusals   // peers disconnected and refused for a while (gater)
	pending pendingSet // connected peers that have not completed the handshake
	budget  peerBudget // per-peer gossip budget

	// mustRecover: KeyMayHaveLog and the own log was empty at start; no
	// write until firstSynced.
	mustRecover bool

	// hints: the served neighborhood of each static peer of Config.Serve,
	// and of peers of served neighborhoods found by mDNS.
	hintsMu sync.Mutex
	hints   map[peer.ID]string
}

// scoreInspectEvery is how often gossipsub reports its peer scores to
// PeerScore.
const scoreInspectEvery = time.Second

// PeerScore is gossipsub's score of a connected peer as of the last second,
// and whether the peer was scored. A score below the graylist threshold
// (-400, see scoreThresholds) means this node ignores everything the peer
// sends on gossipsub.
//
// A peer that has not completed the neighborhood handshake scores far
// below the threshold (see notNeighborScore).
func (m *Mesh) PeerScore(p peer.ID) (float64, bool) {
	m.scoreMu.Lock()
	defer m.scoreMu.Unlock()
	s, ok := m.scores[p]
	if !ok {
		return 0, false
	}
	return s.Score, true
}

// behaviourScore is the peer's score without the handshake term: what it
// earned by what it sent.
func (m *Mesh) behaviourScore(p peer.ID) (float64, bool) {
	m.scoreMu.Lock()
	defer m.scoreMu.Unlock()
	s, ok := m.scores[p]
	if !ok {
		return 0, false
	}
	return s.Score - s.AppSpecificScore, true
}

func (m *Mesh) inspectScores(scores map[peer.ID]*pubsub.PeerScoreSnapshot) {
	m.scoreMu.Lock()
	defer m.scoreMu.Unlock()
	m.scores = scores
}

// enter registers work that uses the store; false once Close has begun.
func (m *Mesh) enter() bool {
	m.inflightMu.Lock()
	defer m.inflightMu.Unlock()
	if m.closing {
		return false
	}
	m.inflight.Add(1)
	return true
}

func (m *Mesh) leave() { m.inflight.Done() }

// New starts the host, joins the neighborhood's topics and starts discovery
// and sync. Close stops all of it.
func New(cfg Config) (m *Mesh, err error) {
	if cfg.Key == nil {
		return nil, errors.New("mesh: Key is required")
	}
	if cfg.Store == nil {
		return nil, errors.New("mesh: Store is required")
	}
	if len(cfg.ListenAddrs) == 0 {
		cfg.ListenAddrs = []string{"/ip4/0.0.0.0/tcp/7781", "/ip6/::/tcp/7781",
			"/ip4/0.0.0.0/udp/7781/quic-v1", "/ip6/::/udp/7781/quic-v1"}
	}
	if cfg.SyncInterval == 0 {
		cfg.SyncInterval = 30 * time.Second
	}
	if cfg.MDNSInterval == 0 {
		cfg.MDNSInterval = 10 * time.Second
	}
	if cfg.Registerer == nil {
		cfg.Registerer = prometheus.NewRegistry()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.HandshakeTimeout == 0 {
		cfg.HandshakeTimeout = DefaultHandshakeTimeout
	}
	static, err := parsePeers(cfg.StaticPeers)
	if err != nil {
		return nil, err
	}
	servedStatic, hints, err := checkServe(cfg.Store.Neighborhood(), cfg.Serve)
	if err != nil {
		return nil, err
	}
	static = append(static, servedStatic...)
	self, err := peer.IDFromPrivateKey(cfg.Key)
	if err != nil {
		return nil, fmt.Errorf("mesh: identity: %w", err)
	}
	anchors, err := parsePeers(cfg.Anchors)
	if err != nil {
		return nil, fmt.Errorf("anchor: %w", err)
	}
	// A home keeps a few dozen connections; an anchor one per member
	// holding a reservation (libp2p's relay tags them, but trimming below
	// the street's size would drop reservations all the same).
	low, high := 64, 128
	if cfg.Anchor {
		low, high = MaxReservations, anchorConns
	}
	cm, err := connmgr.NewConnManager(low, high, connmgr.WithGracePeriod(time.Minute))
	if err != nil {
		return nil, err
	}
	rm, err := resourceManager(cfg.Anchor)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	m = &Mesh{
		cfg:         cfg,
		self:        self,
		metrics:     newMetrics(cfg.Registerer),
		peers:       newPeerSet(cfg.OnPeers),
		firstSynced: make(chan struct{}),
		hints:       hints,
		ctx:         ctx,
		cancel:      cancel,
	}
	m.traversal = newTraversal(m, anchors)
	m.relayTracer = &relayTracer{m: m.metrics}
	m.reservations = newReservationTracer(m.metrics)
	h, err := libp2p.New(m.hostOptions(cm, rm)...)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("mesh: start libp2p host on %v: %w", cfg.ListenAddrs, err)
	}
	m.host = h
	_ = cfg.Registerer.Register(newScoreCollector(m))
	_ = cfg.Registerer.Register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "porchlight_relayed_connections",
		Help: "Connections of this node that go through an anchor's relay (/p2p-circuit).",
	}, m.relayedConns))
	// A failure from here on closes what was started; built, because the
	// error returns set m to nil.
	built := m
	defer func() {
		if err != nil {
			built.Close()
		}
	}()
	if cfg.KeyMayHaveLog {
		own, err := cfg.Store.Head(self)
		if err != nil {
			return nil, fmt.Errorf("mesh: read own log: %w", err)
		}
		m.mustRecover = own.Max == 0
	}
	if m.abook, err = newAddrBook(m); err != nil {
		return nil, fmt.Errorf("mesh: %w", err)
	}
	m.syncer = newSyncer(m)
	m.clock = newClockWatch(m, cfg.Registerer)
	h.SetStreamHandler(SyncProtocol, m.syncer.serve)
	h.SetStreamHandler(PeersProtocol, m.abook.serve)

	topic := TopicName(cfg.Store.Neighborhood(), "feed")
	reqTopic := TopicName(cfg.Store.Neighborhood(), "requests")
	policy := gossipPolicy{peers: m.peers, reqs: reqTopic}
	m.ps, err = pubsub.NewGossipSub(ctx, gossipHost{h, policy, cfg.Logger},
		pubsub.WithMessageIdFn(func(pm *pubsubpb.Message) string {
			id := sha256.Sum256(pm.Data)
			return string(id[:])
		}),
		// Every record carries its author's signature and the message ID is
		// the hash of the data, so gossipsub's own per-message signature
		// would be a second Ed25519 sign and verify per hop for nothing;
		// and without author fields (from, seqno) any StrictNoSign client
		// reads our messages, and the seqno no longer tells when we started.
		pubsub.WithMessageSignaturePolicy(pubsub.StrictNoSign),
		pubsub.WithNoAuthor(),
		// Only neighbors (handshake completed) exchange topic traffic, as
		// policy says: an agency that is not a member gets the requests
		// topic only. The filter covers grafts, IHAVE/IWANT and mesh and
		// fanout choices, appScore the rest (publishes, inbound RPCs), and
		// inspectRPC drops strangers' messages before pubsub looks at
		// them. All three act on gossipsub's view of the peer, which lags
		// (see wireGate): gossipHost checks each RPC as it leaves.
		pubsub.WithPeerFilter(policy.allows),
		pubsub.WithAppSpecificRpcInspector(m.inspectRPC),
		pubsub.WithPeerScore(scoreParams(m.appScore, topic, reqTopic), scoreThresholds()),
		pubsub.WithPeerScoreInspect(pubsub.ExtendedPeerScoreInspectFn(m.inspectScores), scoreInspectEvery),
		pubsub.WithMaxMessageSize(maxRPCSize),
		// The validation queue is shared by all peers; gossipsub's default
		// (32) overflows on one neighbor's burst (PeerRecordBurst), and an
		// honest message arriving then would be lost to gossip.
		pubsub.WithValidateQueueSize(validateQueueSize),
		pubsub.WithRawTracer(dropTracer{m.metrics}),
		pubsub.WithLogger(cfg.Logger.With("component", "pubsub")),
		pubsub.WithRPCLogger(slog.New(rpcDropLog{cfg.Logger.Handler(), m.metrics}).With("component", "pubsub", "system", "pubsub/rpc")),
		gossipOptions(cfg.PubSubOptions),
	)
	if err != nil {
		return nil, fmt.Errorf("mesh: start gossipsub: %w", err)
	}
	if m.feed, m.sub, err = m.join(topic); err != nil {
		return nil, err
	}
	if m.reqs, m.reqSub, err = m.join(reqTopic); err != nil {
		return nil, err
	}

	h.Network().Notify(&network.NotifyBundle{
		ConnectedF: func(_ network.Network, c network.Conn) {
			if !m.peers.has(c.RemotePeer()) {
				m.pending.add(c.RemotePeer(), m.cfg.Now())
			}
			m.syncer.schedule(c.RemotePeer(), true)
		},
		DisconnectedF: func(n network.Network, c network.Conn) {
			if !m.connected(c.RemotePeer()) {
				m.peers.remove(c.RemotePeer())
				m.pending.remove(c.RemotePeer())
				m.abook.disconnected(c.RemotePeer())
			}
		},
	})
	for _, sub := range []*pubsub.Subscription{m.sub, m.reqSub} {
		m.goLoop(func(ctx context.Context) error { return readLoop(ctx, sub) })
	}
	for _, t := range []*pubsub.Topic{m.feed, m.reqs} {
		m.goLoop(func(ctx context.Context) error { return m.topicEvents(ctx, t) })
	}
	m.goLoop(m.syncer.run)
	m.goLoop(m.pruneLoop)
	m.goLoop(m.guard)
	m.goLoop(m.abook.run)
	m.goLoop(m.abook.watchIdentify)
	if len(static) > 0 {
		m.goLoop(func(ctx context.Context) error { return m.dialStatic(ctx, static) })
	}
	if cfg.MDNS {
		d, err := newDiscovery(m)
		if err != nil {
			return nil, err
		}
		m.goLoop(d.run)
	}
	m.goLoop(m.profileAfterSync)
	if err := m.traversal.start(); err != nil {
		return nil, fmt.Errorf("mesh: %w", err)
	}
	if m.punch, err = newPuncher(m); err != nil {
		return nil, fmt.Errorf("mesh: %w", err)
	}
	m.goLoop(m.punch.run)
	return m, nil
}

// Stream limits of the resource manager (see resourceManager).
const (
	// SyncStreamsPerPeer bounds the sync rounds one peer may have open with
	// this node at once; a round is one stream. Honest peers use one.
	SyncStreamsPerPeer = 4
	// StreamsPerPeerPerProtocol bounds one peer's inbound streams of every
	// other protocol of ours (the clip and share protocols, gossipsub's one
	// stream) at once; libp2p's services keep their own limits.
	StreamsPerPeerPerProtocol = 16
)

// resourceManager is go-libp2p's default resource manager (limits scaled to
// the machine: connections, streams, memory and file descriptors, for the
// whole node and per peer; the built-in services' own limits) with tighter
// per-peer stream limits on every protocol. The defaults let one peer open
// 64 or more inbound streams of each protocol, and every one of ours costs
// a goroutine, buffers and a database read; a home hub needs a handful per
// neighbor. Streams over a limit are reset before their handler runs.
//
// An anchor (Config.Anchor) accepts a connection from every member of a
// street: libp2p scales its connection limits to the machine's memory,
// which on a small VPS is 64 inbound connections.
func resourceManager(anchor bool) (network.ResourceManager, error) {
	limits := rcmgr.DefaultLimits
	libp2p.SetDefaultServiceLimits(&limits)
	limits.ProtocolPeerBaseLimit.StreamsInbound = StreamsPerPeerPerProtocol
	limits.ProtocolPeerBaseLimit.Streams = 2 * StreamsPerPeerPerProtocol
	limits.ProtocolPeerLimitIncrease.StreamsInbound = 0
	limits.ProtocolPeerLimitIncrease.Streams = 0
	limits.AddProtocolPeerLimit(SyncProtocol,
		rcmgr.BaseLimit{StreamsInbound: SyncStreamsPerPeer, StreamsOutbound: SyncStreamsPerPeer, Streams: 2 * SyncStreamsPerPeer, Memory: 16 << 20},
		rcmgr.BaseLimitIncrease{})
	scaled := limits.AutoScale()
	if anchor {
		raise := func(l *rcmgr.ResourceLimits) {
			for _, v := range []*rcmgr.LimitVal{&l.ConnsInbound, &l.Conns} {
				if *v != rcmgr.Unlimited && *v < anchorConns {
					*v = anchorConns
				}
			}
		}
		sys := scaled.ToPartialLimitConfig()
		raise(&sys.System)
		scaled = sys.Build(scaled)
	}
	perIP, burst, rps := homeConnsPerIP, homeConnsPerIP, 1.0
	if anchor {
		perIP, burst, rps = anchorConnsPerIP, anchorConnsPerIP, 4
	}
	rm, err := rcmgr.NewResourceManager(rcmgr.NewFixedLimiter(scaled),
		rcmgr.WithLimitPerSubnet(
			[]rcmgr.ConnLimitPerSubnet{{PrefixLength: 32, ConnCount: perIP}},
			[]rcmgr.ConnLimitPerSubnet{{PrefixLength: 56, ConnCount: perIP}, {PrefixLength: 48, ConnCount: 4 * perIP}}),
		rcmgr.WithConnRateLimiters(&rate.Limiter{
			// Loopback is never limited (libp2p's default too).
			NetworkPrefixLimits: []rate.PrefixLimit{
				{Prefix: netip.MustParsePrefix("127.0.0.0/8")},
				{Prefix: netip.MustParsePrefix("::1/128")},
			},
			SubnetRateLimiter: rate.SubnetLimiter{
				IPv4SubnetLimits: []rate.SubnetLimit{{PrefixLength: 32, Limit: rate.Limit{RPS: rps, Burst: burst}}},
				IPv6SubnetLimits: []rate.SubnetLimit{
					{PrefixLength: 56, Limit: rate.Limit{RPS: rps, Burst: burst}},
					{PrefixLength: 48, Limit: rate.Limit{RPS: 4 * rps, Burst: 4 * burst}},
				},
				GracePeriod: time.Minute,
			},
		}))
	if err != nil {
		return nil, fmt.Errorf("mesh: resource manager: %w", err)
	}
	return rm, nil
}

// Connections from one IP address (an IPv4 address, an IPv6 /56) at once,
// and the burst of new ones it may open (then rps a second). libp2p's
// default, 8, refused the ninth home behind one carrier-grade NAT (or one
// router) at the anchor, and a home's neighbors may share one too.
const (
	homeConnsPerIP   = 64
	anchorConnsPerIP = 2 * MaxReservationsPerIP
)

// join registers the validator of a topic, joins and subscribes to it.
func (m *Mesh) join(name string) (*pubsub.Topic, *pubsub.Subscription, error) {
	if err := m.ps.RegisterTopicValidator(name, m.validate, pubsub.WithValidatorTimeout(10*time.Second)); err != nil {
		return nil, nil, fmt.Errorf("mesh: register validator for %s: %w", name, err)
	}
	t, err := m.ps.Join(name)
	if err != nil {
		return nil, nil, fmt.Errorf("mesh: join %s: %w", name, err)
	}
	sub, err := t.Subscribe()
	if err != nil {
		return nil, nil, fmt.Errorf("mesh: subscribe %s: %w", name, err)
	}
	return t, sub, nil
}

func (m *Mesh) goLoop(f func(context.Context) error) {
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		if err := f(m.ctx); err != nil && !errors.Is(err, context.Canceled) {
			m.cfg.Logger.Error("mesh loop stopped", "err", err)
		}
	}()
}

// Close stops discovery, sync and gossip and closes the host. It is safe to
// call more than once. It does not close the store.
func (m *Mesh) Close() error {
	m.closeOnce.Do(func() {
		m.inflightMu.Lock()
		m.closing = true
		m.inflightMu.Unlock()
		m.cancel()
		for _, sub := range []*pubsub.Subscription{m.sub, m.reqSub} {
			if sub != nil {
				sub.Cancel()
			}
		}
		for _, t := range []*pubsub.Topic{m.feed, m.reqs} {
			if t != nil {
				t.Close()
			}
		}
		if m.punch != nil {
			m.punch.close()
		}
		m.closeErr = m.host.Close()
		m.wg.Wait()
		m.inflight.Wait()
	})
	return m.closeErr
}

// ID is this node's peer ID.
func (m *Mesh) ID() peer.ID { return m.self }

// Host is the libp2p host, for packages that add their own protocols.
func (m *Mesh) Host() host.Host { return m.host }

// Addrs are the full multiaddrs (with /p2p/ID) other nodes can dial.
func (m *Mesh) Addrs() []ma.Multiaddr {
	addrs, _ := peer.AddrInfoToP2pAddrs(&peer.AddrInfo{ID: m.self, Addrs: m.host.Addrs()})
	return addrs
}

// Connect dials a peer; for tests and static peers.
func (m *Mesh) Connect(ctx context.Context, ai peer.AddrInfo) error {
	return m.host.Connect(ctx, ai)
}

func parsePeers(addrs []string) ([]peer.AddrInfo, error) {
	var out []peer.AddrInfo
	for _, s := range addrs {
		ai, err := peer.AddrInfoFromString(s)
		if err != nil {
			return nil, fmt.Errorf("static peer %q: want a multiaddr ending in /p2p/<peer ID>, e.g. /ip4/192.168.1.20/tcp/7781/p2p/12D3KooW...: %w", s, err)
		}
		out = append(out, *ai)
	}
	return out, nil
}

// dialStatic keeps static peers connected.
func (m *Mesh) dialStatic(ctx context.Context, peers []peer.AddrInfo) error {
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	for {
		for _, ai := range peers {
			if ai.ID == m.self || m.host.Network().Connectedness(ai.ID) == network.Connected {
				continue
			}
			dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			if err := m.host.Connect(dctx, ai); err != nil {
				m.cfg.Logger.Debug("static peer unreachable", "peer", ai.ID, "err", err)
			}
			cancel()
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// profileAfterSync publishes the profile once the node has caught up with
// a first peer, or after a few seconds alone; a node that must recover its
// log (KeyMayHaveLog, empty log) waits for the sync however long it takes.
func (m *Mesh) profileAfterSync(ctx context.Context) error {
	if m.mustRecover {
		m.cfg.Logger.Info("this home's key was restored onto an empty database: it writes nothing until a neighbor returns its log")
		select {
		case <-ctx.Done():
			return nil
		case <-m.firstSynced:
		}
		return m.ensureProfile()
	}
	t := time.NewTimer(3 * time.Second)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return nil
	case <-m.firstSynced:
	case <-t.C:
	}
	return m.ensureProfile()
}

// Store is the mesh's database.
func (m *Mesh) Store() *store.DB { return m.cfg.Store }

// PublishDoc stores an issuer document (verified by Rules) and gossips it.
func (m *Mesh) PublishDoc(raw []byte) error {
	if m.cfg.Rules == nil {
		return errors.New("mesh: no rules for issuer documents")
	}
	if _, err := m.cfg.Rules.IngestDoc(raw); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(m.ctx, 5*time.Second)
	defer cancel()
	if err := m.reqs.Publish(ctx, raw); err != nil {
		m.cfg.Logger.Warn("publish issuer document; peers will fetch it by sync", "err", err)
	}
	m.bridge()
	return nil
}
