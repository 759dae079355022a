package sharing

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/porchlight-mesh/porchlight/clips"
	"github.com/porchlight-mesh/porchlight/record"
	"github.com/porchlight-mesh/porchlight/requests"
)

// The yield of an agency's requests (docs/protocol.md, "Yield"): the
// agency's node counts in its public log every clip it received for one of
// its requests. The clips received are its transfer records (clips.Grants),
// written and synced when each clip arrived; the Yields written are in its
// log. What is pending is the difference, derived again on every pass, so
// a crash between a clip and its Yield loses nothing: the first pass after
// the start writes it, and requests.Service.Create and Close write it
// before any record of their own (SetYieldSource).

// Defaults of the yield.
const (
	// DefaultYieldDelay is how long the node waits after a clip arrives
	// before it writes the Yield, so the clips of one share go in one
	// record.
	DefaultYieldDelay = 2 * time.Second
	// MaxYieldDelay bounds Config.YieldDelay.
	MaxYieldDelay = 5 * time.Second
	// yieldRetry is how soon a pass that failed is tried again.
	yieldRetry = 30 * time.Second
)

// Yields is what the service asks of the node's requests service for the
// yield of requests (*requests.Service implements it).
type Yields interface {
	// WriteYields appends the Yields that the clips received call for and
	// that the agency's log does not hold yet.
	WriteYields([]requests.ReceivedClip) ([]*record.Signed, error)
	// YieldStatus judges whether the yield of request counts commitment c
	// of a clip served at served (requests.ErrUnknownRequest for a
	// request this node does not hold).
	YieldStatus(request, c record.ID, served time.Time) (requests.Inclusion, error)
}

// ReceivedClips lists the clips this node received as evidence under
// grants that answer a request, from its transfer records: what the
// yields of its requests count (requests.Service.SetYieldSource). A clip
// whose grant is gone is left out (it cannot be committed to) and logged.
func (s *Service) ReceivedClips() ([]requests.ReceivedClip, error) {
	ts, err := s.grants.Transfers()
	if err != nil {
		return nil, err
	}
	var out []requests.ReceivedClip
	for _, t := range ts {
		if t.Receiver != s.self {
			continue
		}
		g, err := s.grants.Get(t.Owner(), t.GrantID())
		if err != nil {
			s.cfg.Logger.Warn("sharing: a clip received has no grant; it is not in the yield", "clip", t.ClipID(), "grant", t.GrantID(), "err", err)
			continue
		}
		var rid record.ID
		copy(rid[:], g.G.GetRequestId())
		if rid.IsZero() {
			continue
		}
		rc := requests.ReceivedClip{Request: rid, Grant: g.ID, Clip: t.ClipID(), Home: t.Owner(), Bytes: t.T.GetSize()}
		if m, err := s.cfg.Clips.Manifest(t.ClipID()); err == nil {
			if d := m.End().Sub(m.Start()); !m.End().IsZero() && d > 0 {
				rc.VideoMS = uint64(d.Milliseconds())
			}
		}
		out = append(out, rc)
	}
	return out, nil
}

// wakeYield asks the yield loop for a pass within YieldDelay.
func (s *Service) wakeYield() {
	select {
	case s.yieldWake <- struct{}{}:
	default: // a pass is due already
	}
}

// writeYields is the yield loop: a pass at the start (clips received
// before a crash), then one YieldDelay after the first clip that arrives
// since the last pass, and again yieldRetry after a pass that failed.
func (s *Service) writeYields(ctx context.Context) {
	t := time.NewTimer(0)
	defer t.Stop()
	armed := true
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.yieldWake:
			if !armed {
				t.Reset(s.cfg.YieldDelay)
				armed = true
			}
		case <-t.C:
			armed = false
			if err := s.yieldPass(); err != nil && ctx.Err() == nil {
				s.cfg.Logger.Warn("sharing: the yield of clips received is not written yet; trying again", "err", err, "in", yieldRetry)
				t.Reset(yieldRetry)
				armed = true
			}
		}
	}
}

func (s *Service) yieldPass() error {
	received, err := s.ReceivedClips()
	if err != nil || len(received) == 0 {
		return err
	}
	wrote, err := s.cfg.Yields.WriteYields(received)
	for _, y := range wrote {
		s.cfg.Logger.Info("sharing: wrote the yield of clips received", "record", y.ID, "request", fmt.Sprintf("%x", y.Entry.GetYield().GetRequestId()[:6]), "clips", len(y.Entry.GetYield().GetShares()))
	}
	return err
}

// Clip states of a yield audit beyond requests' (YieldIncluded,
// YieldMissing, YieldPending).
const (
	// YieldNotFetched: shared, but the grantee has not fetched the whole
	// clip (by this home's access log): the yield owes it nothing.
	YieldNotFetched = "not_fetched"
)

// YieldAudit is what a home learns from auditing a request's yield: for
// each clip it shared under a grant answering the request, whether the
// agency's public yield counts it. It is computed on the home alone and
// shown only to its owner.
type YieldAudit struct {
	Request record.ID
	Clips   []ClipInclusion
}

// ClipInclusion is one clip of a yield audit.
type ClipInclusion struct {
	Clip       record.ID
	Grant      clips.GrantID
	Agency     peer.ID   // the grantee
	Served     time.Time // when the owner's node served the whole clip; zero if it has not
	State      string    // requests.YieldIncluded, YieldMissing, YieldPending, or YieldNotFetched
	Yield      requests.YieldRef
	Passed     uint64    // see requests.Inclusion
	Commitment record.ID // requests.YieldCommitment(request, grant, clip)
}

// ErrNoYields: this service was built without Config.Yields.
var ErrNoYields = errors.New("sharing: this node does not follow yields (no Config.Yields)")

// AuditYield checks, for each clip this home shared under its grants that
// answer request and that the grantee fetched (this home's access log),
// whether the agency's yield counts it: it recomputes the clip's
// commitment, which only this home and the agency can, and looks for it in
// the agency's log as this node holds it. Nothing is sent: the audit
// reveals nothing to anyone.
func (s *Service) AuditYield(request record.ID) (YieldAudit, error) {
	if s.cfg.Yields == nil {
		return YieldAudit{}, ErrNoYields
	}
	out := YieldAudit{Request: request, Clips: []ClipInclusion{}}
	gs, err := s.grants.List()
	if err != nil {
		return out, err
	}
	var mine []*clips.SignedGrant
	for _, g := range gs {
		if g.Owner == s.self && string(g.G.GetRequestId()) == string(request[:]) {
			mine = append(mine, g)
		}
	}
	if len(mine) == 0 {
		return out, nil
	}
	log, err := s.audit.List(clips.MaxAuditList)
	if err != nil {
		return out, err
	}
	// The bytes served per grant and clip, oldest first, and when the
	// whole clip had been served.
	type key struct {
		grant clips.GrantID
		clip  record.ID
	}
	sent := map[key]int64{}
	done := map[key]time.Time{}
	for i := len(log) - 1; i >= 0; i-- {
		e := log[i]
		if !e.Served || e.Clip.IsZero() {
			continue
		}
		k := key{e.Grant, e.Clip}
		sent[k] += e.Bytes
		if _, ok := done[k]; !ok {
			if m, err := s.cfg.Clips.Manifest(e.Clip); err == nil && sent[k] >= m.Size() {
				done[k] = e.Time
			}
		}
	}
	for _, g := range mine {
		for _, clip := range g.ClipIDs() {
			ci := ClipInclusion{Clip: clip, Grant: g.GrantID(), Agency: g.Grantee(), State: YieldNotFetched,
				Commitment: requests.YieldCommitment(request, g.ID, clip)}
			if at, ok := done[key{g.GrantID(), clip}]; ok {
				ci.Served = at
				in, err := s.cfg.Yields.YieldStatus(request, ci.Commitment, at)
				if err != nil {
					return out, err
				}
				ci.State, ci.Yield, ci.Passed = in.State, in.Yield, in.Passed
			}
			out.Clips = append(out.Clips, ci)
		}
	}
	sort.SliceStable(out.Clips, func(i, j int) bool { return out.Clips[i].Served.Before(out.Clips[j].Served) })
	return out, nil
}
