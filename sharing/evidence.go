package sharing

import (
	"fmt"
	"io"
	"sort"

	"github.com/porchlight-mesh/porchlight/clips"
	"github.com/porchlight-mesh/porchlight/record"
)

// EvidenceInfo is a clip received under a grant.
type EvidenceInfo struct {
	Transfer *clips.SignedTransfer
	Grant    *clips.SignedGrant
	Manifest *clips.SignedManifest // nil if the clip is gone
}

// Evidence lists the clips received under grants, newest first.
func (s *Service) Evidence() ([]EvidenceInfo, error) {
	ts, err := s.grants.Transfers()
	if err != nil {
		return nil, err
	}
	var out []EvidenceInfo
	for _, t := range ts {
		e := EvidenceInfo{Transfer: t}
		if e.Grant, err = s.grants.Get(t.Owner(), t.GrantID()); err != nil {
			return nil, fmt.Errorf("evidence of clip %.12s: %w", t.ClipID(), err)
		}
		if m, err := s.cfg.Clips.Manifest(t.ClipID()); err == nil {
			e.Manifest = m
		}
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Transfer.Received().After(out[j].Transfer.Received()) })
	return out, nil
}

// ExportEvidence writes the evidence bundle of a received clip
// (clips.ErrNotFound if there is none): the clip, its manifest, the grant,
// the transfer record, and the request the grant answers with its
// credential.
func (s *Service) ExportEvidence(w io.Writer, clip record.ID) error {
	es, err := s.Evidence()
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
			req, err := s.cfg.Records.Record(id)
			if err != nil {
				return fmt.Errorf("the request %.12s the grant answers: %w", id, err)
			}
			b.Request = req.Raw
			var cid record.ID
			copy(cid[:], req.Entry.GetRequest().GetCredential())
			if d, err := s.cfg.Requests.Document(cid); err == nil && d != nil {
				b.Credential = d.Raw
			}
		}
		r, err := s.cfg.Clips.Reader(clip)
		if err != nil {
			return err
		}
		b.Clip = r
		return clips.WriteBundle(w, b)
	}
	return fmt.Errorf("no evidence for clip %.12s on this node: %w", clip, clips.ErrNotFound)
}
