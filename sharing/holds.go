package sharing

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/porchlight-mesh/porchlight/clips"
	"github.com/porchlight-mesh/porchlight/record"
	"github.com/porchlight-mesh/porchlight/store"
)

// A clip is held (clips.Store.Hold: it does not expire) while a hold of
// the index keeps it: one per grant of this home that shares it, until
// the grant expires or is revoked, and one for good per clip received as
// evidence. The index is the record of why each clip is held, so ending a
// grant touches only its own clips, and the periodic check reads the index
// (a few bytes per hold) instead of every grant and every manifest.
//
// Every change is made under holdMu, so that a new grant's hold and the
// release of the same clip by an ended grant cannot interleave.

// holdFor adds holds of owner's grant on clipIDs (expires zero: for good)
// and holds the clips. The index entries are on disk before any clip is
// held, so a hold that fails, or that a crash interrupts, is tried again
// by the keeper; the error of each clip that could not be held is
// returned.
func (s *Service) holdFor(ctx context.Context, owner peer.ID, grant clips.GrantID, expires time.Time, clipIDs []record.ID) error {
	s.holdMu.Lock()
	defer s.holdMu.Unlock()
	var exp int64
	if !expires.IsZero() {
		exp = expires.UnixMilli()
	}
	err := s.cfg.DB.Update(func(txn *store.Txn) error {
		for _, id := range clipIDs {
			h := hold{clip: id, owner: owner, grant: grant, expires: exp, state: holdPending}
			if ok, err := txn.Has(store.HoldIndex, h.key()); err != nil {
				return err
			} else if ok {
				continue // held for this grant already
			}
			if err := txn.Put(store.HoldIndex, h.key(), h.value()); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		err = s.cfg.DB.Sync()
	}
	if err != nil {
		return fmt.Errorf("record the holds of grant %s: %w", grant, err)
	}
	var errs []error
	for _, id := range clipIDs {
		errs = append(errs, s.holdOne(ctx, hold{clip: id, owner: owner, grant: grant, expires: exp}))
	}
	return errors.Join(errs...)
}

// holdOne holds h's clip and marks the hold held. The caller holds holdMu.
func (s *Service) holdOne(ctx context.Context, h hold) error {
	if err := s.cfg.Clips.Hold(ctx, h.clip); err != nil {
		return err
	}
	h.state = holdHeld
	return s.cfg.DB.Put(store.HoldIndex, h.key(), h.value())
}

// endGrant ends the holds of one of this home's grants (revoked): each of
// its clips is released unless another live hold covers it.
func (s *Service) endGrant(ctx context.Context, grant clips.GrantID, clipIDs []record.ID) error {
	s.holdMu.Lock()
	defer s.holdMu.Unlock()
	err := s.cfg.DB.Update(func(txn *store.Txn) error {
		for _, id := range clipIDs {
			k := holdKey(id, s.self, grant)
			v, err := txn.Get(store.HoldIndex, k)
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			h, ok := parseHold(k, v)
			if !ok {
				continue
			}
			h.state = holdEnding
			if err := txn.Put(store.HoldIndex, k, h.value()); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		err = s.cfg.DB.Sync()
	}
	if err != nil {
		return fmt.Errorf("end the holds of grant %s: %w", grant, err)
	}
	var errs []error
	now := time.Now().UnixMilli()
	for _, id := range clipIDs {
		errs = append(errs, s.settle(ctx, id, now))
	}
	return errors.Join(errs...)
}

// holdsOf reads the index entries of one clip.
func (s *Service) holdsOf(clip record.ID) ([]hold, error) {
	return s.scanHolds(holdClipPrefix(clip))
}

func (s *Service) scanHolds(prefix []byte) ([]hold, error) {
	var out []hold
	err := s.cfg.DB.View(func(txn *store.Txn) error {
		return txn.Scan(store.HoldIndex, prefix, store.ScanOptions{}, func(it store.Item) error {
			v, err := it.Value()
			if err != nil {
				return err
			}
			if h, ok := parseHold(it.Key(), v); ok {
				out = append(out, h)
			}
			return nil
		})
	})
	return out, err
}

// settle releases clip if holds of it ended and none is live any more,
// then drops the ended holds. On an error the ended holds stay, and the
// keeper settles them again. The caller holds holdMu.
func (s *Service) settle(ctx context.Context, clip record.ID, nowMs int64) error {
	hs, err := s.holdsOf(clip)
	if err != nil {
		return fmt.Errorf("read the holds of clip %s: %w", clip, err)
	}
	var ended [][]byte
	live := false
	for _, h := range hs {
		if h.live(nowMs) && !s.revokedOwn(h) {
			live = true
		} else {
			ended = append(ended, h.key())
		}
	}
	if len(ended) == 0 {
		return nil
	}
	if !live {
		if err := s.cfg.Clips.Release(ctx, clip); err != nil && !errors.Is(err, clips.ErrNotFound) {
			return fmt.Errorf("release clip %s: %w", clip, err)
		}
	}
	return s.cfg.DB.Update(func(txn *store.Txn) error {
		for _, k := range ended {
			if err := txn.Delete(store.HoldIndex, k); err != nil {
				return err
			}
		}
		return nil
	})
}

// revokedOwn reports whether h is a hold of this home's grant that was
// revoked without its hold being marked (a crash in between).
func (s *Service) revokedOwn(h hold) bool {
	return h.owner == s.self && h.state != holdEnding && s.grants.Revoked(h.grant)
}

// checkHolds is the keeper's pass over the index: it holds the clips of
// pending holds (a hold that failed or was interrupted) and settles the
// clips whose holds ended. It returns the errors it met; each is tried
// again on the next pass.
func (s *Service) checkHolds(ctx context.Context, now time.Time) error {
	s.holdMu.Lock()
	defer s.holdMu.Unlock()
	hs, err := s.scanHolds(nil)
	if err != nil {
		return fmt.Errorf("read the hold index: %w", err)
	}
	nowMs := now.UnixMilli()
	var errs []error
	toSettle := map[record.ID]bool{}
	for _, h := range hs {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if !h.live(nowMs) || s.revokedOwn(h) {
			toSettle[h.clip] = true
			continue
		}
		if h.state != holdPending {
			continue
		}
		err := s.holdOne(ctx, h)
		if errors.Is(err, clips.ErrNotFound) {
			s.cfg.Logger.Warn("sharing: a clip to hold is gone; its hold is dropped", "clip", h.clip, "grant", h.grant, "owner", h.owner)
			err = s.cfg.DB.Delete(store.HoldIndex, h.key())
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("hold clip %s for grant %s: %w", h.clip, h.grant, err))
		}
	}
	for id := range toSettle {
		if err := s.settle(ctx, id, nowMs); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// holdEvidence holds a clip received under g for good (the intake's Hold).
func (s *Service) holdEvidence(ctx context.Context, g *clips.SignedGrant, clip record.ID) error {
	return s.holdFor(ctx, g.Owner, g.GrantID(), time.Time{}, []record.ID{clip})
}

// hasHoldIndex reports whether the hold index was built.
func hasHoldIndex(db *store.DB) (bool, error) {
	return db.Has(store.SharingMeta, keyHoldIndexBuilt)
}

// buildHoldIndex builds the hold index of a data directory written before
// it existed, where a clip was held while any grant of its owner covered it
// and every clip received as evidence was held for good. It writes a hold
// for each clip of each of self's grants that is live at now (unexpired,
// unrevoked) and for each clip with a transfer record, marked pending when
// the clip is not held (a Hold that failed: the keeper holds it); it
// releases self's held clips that no live grant covers (what the keeper
// used to do every minute); then it writes the marker, unless a release
// failed (the error is returned; the holds written stand). Clips that are
// gone get no hold. Running it again changes nothing.
//
// It is the index's migration step: it reads only the grants, the
// transfer records and the clip store, and can become a schema migration
// of the records database.
func buildHoldIndex(ctx context.Context, db *store.DB, self peer.ID, grants *clips.Grants, cs *clips.Store, now time.Time) error {
	var hs []hold
	add := func(clip record.ID, owner peer.ID, grant clips.GrantID, expires int64) error {
		_, held, err := cs.Expires(clip)
		if errors.Is(err, clips.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		h := hold{clip: clip, owner: owner, grant: grant, expires: expires, state: holdPending}
		if held {
			h.state = holdHeld
		}
		hs = append(hs, h)
		return nil
	}
	gs, err := grants.List()
	if err != nil {
		return err
	}
	covered := map[record.ID]bool{}
	for _, g := range gs {
		if g.Owner != self || !now.Before(g.Expires()) || grants.Revoked(g.GrantID()) {
			continue
		}
		for _, id := range g.ClipIDs() {
			covered[id] = true
			if err := add(id, self, g.GrantID(), g.Expires().UnixMilli()); err != nil {
				return err
			}
		}
	}
	ts, err := grants.Transfers()
	if err != nil {
		return err
	}
	for _, t := range ts {
		if err := add(t.ClipID(), t.Owner(), t.GrantID(), 0); err != nil {
			return err
		}
	}
	ms, err := cs.List()
	if err != nil {
		return err
	}
	var unreleased []error
	for _, m := range ms {
		id := m.ClipID()
		if m.Owner != self || covered[id] {
			continue
		}
		if _, held, err := cs.Expires(id); err == nil && held {
			if err := cs.Release(ctx, id); err != nil && !errors.Is(err, clips.ErrNotFound) {
				unreleased = append(unreleased, fmt.Errorf("release clip %s, which no grant covers: %w", id, err))
			}
		}
	}
	err = db.Update(func(txn *store.Txn) error {
		for _, h := range hs {
			if err := txn.Put(store.HoldIndex, h.key(), h.value()); err != nil {
				return err
			}
		}
		// Without the marker the next open builds the index again, and
		// tries the releases that failed again.
		if len(unreleased) == 0 {
			return txn.Put(store.SharingMeta, keyHoldIndexBuilt, []byte{1})
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := db.Sync(); err != nil {
		return err
	}
	return errors.Join(unreleased...)
}
