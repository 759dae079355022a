package sharing

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/porchlight-mesh/porchlight/clips"
	"github.com/porchlight-mesh/porchlight/events"
	"github.com/porchlight-mesh/porchlight/mesh"
	"github.com/porchlight-mesh/porchlight/record"
	"github.com/porchlight-mesh/porchlight/requests"
	"github.com/porchlight-mesh/porchlight/store"
)

// Defaults of Config.
const (
	// DefaultShareRetry is how often grants not yet delivered are retried.
	DefaultShareRetry = 10 * time.Second
	// DefaultHoldCheck is how often the keeper ends the holds of expired
	// grants and retries holds that failed.
	DefaultHoldCheck = time.Minute
	// sweepEvery is how often the keeper sweeps chunks left by interrupted
	// holds and reclaims the disk space of expired clips.
	sweepEvery = time.Hour
)

// ErrClosed is returned by a Service's operations once Close has begun.
var ErrClosed = errors.New("sharing: the service is closed")

// Requests is what the service asks of the node's requests service
// (*requests.Service implements it).
type Requests interface {
	// IsAgency reports whether a trusted issuer certified a peer as an
	// agency. Only an agency's node fetches evidence on its own.
	IsAgency(peer.ID) bool
	// List returns an agency's requests, newest first
	// (requests.ErrUnknownAgency for a peer that is not an agency).
	List(agency peer.ID, limit int) ([]requests.Listed, error)
	// Document returns a stored issuer document, or nil if there is none.
	Document(id record.ID) (*record.Doc, error)
}

// Records looks up a stored record (*store.DB implements it): the request
// an evidence bundle's grant answers.
type Records interface {
	// Record returns the record with ID id, or an error wrapping
	// store.ErrNotFound.
	Record(id record.ID) (*record.Signed, error)
}

// Config configures New. Zero values mean "use the default".
type Config struct {
	// Host serves and fetches clips and delivers grants. Required.
	Host host.Host
	// Key is Host's private key: it signs grants, revocations and transfer
	// records. Required.
	Key crypto.PrivKey
	// DB is the node's records database: the access log, the grants, the
	// share outbox, the inbox of grants to fetch and the hold index live in
	// it (keys.go). Required.
	DB *store.DB
	// Clips is the node's clip store. Required; its owner is Host's peer.
	Clips *clips.Store
	// Requests is the node's requests service. Required.
	Requests Requests
	// Records finds the request an exported bundle's grant answers.
	// Required.
	Records Records
	// InNeighborhood reports whether a peer is a connected neighbor: only
	// neighbors open clip and share streams, and only a neighbor's grants
	// are fetched as evidence. Required.
	InNeighborhood func(peer.ID) bool
	// PostGrant, if set, finds the neighborhood-wide grant of a clip
	// attached to one of owner's posts, for FetchClip; nil if there is
	// none.
	PostGrant func(owner peer.ID, clip record.ID) *clips.SignedGrant
	// Reach, if set, names a clip's owner and this home's NAT kind for the
	// error of a fetch that cannot cross a relayed connection
	// (*NoDirectPathError); nil: the owner's peer ID, NAT unknown.
	Reach func(owner peer.ID) Reach
	// OnEvent, if set, is called with each event the service publishes (a
	// name from package events, and its data). It must not block.
	OnEvent func(kind string, data any)
	// ShareRetry is how often grants not yet delivered are retried.
	// Default DefaultShareRetry.
	ShareRetry time.Duration
	// FetchRetry is how often an agency retries the fetches of evidence
	// that failed. Default clips.DefaultFetchRetry.
	FetchRetry time.Duration
	// HoldCheck is how often holds are checked. Default DefaultHoldCheck.
	HoldCheck time.Duration
	// Yields, if set, is where an agency's node writes the yield of its
	// requests (yield.go), and where a home audits it (AuditYield). nil:
	// no yields are written or audited.
	Yields Yields
	// YieldDelay is how long after a clip arrives its Yield is written.
	// Default DefaultYieldDelay; at most MaxYieldDelay.
	YieldDelay time.Duration
	// Logger. Default slog.Default().
	Logger *slog.Logger
}

// Service is a node's sharing and evidence workflow: it issues, delivers,
// revokes and lists grants; holds shared clips while their grants last;
// serves this home's clips to grantees, logging every attempt; receives
// grants and, on an agency's node, fetches the clips that answer its own
// open requests as evidence; and exports evidence bundles.
type Service struct {
	cfg      Config
	self     peer.ID
	audit    *clips.Audit
	grants   *clips.Grants
	intake   *clips.Intake
	clipSrv  *clips.Server
	shareSrv *clips.ShareServer
	rcptSrv  *clips.ReceiptServer // receipts.go

	ctx    context.Context // ends when Close begins
	cancel context.CancelFunc

	mu     sync.Mutex // guards closed and every wg.Add
	closed bool
	wg     sync.WaitGroup // the loops and the operations in progress

	holdMu sync.Mutex // serializes changes to holds (holds.go)

	yieldWake chan struct{} // a clip arrived: a yield pass is due (yield.go)

	closeOnce sync.Once
	closeErr  error
}

// New opens the service's state in cfg.DB (building the hold index of an
// older data directory), starts its loops and registers its protocols on
// cfg.Host. Close stops it.
func New(cfg Config) (_ *Service, err error) {
	switch {
	case cfg.Host == nil:
		return nil, errors.New("sharing: Host is required")
	case cfg.Key == nil:
		return nil, errors.New("sharing: Key is required")
	case cfg.DB == nil:
		return nil, errors.New("sharing: DB is required")
	case cfg.Clips == nil:
		return nil, errors.New("sharing: Clips is required")
	case cfg.Requests == nil:
		return nil, errors.New("sharing: Requests is required")
	case cfg.Records == nil:
		return nil, errors.New("sharing: Records is required")
	case cfg.InNeighborhood == nil:
		return nil, errors.New("sharing: InNeighborhood is required")
	}
	if cfg.ShareRetry <= 0 {
		cfg.ShareRetry = DefaultShareRetry
	}
	if cfg.HoldCheck <= 0 {
		cfg.HoldCheck = DefaultHoldCheck
	}
	if cfg.YieldDelay <= 0 {
		cfg.YieldDelay = DefaultYieldDelay
	}
	cfg.YieldDelay = min(cfg.YieldDelay, MaxYieldDelay)
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &Service{cfg: cfg, self: cfg.Host.ID(), yieldWake: make(chan struct{}, 1)}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	defer func() {
		if err != nil {
			_ = s.Close()
		}
	}()
	if s.audit, err = clips.NewAudit(cfg.DB); err != nil {
		return nil, err
	}
	if s.grants, err = clips.OpenGrants(clips.GrantsConfig{DB: cfg.DB, Self: s.self}); err != nil {
		return nil, err
	}
	built, err := hasHoldIndex(cfg.DB)
	if err != nil {
		return nil, fmt.Errorf("sharing: read the hold index marker: %w", err)
	}
	if !built {
		// A clip left held too long is no loss; a node that does not
		// start is: on an error, the next start builds it again.
		if err := buildHoldIndex(s.ctx, cfg.DB, s.self, s.grants, cfg.Clips, time.Now()); err != nil {
			cfg.Logger.Warn("sharing: the hold index of this data directory is not complete; building it again at the next start", "err", err)
		}
	}
	s.intake, err = clips.NewIntake(clips.IntakeConfig{
		Host: cfg.Host, Key: cfg.Key, Store: cfg.Clips, Grants: s.grants, Logger: cfg.Logger,
		OpenRequest:    s.openRequest,
		InNeighborhood: cfg.InNeighborhood,
		Retry:          cfg.FetchRetry,
		Hold:           s.holdEvidence,
		OnEvidence: func(id record.ID) {
			s.wakeYield()
			s.emit(events.Evidence, map[string]string{"clip": id.String()})
		},
		// Over a relayed path, a clip over the anchor's limit would be
		// cut at the limit on every retry: refuse it before its bytes move.
		PathCheck: func(owner peer.ID, m *clips.SignedManifest, limited bool) error {
			return relayCheck(s.reach(owner), m.Size(), mesh.RelayCircuitData, limited)
		},
	})
	if err != nil {
		return nil, err
	}
	s.wg.Add(2)
	go func() {
		defer s.wg.Done()
		s.keepHolds(s.ctx)
	}()
	go func() {
		defer s.wg.Done()
		s.retryShares(s.ctx)
	}()
	if cfg.Yields != nil {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.writeYields(s.ctx)
		}()
	}
	// Inbound protocols last: a stream may arrive the moment they are
	// registered.
	s.clipSrv, err = clips.NewServer(clips.ServerConfig{
		Host: cfg.Host, Store: cfg.Clips, Audit: s.audit, Revoked: s.grants.Revoked, Logger: cfg.Logger,
		OnAccess: func(e clips.Entry) {
			s.emit(events.Access, map[string]any{"peer": e.Peer.String(), "clip": e.Clip.String(), "served": e.Served, "reason": e.Reason})
		},
		InNeighborhood: cfg.InNeighborhood,
	})
	if err != nil {
		return nil, err
	}
	s.shareSrv, err = clips.NewShareServer(clips.ShareServerConfig{
		Host: cfg.Host, Logger: cfg.Logger, InNeighborhood: cfg.InNeighborhood,
		OnGrant: s.onGrant,
	})
	if err != nil {
		return nil, err
	}
	if s.rcptSrv, err = s.startReceipts(); err != nil {
		return nil, err
	}
	return s, nil
}

// Close stops the service, in this order: the inbound protocols (no grant
// or clip request arrives after, and those being handled are finished or
// reset), then its context (its loops, and the operations in progress,
// stop), then it waits for them, and last the intake, whose fetches may
// still hold clips. Share, RevokeGrant and FetchClip called from then on
// return ErrClosed. It does not close the databases or the host. It is
// safe to call twice.
func (s *Service) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		var errs []error
		if s.rcptSrv != nil {
			errs = append(errs, s.rcptSrv.Close())
		}
		if s.shareSrv != nil {
			errs = append(errs, s.shareSrv.Close())
		}
		if s.clipSrv != nil {
			errs = append(errs, s.clipSrv.Close())
		}
		s.cancel()
		s.wg.Wait()
		if s.intake != nil {
			errs = append(errs, s.intake.Close())
		}
		s.closeErr = errors.Join(errs...)
	})
	return s.closeErr
}

// begin enters an operation that Close must wait for: it returns a
// context that ends with ctx or when Close begins, and a function to call
// when the operation is done; or ErrClosed.
func (s *Service) begin(ctx context.Context) (context.Context, func(), error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, nil, ErrClosed
	}
	s.wg.Add(1)
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(s.ctx, cancel)
	return ctx, func() {
		stop()
		cancel()
		s.wg.Done()
	}, nil
}

func (s *Service) emit(kind string, data any) {
	if s.cfg.OnEvent != nil {
		s.cfg.OnEvent(kind, data)
	}
}

// onGrant keeps a grant delivered to this node (the share server's
// OnGrant). The share server's Close waits for it, and it starts nothing
// of its own: the intake fetches.
func (s *Service) onGrant(g *clips.SignedGrant, ms []*clips.SignedManifest, from peer.ID) error {
	if err := s.intake.OnGrant(g, ms, from); err != nil {
		return err
	}
	s.emit(events.Grant, map[string]string{"id": g.GrantID().String(), "from": from.String()})
	return nil
}

// openRequest reports whether id is one of this node's own requests for
// assistance, still open.
func (s *Service) openRequest(id record.ID) bool {
	if !s.cfg.Requests.IsAgency(s.self) {
		return false
	}
	items, err := s.cfg.Requests.List(s.self, 0)
	if err != nil {
		if !errors.Is(err, requests.ErrUnknownAgency) { // no valid credential now
			s.cfg.Logger.Warn("sharing: list this agency's requests", "err", err)
		}
		return false
	}
	for _, it := range items {
		if it.ID == id {
			return it.Agency == s.self && !it.Closed && !it.AfterRevocation
		}
	}
	return false
}

// keepHolds checks the hold index every HoldCheck, from the start (holds
// that a crash interrupted, grants that expired while the node was off),
// and once every sweepEvery sweeps the chunks that interrupted holds left
// behind and reclaims the disk space of expired clips.
func (s *Service) keepHolds(ctx context.Context) {
	t := time.NewTicker(s.cfg.HoldCheck)
	defer t.Stop()
	lastSweep := time.Now()
	now := lastSweep
	for {
		if err := s.checkHolds(ctx, now); err != nil && ctx.Err() == nil {
			s.cfg.Logger.Warn("sharing: holds not settled; trying again", "err", err)
		}
		if now.Sub(lastSweep) >= sweepEvery {
			lastSweep = now
			if _, err := s.cfg.Clips.Sweep(ctx); err != nil && ctx.Err() == nil {
				s.cfg.Logger.Warn("sharing: sweep clip chunks", "err", err)
			}
			if dropped, err := s.cfg.Clips.CollectGarbage(ctx); err != nil && ctx.Err() == nil {
				s.cfg.Logger.Warn("sharing: reclaim the disk space of expired clips", "err", err)
			} else if dropped > 0 {
				s.cfg.Logger.Info("sharing: reclaimed the disk space of expired clips", "clips", dropped)
			}
		}
		select {
		case <-ctx.Done():
			return
		case now = <-t.C:
		}
	}
}
