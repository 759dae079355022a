package node

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/porchlight-mesh/porchlight/api"
	"github.com/porchlight-mesh/porchlight/clips"
	"github.com/porchlight-mesh/porchlight/events"
	"github.com/porchlight-mesh/porchlight/record"
)

// shareRetry is how often undelivered grants are retried.
var shareRetry = 10 * time.Second

// startClipProtocols serves /porchlight/clip/1 (this home's clips, to
// grantees only) and /porchlight/share/1 (grants sent to this node), to
// neighbors only. Grants delivered go to the intake, which, on an agency's
// node, fetches, verifies and holds the clips of grants that answer the
// agency's own open requests, so evidence does not depend on the owner
// staying online (see clips.Intake for every condition and budget).
func (n *Node) startClipProtocols(ctx context.Context, log *slog.Logger) (err error) {
	if n.audit, err = clips.NewAudit(n.db); err != nil {
		return err
	}
	if n.grants, err = clips.OpenGrants(clips.GrantsConfig{DB: n.db, Self: n.mesh.ID()}); err != nil {
		return err
	}
	h := n.mesh.Host()
	n.wg.Add(2)
	go func() {
		defer n.wg.Done()
		n.holdKeeper(ctx)
	}()
	go func() {
		defer n.wg.Done()
		n.retryShares(ctx, shareRetry)
	}()
	n.clipSrv, err = clips.NewServer(clips.ServerConfig{
		Host: h, Store: n.clips, Audit: n.audit, Revoked: n.grants.Revoked, Logger: log,
		OnAccess: func(e clips.Entry) {
			n.events.Publish(api.Event{Type: events.Access, Data: map[string]any{"peer": e.Peer.String(), "clip": e.Clip.String(), "served": e.Served, "reason": e.Reason}})
		},
		InNeighborhood: n.inNeighborhood,
	})
	if err != nil {
		return err
	}
	n.intake, err = clips.NewIntake(clips.IntakeConfig{
		Host: h, Key: n.key, Store: n.clips, Grants: n.grants, Logger: log,
		OpenRequest:    n.openRequest,
		InNeighborhood: n.inNeighborhood,
		OnEvidence: func(id record.ID) {
			n.events.Publish(api.Event{Type: events.Evidence, Data: map[string]string{"clip": id.String()}})
		},
	})
	if err != nil {
		return err
	}
	n.shareSrv, err = clips.NewShareServer(clips.ShareServerConfig{
		Host: h, Logger: log, InNeighborhood: n.inNeighborhood,
		OnGrant: func(g *clips.SignedGrant, ms []*clips.SignedManifest, from peer.ID) error {
			if err := n.intake.OnGrant(g, ms, from); err != nil {
				return err
			}
			n.events.Publish(api.Event{Type: events.Grant, Data: map[string]string{"id": g.GrantID().String(), "from": from.String()}})
			return nil
		},
	})
	return err
}

// inNeighborhood reports whether p is a connected neighbor.
func (n *Node) inNeighborhood(p peer.ID) bool {
	for _, q := range n.mesh.Peers() {
		if q.ID == p {
			return true
		}
	}
	return false
}

// openRequest reports whether id is one of this node's own requests for
// assistance, still open.
func (n *Node) openRequest(id record.ID) bool {
	items, err := n.reqs.List(n.mesh.ID(), 0)
	if err != nil {
		return false // not an agency (requests.ErrUnknownAgency), or unreadable
	}
	for _, it := range items {
		if it.ID == id {
			return it.Agency == n.mesh.ID() && !it.Closed && !it.AfterRevocation
		}
	}
	return false
}

// Share grants clipIDs to grantee until expires (answering request, if
// set), holds the clips, and delivers the grant privately. delivered is
// false when the grantee could not be reached now; the grant is kept.
func (n *Node) Share(ctx context.Context, grantee peer.ID, clipIDs []record.ID, request record.ID, expires time.Time) (*clips.SignedGrant, bool, error) {
	g, delivered, err := n.share(ctx, grantee, clipIDs, request, expires)
	if g != nil {
		n.events.Publish(api.Event{Type: events.Share, Data: map[string]any{"grant": g.GrantID().String(), "to": grantee.String(), "delivered": delivered}})
	}
	return g, delivered, err
}

func (n *Node) share(ctx context.Context, grantee peer.ID, clipIDs []record.ID, request record.ID, expires time.Time) (*clips.SignedGrant, bool, error) {
	var ms []*clips.SignedManifest
	for _, id := range clipIDs {
		m, err := n.clips.Manifest(id)
		if err != nil {
			return nil, false, err
		}
		if m.Owner != n.mesh.ID() {
			return nil, false, fmt.Errorf("clip %.12s is not this home's: only an owner can share", id)
		}
		ms = append(ms, m)
	}
	g, err := n.grants.Issue(n.key, grantee, clipIDs, request, expires)
	if err != nil {
		return nil, false, err
	}
	for _, id := range clipIDs {
		if err := n.clips.Hold(ctx, id); err != nil {
			return g, false, err
		}
	}
	if grantee == "" {
		return g, true, nil
	}
	if err := n.deliver(ctx, g, ms); err != nil {
		n.log.Warn("grant not delivered yet; will retry while it is valid", "grantee", grantee, "err", err)
		if err := n.grants.SetUndelivered(g.GrantID(), true); err != nil {
			return g, false, err
		}
		return g, false, nil
	}
	return g, true, nil
}

func (n *Node) deliver(ctx context.Context, g *clips.SignedGrant, ms []*clips.SignedManifest) error {
	sctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	return clips.Share(sctx, n.mesh.Host(), g.Grantee(), g, ms)
}

// retryShares delivers undelivered grants while they are valid, every
// interval: a grantee that was offline gets its grant when it is back.
func (n *Node) retryShares(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		ids, err := n.grants.Undelivered()
		if err != nil {
			n.log.Warn("read the share outbox", "err", err)
			continue
		}
		for _, id := range ids {
			g, err := n.grants.Get(n.mesh.ID(), id)
			if err != nil || time.Now().After(g.Expires()) || n.grants.Revoked(id) {
				_ = n.grants.SetUndelivered(id, false) // nothing left to deliver
				continue
			}
			var ms []*clips.SignedManifest
			for _, cid := range g.ClipIDs() {
				if m, err := n.clips.Manifest(cid); err == nil {
					ms = append(ms, m)
				}
			}
			if err := n.deliver(ctx, g, ms); err != nil {
				n.log.Debug("grant still not delivered", "grant", id, "err", err)
				continue
			}
			n.log.Info("grant delivered", "grant", id, "grantee", g.Grantee())
			_ = n.grants.SetUndelivered(id, false)
		}
	}
}

// Grants lists the grants this node issued or received.
func (n *Node) Grants() ([]*clips.SignedGrant, error) { return n.grants.List() }

// RevokeGrant revokes one of this home's grants; later fetches are refused,
// and clips no other active grant covers go back to normal retention.
func (n *Node) RevokeGrant(id clips.GrantID) error {
	if err := n.grants.Revoke(n.key, id); err != nil {
		return err
	}
	n.events.Publish(api.Event{Type: events.Revoke, Data: map[string]string{"grant": id.String()}})
	return n.releaseHolds(context.Background(), time.Now())
}

// releaseHolds gives this home's held clips their retention back once no
// active (unexpired, unrevoked) grant of its own covers them. Clips received
// from others (an agency's evidence) stay held.
func (n *Node) releaseHolds(ctx context.Context, now time.Time) error {
	gs, err := n.grants.List()
	if err != nil {
		return err
	}
	active := map[record.ID]bool{}
	for _, g := range gs {
		if g.Owner == n.mesh.ID() && now.Before(g.Expires()) && !n.grants.Revoked(g.GrantID()) {
			for _, id := range g.ClipIDs() {
				active[id] = true
			}
		}
	}
	ms, err := n.clips.List()
	if err != nil {
		return err
	}
	for _, m := range ms {
		id := m.ClipID()
		if m.Owner != n.mesh.ID() || active[id] {
			continue
		}
		if _, held, err := n.clips.Expires(id); err == nil && held {
			if err := n.clips.Release(ctx, id); err != nil {
				return err
			}
		}
	}
	return nil
}

// holdKeeper releases holds whose grants ended, every minute, and once an
// hour sweeps the chunks that interrupted holds left behind and gives back
// the disk space of expired clips.
func (n *Node) holdKeeper(ctx context.Context) {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	lastSweep := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			if err := n.releaseHolds(ctx, now); err != nil && ctx.Err() == nil {
				n.log.Warn("release holds of ended grants", "err", err)
			}
			if now.Sub(lastSweep) < time.Hour {
				continue
			}
			lastSweep = now
			if _, err := n.clips.Sweep(ctx); err != nil && ctx.Err() == nil {
				n.log.Warn("sweep clip chunks", "err", err)
			}
			if dropped, err := n.clips.CollectGarbage(ctx); err != nil && ctx.Err() == nil {
				n.log.Warn("reclaim the disk space of expired clips", "err", err)
			} else if dropped > 0 {
				n.log.Info("reclaimed the disk space of expired clips", "clips", dropped)
			}
		}
	}
}

// GrantRevoked reports whether g is this home's grant and was revoked.
func (n *Node) GrantRevoked(g *clips.SignedGrant) bool { return n.grants.RevokedGrant(g) }

// Audit lists the owner's access log, newest first.
func (n *Node) Audit(limit int) ([]clips.Entry, error) { return n.audit.List(limit) }

// FetchClip fetches a clip granted to this node from its owner, verifying
// every chunk, and stores it here.
func (n *Node) FetchClip(ctx context.Context, owner peer.ID, clip record.ID) (*clips.SignedManifest, error) {
	g, err := n.grants.For(owner, n.mesh.ID(), clip, time.Now())
	if err != nil {
		// A clip attached to a post: the post carries the owner's
		// neighborhood-wide grant.
		if pg := n.postGrant(owner, clip); pg != nil {
			g, err = pg, nil
		}
	}
	if err != nil {
		return nil, err
	}
	ctx = clips.WithProgress(ctx, func(done, total int64) {
		n.events.Publish(api.Event{Type: events.Fetch, Data: map[string]any{"clip": clip.String(), "done": done, "total": total}})
	})
	return clips.FetchAndStore(ctx, n.mesh.Host(), owner, g.Raw, clip, n.clips)
}

// postGrant finds a grant for clip in owner's posts.
func (n *Node) postGrant(owner peer.ID, clip record.ID) *clips.SignedGrant {
	return n.feed.PostGrant(owner, clip)
}

// Evidence lists the clips received under grants, newest first.
func (n *Node) Evidence() ([]api.EvidenceInfo, error) {
	ts, err := n.grants.Transfers()
	if err != nil {
		return nil, err
	}
	var out []api.EvidenceInfo
	for _, t := range ts {
		e := api.EvidenceInfo{Transfer: t}
		if e.Grant, err = n.grants.Get(t.Owner(), t.GrantID()); err != nil {
			return nil, fmt.Errorf("evidence of clip %.12s: %w", t.ClipID(), err)
		}
		if m, err := n.clips.Manifest(t.ClipID()); err == nil {
			e.Manifest = m
		}
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Transfer.Received().After(out[j].Transfer.Received()) })
	return out, nil
}

// ExportEvidence writes the evidence bundle of a received clip.
func (n *Node) ExportEvidence(w io.Writer, clip record.ID) error {
	es, err := n.Evidence()
	if err != nil {
		return err
	}
	for _, e := range es {
		if e.Transfer.ClipID() != clip {
			continue
		}
		if e.Manifest == nil {
			return fmt.Errorf("clip %.12s: %w", clip, clips.ErrNotFound)
		}
		b := clips.Bundle{Manifest: e.Manifest, Grant: e.Grant, Transfer: e.Transfer}
		if rid := e.Grant.G.GetRequestId(); len(rid) > 0 {
			var id record.ID
			copy(id[:], rid)
			req, err := n.db.Record(id)
			if err != nil {
				return fmt.Errorf("the request %.12s the grant answers: %w", id, err)
			}
			b.Request = req.Raw
			var cid record.ID
			copy(cid[:], req.Entry.GetRequest().GetCredential())
			if d, err := n.reqs.Document(cid); err == nil && d != nil {
				b.Credential = d.Raw
			}
		}
		r, err := n.clips.Reader(clip)
		if err != nil {
			return err
		}
		b.Clip = r
		return clips.WriteBundle(w, b)
	}
	return fmt.Errorf("no evidence for clip %.12s on this node: %w", clip, clips.ErrNotFound)
}
