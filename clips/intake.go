package clips

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

	"github.com/porchlight-mesh/porchlight/clips/pb"
	"github.com/porchlight-mesh/porchlight/record"
)

// Defaults of IntakeConfig.
const (
	// DefaultOwnerBudget is how many bytes of clips an agency fetches on
	// its own from one owner, in all: about two hours of a typical 1080p
	// doorbell camera.
	DefaultOwnerBudget = 2 << 30
	// DefaultRequestBudget is how many bytes of clips it fetches on its own
	// for one of its requests, from every owner together.
	DefaultRequestBudget = 16 << 30
	// DefaultFetchTimeout bounds the fetch of one clip.
	DefaultFetchTimeout = 10 * time.Minute
	// intakeQueue is how many delivered grants may wait for their fetch; a
	// delivery past it is refused, and its owner delivers it again later.
	intakeQueue = 64
)

// ErrBudget: fetching a clip would take an owner or a request past its
// byte budget.
var ErrBudget = errors.New("over the evidence byte budget")

// IntakeConfig configures NewIntake. Zero values mean "use the default".
type IntakeConfig struct {
	// Host fetches the clips. Required.
	Host host.Host
	// Key signs the transfer records; it is Host's. Required.
	Key crypto.PrivKey
	// Store keeps the clips fetched. Required.
	Store *Store
	// Grants keeps the grants delivered and the transfer records. Required.
	Grants *Grants
	// OpenRequest reports whether id names one of this node's own requests
	// for assistance that is still open. Only a grant answering one is
	// fetched on its own. Required (a node that makes no requests passes a
	// function that returns false).
	OpenRequest func(id record.ID) bool
	// InNeighborhood reports whether a peer belongs to the neighborhood:
	// only a neighbor's grants are fetched on their own. Required.
	InNeighborhood func(peer.ID) bool
	// OwnerBudget caps the bytes fetched on their own from one owner, over
	// every grant. Default DefaultOwnerBudget.
	OwnerBudget int64
	// RequestBudget caps the bytes fetched on their own for one request,
	// over every owner. Default DefaultRequestBudget.
	RequestBudget int64
	// FetchTimeout bounds each clip's fetch. Default DefaultFetchTimeout.
	FetchTimeout time.Duration
	// Now is the clock of transfer records. Default time.Now.
	Now func() time.Time
	// OnEvidence, if set, is called once a clip is stored with its transfer
	// record. It must not block.
	OnEvidence func(clip record.ID)
	// Logger. Default slog.Default().
	Logger *slog.Logger
}

// Intake receives the grants delivered to this node (the OnGrant of a
// ShareServer) and, for an agency, turns those that answer its own open
// requests into evidence: it fetches each clip from its owner, verifies and
// holds it, and signs one transfer record per clip received.
//
// It fetches a grant's clips only when all of these hold: the grant answers
// one of this node's own open requests (OpenRequest); its owner is a
// neighbor (InNeighborhood); the delivery carried the owner's manifest of
// the clip, so its size is known before a byte is fetched, and the clip
// served is exactly that manifest's; the clip is not stored here already (a
// stored clip never gets a second transfer record); and its size fits both
// the owner's and the request's remaining budgets, counting what was
// received before and what is being fetched. Anything else is kept as a
// grant (within Grants' caps) and can be fetched by hand.
type Intake struct {
	cfg    IntakeConfig
	jobs   chan intakeJob
	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once

	mu       sync.Mutex // guards inflight and the budget check-and-reserve
	inflight map[record.ID]inflight
}

type intakeJob struct {
	g  *SignedGrant
	ms map[record.ID]*SignedManifest
}

type inflight struct {
	owner   peer.ID
	request record.ID
	size    int64
}

// NewIntake starts an intake; Close stops its fetches.
func NewIntake(cfg IntakeConfig) (*Intake, error) {
	switch {
	case cfg.Host == nil:
		return nil, errors.New("clips: intake: Host is required")
	case cfg.Key == nil:
		return nil, errors.New("clips: intake: Key is required")
	case cfg.Store == nil:
		return nil, errors.New("clips: intake: Store is required")
	case cfg.Grants == nil:
		return nil, errors.New("clips: intake: Grants is required")
	case cfg.OpenRequest == nil:
		return nil, errors.New("clips: intake: OpenRequest is required")
	case cfg.InNeighborhood == nil:
		return nil, errors.New("clips: intake: InNeighborhood is required")
	}
	if cfg.OwnerBudget <= 0 {
		cfg.OwnerBudget = DefaultOwnerBudget
	}
	if cfg.RequestBudget <= 0 {
		cfg.RequestBudget = DefaultRequestBudget
	}
	if cfg.FetchTimeout <= 0 {
		cfg.FetchTimeout = DefaultFetchTimeout
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	ctx, cancel := context.WithCancel(context.Background())
	in := &Intake{cfg: cfg, jobs: make(chan intakeJob, intakeQueue), cancel: cancel, inflight: map[record.ID]inflight{}}
	in.wg.Add(1)
	go func() {
		defer in.wg.Done()
		in.run(ctx)
	}()
	return in, nil
}

// Close stops the fetches in progress and waits for them. It is safe to
// call twice.
func (in *Intake) Close() error {
	in.once.Do(func() {
		in.cancel()
		in.wg.Wait()
	})
	return nil
}

// OnGrant keeps a grant delivered by from, with the manifests that came
// with it (as a ShareServer verified them), and queues its clips for
// fetching when the grant is evidence for one of this node's open
// requests. An error refuses the delivery.
func (in *Intake) OnGrant(g *SignedGrant, ms []*SignedManifest, from peer.ID) error {
	if g.Owner != from {
		return fmt.Errorf("%w: grant %s is %s's", ErrNotOwnerGrant, g.GrantID(), g.Owner)
	}
	if err := in.cfg.Grants.PutReceived(g); err != nil {
		return err
	}
	rid := requestOf(g)
	switch {
	case rid.IsZero():
		return nil // a grant to a person: fetched by hand
	case !in.cfg.OpenRequest(rid):
		in.cfg.Logger.Info("clips: a grant answers no open request of this node; not fetching it", "grant", g.GrantID(), "owner", g.Owner, "request", rid)
		return nil
	case !in.cfg.InNeighborhood(from):
		in.cfg.Logger.Info("clips: a grant comes from a peer outside the neighborhood; not fetching it", "grant", g.GrantID(), "owner", g.Owner)
		return nil
	}
	job := intakeJob{g: g, ms: map[record.ID]*SignedManifest{}}
	for _, m := range ms {
		job.ms[m.ClipID()] = m
	}
	select {
	case in.jobs <- job:
		return nil
	default:
		return errors.New("too many grants waiting for their clips to be fetched; deliver it again later")
	}
}

func (in *Intake) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case j := <-in.jobs:
			for _, id := range j.g.ClipIDs() {
				if ctx.Err() != nil {
					return
				}
				if err := in.fetch(ctx, j.g, j.ms[id], id); err != nil {
					in.cfg.Logger.Warn("clips: evidence not fetched", "clip", id, "owner", j.g.Owner, "grant", j.g.GrantID(), "err", err)
				}
			}
		}
	}
}

// fetch fetches, stores and records one clip of grant g, whose owner's
// manifest m came with the grant.
func (in *Intake) fetch(ctx context.Context, g *SignedGrant, m *SignedManifest, id record.ID) error {
	if m == nil {
		return errors.New("the grant came without the clip's manifest, so its size is unknown; fetch it by hand")
	}
	if _, err := in.cfg.Store.Manifest(id); err == nil || in.cfg.Grants.HasTransfer(id) {
		return errors.New("the clip is stored here already; it keeps its first transfer record")
	} else if !errors.Is(err, ErrNotFound) {
		return err
	}
	rid := requestOf(g)
	if err := in.reserve(id, g.Owner, rid, m.Size()); err != nil {
		return err
	}
	defer in.release(id)
	fctx, cancel := context.WithTimeout(ctx, in.cfg.FetchTimeout)
	defer cancel()
	got, err := fetchAndStore(fctx, in.cfg.Host, g.Owner, g.Raw, id, in.cfg.Store, m)
	if err != nil {
		return fmt.Errorf("fetch clip %s from %s: %w", id, g.Owner, err)
	}
	gid := g.GrantID()
	t, err := SealTransfer(&pb.Transfer{
		ClipId: id[:], GrantId: gid[:], Owner: []byte(g.Owner), Receiver: []byte(in.cfg.Host.ID()),
		Received: in.cfg.Now().UnixMilli(), Sha256: id[:], Size: got.M.GetSize(),
	}, in.cfg.Key)
	if err != nil {
		return err
	}
	if err := in.cfg.Grants.Keep(g.Owner, gid); err != nil {
		return err
	}
	if err := in.cfg.Grants.PutTransfer(t); err != nil {
		return err
	}
	if err := in.cfg.Store.Hold(ctx, id); err != nil {
		return err
	}
	if in.cfg.OnEvidence != nil {
		in.cfg.OnEvidence(id)
	}
	return nil
}

// reserve checks a fetch of size bytes against the owner's and the
// request's budgets, counting the clips received before and those being
// fetched, and reserves it.
func (in *Intake) reserve(clip record.ID, owner peer.ID, request record.ID, size int64) error {
	in.mu.Lock()
	defer in.mu.Unlock()
	byOwner, byRequest := size, size
	for _, f := range in.inflight {
		if f.owner == owner {
			byOwner += f.size
		}
		if f.request == request {
			byRequest += f.size
		}
	}
	ts, err := in.cfg.Grants.Transfers()
	if err != nil {
		return err
	}
	for _, t := range ts {
		if t.Owner() == owner {
			byOwner += int64(t.T.GetSize())
		}
		if g, err := in.cfg.Grants.Get(t.Owner(), t.GrantID()); err == nil && requestOf(g) == request {
			byRequest += int64(t.T.GetSize())
		}
	}
	switch {
	case byOwner > in.cfg.OwnerBudget:
		return fmt.Errorf("%w: %d bytes from %s with this clip, budget %d per owner", ErrBudget, byOwner, owner, in.cfg.OwnerBudget)
	case byRequest > in.cfg.RequestBudget:
		return fmt.Errorf("%w: %d bytes for request %s with this clip, budget %d per request", ErrBudget, byRequest, request, in.cfg.RequestBudget)
	}
	in.inflight[clip] = inflight{owner: owner, request: request, size: size}
	return nil
}

func (in *Intake) release(clip record.ID) {
	in.mu.Lock()
	delete(in.inflight, clip)
	in.mu.Unlock()
}

// requestOf is the request g answers, or the zero ID.
func requestOf(g *SignedGrant) record.ID {
	var id record.ID
	copy(id[:], g.G.GetRequestId())
	return id
}
