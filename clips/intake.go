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
	// DefaultFetchRetry is how often the grants of the inbox whose fetch
	// failed are tried again.
	DefaultFetchRetry = 30 * time.Second
	// intakeQueue is how many delivered grants may wait in the inbox for
	// their fetch; a delivery past it is refused, and its owner delivers it
	// again later.
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
	// Retry is how often the grants whose fetch failed (the owner offline,
	// a fetch cut short) are tried again, until they expire. Default
	// DefaultFetchRetry.
	Retry time.Duration
	// Hold keeps a clip received under g for good. Default Store.Hold. Its
	// error fails the fetch, and the next attempt of the grant calls it
	// again (the clip, received and recorded, is not fetched twice).
	Hold func(ctx context.Context, g *SignedGrant, clip record.ID) error
	// Now is the clock of transfer records. Default time.Now.
	Now func() time.Time
	// OnEvidence, if set, is called once a clip is stored with its transfer
	// record. It must not block.
	OnEvidence func(clip record.ID)
	// PathCheck, if set, is each fetch's WithPathCheck: an error (a clip
	// over what the relay of a limited connection carries) ends the fetch
	// before its bytes move, and the grant is tried again later, when a
	// direct path may exist.
	PathCheck func(owner peer.ID, m *SignedManifest, limited bool) error
	// SendReceipt hands the owner this node's transfer record of a clip
	// just received and held (ReceiptProtocol); its error is only logged:
	// a missing receipt never fails a transfer. Default SendReceipt over
	// Host.
	SendReceipt func(ctx context.Context, t *SignedTransfer) error
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
//
// A grant to fetch waits in Grants' "to fetch" inbox (AddToFetch), on
// disk, until each of its clips is received, or refused for good (over a
// budget, refused by the owner, served with other bytes than its
// manifest's), or until the grant expires or its request closes. A fetch
// that fails otherwise (the owner offline, the connection cut, this node
// stopping) is tried again every Retry while the owner is a connected
// neighbor, also after a restart.
type Intake struct {
	cfg    IntakeConfig
	wake   chan struct{}
	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once

	mu       sync.Mutex // guards inflight and the budget check-and-reserve
	inflight map[record.ID]inflight
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
	if cfg.Retry <= 0 {
		cfg.Retry = DefaultFetchRetry
	}
	if cfg.Hold == nil {
		s := cfg.Store
		cfg.Hold = func(ctx context.Context, _ *SignedGrant, clip record.ID) error { return s.Hold(ctx, clip) }
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.SendReceipt == nil {
		h := cfg.Host
		cfg.SendReceipt = func(ctx context.Context, t *SignedTransfer) error { return SendReceipt(ctx, h, t) }
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	ctx, cancel := context.WithCancel(context.Background())
	in := &Intake{cfg: cfg, wake: make(chan struct{}, 1), cancel: cancel, inflight: map[record.ID]inflight{}}
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
// with it (as a ShareServer verified them), and, when the grant is evidence
// for one of this node's open requests, puts it in the inbox for its clips
// to be fetched. An error refuses the delivery.
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
	if err := in.cfg.Grants.AddToFetch(g, ms, intakeQueue); err != nil {
		return err
	}
	select {
	case in.wake <- struct{}{}:
	default: // a pass is due already
	}
	return nil
}

func (in *Intake) run(ctx context.Context) {
	t := time.NewTicker(in.cfg.Retry)
	defer t.Stop()
	for {
		in.drain(ctx)
		select {
		case <-ctx.Done():
			return
		case <-in.wake:
		case <-t.C:
		}
	}
}

// drain tries every grant of the inbox once.
func (in *Intake) drain(ctx context.Context) {
	ws, err := in.cfg.Grants.ToFetch()
	if err != nil {
		in.cfg.Logger.Warn("clips: read the inbox of grants to fetch", "err", err)
		return
	}
	for _, w := range ws {
		if ctx.Err() != nil {
			return
		}
		in.attempt(ctx, w)
	}
}

// attempt fetches the clips of one waiting grant and takes it out of the
// inbox unless one of them should be tried again.
func (in *Intake) attempt(ctx context.Context, w Waiting) {
	g := w.Grant
	log := in.cfg.Logger.With("grant", g.GrantID(), "owner", g.Owner)
	done := func(why string) {
		if why != "" {
			log.Info("clips: not fetching a grant's clips any more: " + why)
		}
		if err := in.cfg.Grants.Fetched(g.Owner, g.GrantID()); err != nil {
			log.Warn("clips: take a grant out of the inbox", "err", err)
		}
	}
	switch {
	case !in.cfg.Now().Before(g.Expires()):
		done("the grant expired")
		return
	case !in.cfg.InNeighborhood(g.Owner):
		return // not connected now: tried again later (the cheap check first)
	case !in.cfg.OpenRequest(requestOf(g)):
		done("its request is no longer open")
		return
	}
	ms := map[record.ID]*SignedManifest{}
	for _, m := range w.Manifests {
		ms[m.ClipID()] = m
	}
	again := false
	for _, id := range g.ClipIDs() {
		err := in.fetch(ctx, g, ms[id], id)
		switch {
		case err == nil:
		case ctx.Err() != nil:
			return // stopping: the grant stays in the inbox
		case retryable(err):
			again = true
			log.Info("clips: evidence not fetched yet; trying again while the grant is valid", "clip", id, "err", err)
		default:
			log.Warn("clips: evidence not fetched", "clip", id, "err", err)
		}
	}
	if !again {
		done("")
	}
}

// Errors of fetch that no later attempt changes.
var (
	errNoManifest = errors.New("the grant came without the clip's manifest, so its size is unknown; fetch it by hand")
	errStoredHere = errors.New("the clip is stored here already; it keeps its first transfer record")
)

// retryable reports whether a failed fetch of a grant's clip may succeed
// later: anything but a refusal by the owner (it has said no, or revoked
// the grant), a budget, a clip already here, or an owner serving bytes
// other than its manifest's. A refusal because the owner could not write
// its access log is its disk's trouble, and worth another try.
func retryable(err error) bool {
	switch {
	case errors.Is(err, ErrRefused):
		return errors.Is(err, ErrAccessLog)
	case errors.Is(err, ErrBudget), errors.Is(err, ErrChunkMismatch),
		errors.Is(err, errNoManifest), errors.Is(err, errStoredHere):
		return false
	}
	return true
}

// fetch fetches, stores and records one clip of grant g, whose owner's
// manifest m came with the grant.
func (in *Intake) fetch(ctx context.Context, g *SignedGrant, m *SignedManifest, id record.ID) error {
	if m == nil {
		return errNoManifest
	}
	if _, err := in.cfg.Store.Manifest(id); err == nil || in.cfg.Grants.HasTransfer(id) {
		if t, terr := in.cfg.Grants.Transfer(id); err == nil && terr == nil && t.Owner() == g.Owner && t.GrantID() == g.GrantID() {
			// Received under this very grant by an earlier attempt that
			// failed to hold it: hold it now.
			if err := in.cfg.Hold(ctx, g, id); err != nil {
				in.cfg.Logger.Warn("clips: evidence received but not held; trying again", "clip", id, "grant", g.GrantID(), "err", err)
				return fmt.Errorf("hold clip %s received as evidence: %w", id, err)
			}
			in.receipt(ctx, t)
			return nil
		}
		return errStoredHere
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
	if check := in.cfg.PathCheck; check != nil {
		fctx = WithPathCheck(fctx, func(m *SignedManifest, limited bool) error { return check(g.Owner, m, limited) })
	}
	got, err := fetchAndStore(fctx, in.cfg.Host, g.Owner, g.Raw, id, in.cfg.Store, m)
	if err != nil {
		return fmt.Errorf("fetch clip %s from %s: %w", id, g.Owner, err)
	}
	gid := g.GrantID()
	t, err := SealTransfer(&pb.Transfer{
		ClipId: id[:], GrantId: gid[:], Owner: []byte(g.Owner), Receiver: []byte(in.cfg.Host.ID()),
		Received: in.cfg.Now().UnixMilli(), Sha256: id[:], Size: got.M.GetSize(), Grant: g.ID[:],
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
	if err := in.cfg.Hold(ctx, g, id); err != nil {
		in.cfg.Logger.Warn("clips: evidence received but not held; trying again", "clip", id, "grant", gid, "err", err)
		return fmt.Errorf("hold clip %s received as evidence: %w", id, err)
	}
	if in.cfg.OnEvidence != nil {
		in.cfg.OnEvidence(id)
	}
	in.receipt(ctx, t)
	return nil
}

// receipt hands t to the clip's owner in the background; Close waits for
// it. A receipt that cannot be handed over is only logged.
func (in *Intake) receipt(ctx context.Context, t *SignedTransfer) {
	in.wg.Add(1)
	go func() {
		defer in.wg.Done()
		rctx, cancel := context.WithTimeout(ctx, receiptTimeout)
		defer cancel()
		if err := in.cfg.SendReceipt(rctx, t); err != nil && ctx.Err() == nil {
			in.cfg.Logger.Info("clips: receipt not handed to the clip's owner", "clip", t.ClipID(), "owner", t.Owner(), "err", err)
		}
	}()
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
