package api

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/porchlight-mesh/porchlight/clips"
	"github.com/porchlight-mesh/porchlight/record"
	"github.com/porchlight-mesh/porchlight/sharing"
)

// Sharing is the node's consent side: grants, the access log, fetching
// (package sharing).
type Sharing interface {
	// Share issues a grant of clipIDs to grantee (empty: the neighborhood)
	// until expires, holds the clips and delivers the grant; delivered is
	// false if the grantee could not be reached now (the grant is
	// delivered later). A clip that could not be held is an error returned
	// with the grant.
	Share(ctx context.Context, grantee peer.ID, clipIDs []record.ID, request record.ID, expires time.Time) (g *clips.SignedGrant, delivered bool, err error)
	// Grants lists grants issued or received, newest first.
	Grants() ([]*clips.SignedGrant, error)
	// RevokeGrant revokes one of this home's grants (clips.ErrGrantNotFound).
	RevokeGrant(id clips.GrantID) error
	// GrantRevoked reports whether g is this home's own grant and was
	// revoked. (Grants are identified by owner and ID: another owner's grant
	// may carry the same ID.)
	GrantRevoked(g *clips.SignedGrant) bool
	// Audit lists the access log, newest first.
	Audit(limit int) ([]clips.Entry, error)
	// FetchClip fetches a granted clip from its owner and stores it here.
	FetchClip(ctx context.Context, owner peer.ID, clip record.ID) (*clips.SignedManifest, error)
	// Evidence lists clips received under grants, newest first.
	Evidence() ([]sharing.EvidenceInfo, error)
	// ExportEvidence writes the evidence bundle of a received clip
	// (clips.ErrNotFound if there is none). It checks the bundle's
	// documents before it writes a byte, so an error before the first
	// write means w is untouched.
	ExportEvidence(w io.Writer, clip record.ID) error
}

// The node's sharing.Service is the Sharing the API is handed.
var _ Sharing = (*sharing.Service)(nil)

// EvidenceJSON is one item of GET /api/v1/evidence.
type EvidenceJSON struct {
	ID       string    `json:"id"` // the clip ID; export with /evidence/{id}/bundle
	Clip     string    `json:"clip"`
	Owner    string    `json:"owner"`
	Request  string    `json:"request"`
	SHA256   string    `json:"sha256"`
	Size     uint64    `json:"size"`
	Camera   string    `json:"camera"`
	Start    time.Time `json:"start"`
	Received time.Time `json:"received"`
	// Verified: every chunk matched the owner's signed manifest on receipt,
	// and the stored clip is still there.
	Verified bool `json:"verified"`
}

// GrantJSON is one item of GET /api/v1/grants.
type GrantJSON struct {
	ID        string    `json:"id"`
	Owner     string    `json:"owner"`
	Grantee   string    `json:"grantee"` // "" = the whole neighborhood
	Clips     []string  `json:"clips"`
	Request   string    `json:"request,omitempty"`
	Issued    time.Time `json:"issued"`
	Expires   time.Time `json:"expires"`
	Revoked   bool      `json:"revoked"`
	Delivered *bool     `json:"delivered,omitempty"`
}

// AuditJSON is one entry of GET /api/v1/audit.
type AuditJSON struct {
	Time   time.Time `json:"time"`
	Peer   string    `json:"peer"`
	Clip   string    `json:"clip"`
	Served bool      `json:"served"`
	Reason string    `json:"reason"`
	Bytes  int64     `json:"bytes"`
}

// NewGrantJSON is the body of POST /api/v1/grants: to a peer, or to the
// agency of a request.
type NewGrantJSON struct {
	To      string   `json:"to"`
	Request string   `json:"request"`
	Clips   []string `json:"clips"`
	Expires string   `json:"expires"` // a duration such as "7d" or "72h"; default 7d
}

func (s *Server) routesSharing() {
	if s.cfg.Sharing == nil {
		return
	}
	s.handle("GET /api/v1/grants", s.getGrants)
	s.handle("POST /api/v1/grants", s.createGrant)
	s.handle("POST /api/v1/grants/{id}/revoke", s.revokeGrant)
	s.handle("GET /api/v1/audit", s.getAudit)
	s.handle("POST /api/v1/clips/fetch", s.fetchClip)
	s.handle("GET /api/v1/evidence", s.getEvidence)
	s.handle("GET /api/v1/evidence/{id}/bundle", s.getBundle)
}

func (s *Server) getEvidence(w http.ResponseWriter, r *http.Request) error {
	es, err := s.cfg.Sharing.Evidence()
	if err != nil {
		return err
	}
	out := make([]EvidenceJSON, 0, len(es))
	for _, e := range es {
		id := e.Transfer.ClipID()
		j := EvidenceJSON{ID: id.String(), Clip: id.String(), Owner: e.Transfer.Owner().String(), SHA256: id.String(),
			Size: e.Transfer.T.GetSize(), Received: e.Transfer.Received().UTC()}
		if rid := e.Grant.G.GetRequestId(); len(rid) > 0 {
			j.Request = hex.EncodeToString(rid)
		}
		if m := e.Manifest; m != nil {
			j.Camera, j.Start = m.M.GetCamera(), m.Start().UTC()
			j.Verified = m.ClipID() == id && m.M.GetSize() == j.Size
		}
		out = append(out, j)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) getBundle(w http.ResponseWriter, r *http.Request) error {
	setDownloadHeaders(w.Header())
	id, err := record.ParseID(r.PathValue("id"))
	if err != nil {
		return badRequest("%v", err)
	}
	// Check first, so a missing bundle is a JSON error, not a broken tar.
	es, err := s.cfg.Sharing.Evidence()
	if err != nil {
		return err
	}
	found := false
	for _, e := range es {
		found = found || e.Transfer.ClipID() == id && e.Manifest != nil
	}
	if !found {
		return fmt.Errorf("no evidence for clip %.12s on this node: %w", id, clips.ErrNotFound)
	}
	_ = http.NewResponseController(w).SetWriteDeadline(time.Time{})
	bw := &bundleWriter{w: w, name: "evidence-" + id.String()[:12] + ".tar"}
	err = s.cfg.Sharing.ExportEvidence(bw, id)
	switch {
	case err == nil && bw.started:
		return nil
	case err == nil:
		err = errors.New("the bundle came out empty")
	case errors.Is(err, clips.ErrNotFound) && !bw.started:
		return err
	}
	s.cfg.Logger.Error("export evidence bundle", "clip", id, "err", err)
	if bw.started {
		// The status line is out: break the transfer, so the client sees
		// a failure rather than a short tar that looks complete.
		panic(http.ErrAbortHandler)
	}
	return &Error{Status: http.StatusInternalServerError, Code: "evidence_export_failed",
		Msg: fmt.Sprintf("cannot export the evidence of clip %.12s: %v; the stored evidence is incomplete or damaged, see the node's log", id, err)}
}

// bundleWriter sends the bundle's headers and status with its first byte,
// so that an export that fails before writing is still an HTTP error.
type bundleWriter struct {
	w       http.ResponseWriter
	name    string
	started bool
}

func (b *bundleWriter) Write(p []byte) (int, error) {
	if !b.started && len(p) > 0 {
		b.started = true
		h := b.w.Header()
		h.Set("Content-Type", "application/x-tar")
		h.Set("Content-Disposition", `attachment; filename="`+b.name+`"`)
		h.Set("X-Content-Type-Options", "nosniff")
		b.w.WriteHeader(http.StatusOK)
	}
	return b.w.Write(p)
}

func (s *Server) grantJSON(g *clips.SignedGrant) GrantJSON {
	j := GrantJSON{ID: g.GrantID().String(), Owner: g.Owner.String(), Issued: g.Issued().UTC(), Expires: g.Expires().UTC(),
		Revoked: s.cfg.Sharing.GrantRevoked(g), Clips: []string{}}
	if gr := g.Grantee(); gr != "" {
		j.Grantee = gr.String()
	}
	for _, id := range g.ClipIDs() {
		j.Clips = append(j.Clips, id.String())
	}
	if r := g.G.GetRequestId(); len(r) > 0 {
		j.Request = hex.EncodeToString(r)
	}
	return j
}

func (s *Server) getGrants(w http.ResponseWriter, r *http.Request) error {
	gs, err := s.cfg.Sharing.Grants()
	if err != nil {
		return err
	}
	out := make([]GrantJSON, 0, len(gs))
	for _, g := range gs {
		out = append(out, s.grantJSON(g))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func parseDays(v string, def time.Duration) (time.Duration, error) {
	if v == "" {
		return def, nil
	}
	if d, ok := strings.CutSuffix(v, "d"); ok {
		var n int
		if _, err := fmt.Sscan(d, &n); err == nil && n > 0 {
			return time.Duration(n) * 24 * time.Hour, nil
		}
	}
	return time.ParseDuration(v)
}

func (s *Server) createGrant(w http.ResponseWriter, r *http.Request) error {
	var in NewGrantJSON
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	if len(in.Clips) == 0 {
		return badRequest("name at least one clip")
	}
	var ids []record.ID
	for _, c := range in.Clips {
		id, err := record.ParseID(c)
		if err != nil {
			return badRequest("clip: %v", err)
		}
		ids = append(ids, id)
	}
	ttl, err := parseDays(in.Expires, 7*24*time.Hour)
	if err != nil || ttl <= 0 {
		return badRequest("expires %q: want a duration such as 7d or 72h", in.Expires)
	}
	var grantee peer.ID
	var request record.ID
	switch {
	case in.Request != "":
		if request, err = record.ParseID(in.Request); err != nil {
			return badRequest("request: %v", err)
		}
		items, err := s.cfg.Requests.List("", 0)
		if err != nil {
			return err
		}
		for _, it := range items {
			if it.ID == request {
				grantee = it.Agency
			}
		}
		if grantee == "" {
			return &Error{Status: http.StatusNotFound, Code: "not_found", Msg: "no such request on this node"}
		}
	case in.To != "":
		if grantee, err = peer.Decode(in.To); err != nil {
			return badRequest("to %q is not a peer ID", in.To)
		}
	default:
		return badRequest("say whom to share with: to (a peer ID) or request (a request ID)")
	}
	g, delivered, err := s.cfg.Sharing.Share(r.Context(), grantee, ids, request, time.Now().Add(ttl))
	if err != nil {
		return err
	}
	j := s.grantJSON(g)
	j.Delivered = &delivered
	writeJSON(w, http.StatusCreated, j)
	return nil
}

func (s *Server) revokeGrant(w http.ResponseWriter, r *http.Request) error {
	b, err := hex.DecodeString(r.PathValue("id"))
	var id clips.GrantID
	if err != nil || len(b) != len(id) {
		return badRequest("grant ID: want %d hex characters", 2*len(id))
	}
	copy(id[:], b)
	if err := s.cfg.Sharing.RevokeGrant(id); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"id": id.String(), "revoked": true})
	return nil
}

func (s *Server) getAudit(w http.ResponseWriter, r *http.Request) error {
	limit, err := queryInt(r, "limit", 100, 10000)
	if err != nil {
		return err
	}
	es, err := s.cfg.Sharing.Audit(limit)
	if err != nil {
		return err
	}
	out := make([]AuditJSON, 0, len(es))
	for _, e := range es {
		out = append(out, AuditJSON{Time: e.Time.UTC(), Peer: e.Peer.String(), Clip: e.Clip.String(), Served: e.Served, Reason: e.Reason, Bytes: e.Bytes})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// FetchTimeout bounds POST /api/v1/clips/fetch.
const FetchTimeout = 10 * time.Minute

func (s *Server) fetchClip(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		From string `json:"from"`
		Clip string `json:"clip"`
	}
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	owner, err := peer.Decode(in.From)
	if err != nil {
		return badRequest("from %q is not a peer ID", in.From)
	}
	id, err := record.ParseID(in.Clip)
	if err != nil {
		return badRequest("clip: %v", err)
	}
	ctx, cancel := context.WithTimeout(r.Context(), FetchTimeout)
	defer cancel()
	// A clip over a slow or relayed path takes longer than the server's
	// write timeout: the answer (or the error saying why it failed) must
	// still reach the client.
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(FetchTimeout + 10*time.Second))
	m, err := s.cfg.Sharing.FetchClip(ctx, owner, id)
	if err != nil {
		return err
	}
	j, err := s.clipJSON(m)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, j)
	return nil
}
