package sharing

import (
	"context"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/porchlight-mesh/porchlight/clips"
	"github.com/porchlight-mesh/porchlight/events"
	"github.com/porchlight-mesh/porchlight/record"
)

// deliverTimeout bounds one delivery of a grant.
const deliverTimeout = 15 * time.Second

// Share grants clipIDs to grantee (empty: the whole neighborhood, for a
// post) until expires, answering request if set; holds the clips; and
// delivers the grant privately. delivered is false when the grantee could
// not be reached now: the grant waits in the outbox and is delivered while
// it is valid. A clip that could not be held is an error, returned with
// the grant (which stays issued; the keeper retries the hold).
func (s *Service) Share(ctx context.Context, grantee peer.ID, clipIDs []record.ID, request record.ID, expires time.Time) (*clips.SignedGrant, bool, error) {
	ctx, done, err := s.begin(ctx)
	if err != nil {
		return nil, false, err
	}
	defer done()
	g, delivered, err := s.share(ctx, grantee, clipIDs, request, expires)
	if g != nil {
		s.emit(events.Share, map[string]any{"grant": g.GrantID().String(), "to": grantee.String(), "delivered": delivered})
	}
	return g, delivered, err
}

func (s *Service) share(ctx context.Context, grantee peer.ID, clipIDs []record.ID, request record.ID, expires time.Time) (*clips.SignedGrant, bool, error) {
	var ms []*clips.SignedManifest
	for _, id := range clipIDs {
		m, err := s.cfg.Clips.Manifest(id)
		if err != nil {
			return nil, false, err
		}
		if m.Owner != s.self {
			return nil, false, fmt.Errorf("clip %.12s is not this home's: only an owner can share", id)
		}
		ms = append(ms, m)
	}
	g, err := s.grants.Issue(s.cfg.Key, grantee, clipIDs, request, expires)
	if err != nil {
		return nil, false, err
	}
	if err := s.holdFor(ctx, s.self, g.GrantID(), g.Expires(), clipIDs); err != nil {
		s.cfg.Logger.Warn("sharing: shared clips not held yet; trying again while the grant is valid", "grant", g.GrantID(), "err", err)
		return g, false, fmt.Errorf("hold the shared clips: %w", err)
	}
	if grantee == "" {
		return g, true, nil
	}
	if err := s.deliver(ctx, g, ms); err != nil {
		s.cfg.Logger.Warn("sharing: grant not delivered yet; will retry while it is valid", "grantee", grantee, "err", err)
		if err := s.grants.SetUndelivered(g.GrantID(), true); err != nil {
			return g, false, err
		}
		return g, false, nil
	}
	return g, true, nil
}

func (s *Service) deliver(ctx context.Context, g *clips.SignedGrant, ms []*clips.SignedManifest) error {
	sctx, cancel := context.WithTimeout(ctx, deliverTimeout)
	defer cancel()
	return clips.Share(sctx, s.cfg.Host, g.Grantee(), g, ms)
}

// retryShares delivers undelivered grants while they are valid, every
// ShareRetry: a grantee that was offline gets its grant when it is back.
func (s *Service) retryShares(ctx context.Context) {
	t := time.NewTicker(s.cfg.ShareRetry)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		ids, err := s.grants.Undelivered()
		if err != nil {
			s.cfg.Logger.Warn("sharing: read the share outbox", "err", err)
			continue
		}
		for _, id := range ids {
			if ctx.Err() != nil {
				return
			}
			s.retryShare(ctx, id)
		}
	}
}

func (s *Service) retryShare(ctx context.Context, id clips.GrantID) {
	g, err := s.grants.Get(s.self, id)
	if err != nil || !time.Now().Before(g.Expires()) || s.grants.Revoked(id) {
		if err := s.grants.SetUndelivered(id, false); err != nil { // nothing left to deliver
			s.cfg.Logger.Warn("sharing: take a grant out of the share outbox", "grant", id, "err", err)
		}
		return
	}
	var ms []*clips.SignedManifest
	for _, cid := range g.ClipIDs() {
		if m, err := s.cfg.Clips.Manifest(cid); err == nil {
			ms = append(ms, m)
		}
	}
	if err := s.deliver(ctx, g, ms); err != nil {
		s.cfg.Logger.Debug("sharing: grant still not delivered", "grant", id, "err", err)
		return
	}
	s.cfg.Logger.Info("sharing: grant delivered", "grant", id, "grantee", g.Grantee())
	if err := s.grants.SetUndelivered(id, false); err != nil {
		s.cfg.Logger.Warn("sharing: take a grant out of the share outbox", "grant", id, "err", err)
	}
}

// Grants lists the grants this node issued or received, newest first.
func (s *Service) Grants() ([]*clips.SignedGrant, error) { return s.grants.List() }

// RevokeGrant revokes one of this home's grants (clips.ErrGrantNotFound if
// there is none): later fetches are refused, and the clips no other live
// hold covers go back to normal retention. The revocation stands even if
// a release fails (the error is returned; the keeper releases them later).
func (s *Service) RevokeGrant(id clips.GrantID) error {
	ctx, done, err := s.begin(context.Background())
	if err != nil {
		return err
	}
	defer done()
	g, err := s.grants.Get(s.self, id)
	if err != nil {
		return err
	}
	if err := s.grants.Revoke(s.cfg.Key, id); err != nil {
		return err
	}
	s.emit(events.Revoke, map[string]string{"grant": id.String()})
	return s.endGrant(ctx, id, g.ClipIDs())
}

// GrantRevoked reports whether g is this home's grant and was revoked.
func (s *Service) GrantRevoked(g *clips.SignedGrant) bool { return s.grants.RevokedGrant(g) }

// Audit lists the owner's access log, newest first.
func (s *Service) Audit(limit int) ([]clips.Entry, error) { return s.audit.List(limit) }

// FetchClip fetches a clip granted to this node from its owner, verifying
// every chunk, and stores it here. Over a relayed connection (only an
// anchor joins the two homes) a clip larger than the anchor relays, or a
// transfer the relay cuts, is a *NoDirectPathError (ErrNoDirectPath) that
// says so.
func (s *Service) FetchClip(ctx context.Context, owner peer.ID, clip record.ID) (*clips.SignedManifest, error) {
	ctx, done, err := s.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer done()
	g, err := s.grants.For(owner, s.self, clip, time.Now())
	if err != nil && s.cfg.PostGrant != nil {
		// A clip attached to a post: the post carries the owner's
		// neighborhood-wide grant.
		if pg := s.cfg.PostGrant(owner, clip); pg != nil {
			g, err = pg, nil
		}
	}
	if err != nil {
		return nil, err
	}
	ctx = clips.WithProgress(ctx, func(done, total int64) {
		s.emit(events.Fetch, map[string]any{"clip": clip.String(), "done": done, "total": total})
	})
	return s.fetchOverRelay(ctx, owner, func(ctx context.Context) (*clips.SignedManifest, error) {
		return clips.FetchAndStore(ctx, s.cfg.Host, owner, g.Raw, clip, s.cfg.Clips)
	})
}
