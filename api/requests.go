package api

import (
	"encoding/base64"
	"errors"
	"net/http"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/porchlight-mesh/porchlight/record"
	"github.com/porchlight-mesh/porchlight/requests"
	"github.com/porchlight-mesh/porchlight/sharing"
)

// RequestJSON is one item of GET /api/v1/requests.
type RequestJSON struct {
	ID              string     `json:"id"`
	Agency          string     `json:"agency"`
	AgencyName      string     `json:"agency_name"`
	Case            string     `json:"case"`
	Incident        string     `json:"incident"`
	Description     string     `json:"description"`
	Contact         string     `json:"contact"`
	Status          string     `json:"status"` // open or closed
	Area            string     `json:"area"`   // circle:LAT,LON,M or polygon:LAT,LON;...
	AreaSqMi        float64    `json:"area_sq_mi"`
	From            time.Time  `json:"from"`
	To              time.Time  `json:"to"`
	Created         time.Time  `json:"created"`
	ClosedAt        *time.Time `json:"closed_at,omitempty"`
	Notes           []NoteJSON `json:"notes"`
	CoversHome      bool       `json:"covers_home"`
	MatchingClips   int        `json:"matching_clips"` // this home's clips overlapping the window, when covered
	Revoked         bool       `json:"credential_revoked"`
	AfterRevocation bool       `json:"after_revocation"`
	// The yield: what the agency's signed Yield records for the request
	// add up to (every node shows the same figures).
	ClipsReceived int     `json:"clips_received"`
	HomesShared   int     `json:"homes_shared"`
	YieldBytes    int64   `json:"yield_bytes"`
	VideoSeconds  float64 `json:"video_seconds"`
}

// NoteJSON is a note added by a later update.
type NoteJSON struct {
	Time time.Time `json:"time"`
	Text string    `json:"text"`
}

// AgencyJSON is one item of GET /api/v1/agencies.
type AgencyJSON struct {
	PeerID           string    `json:"peer_id"`
	Name             string    `json:"name"`
	Issuer           string    `json:"issuer"`
	CredentialStatus string    `json:"credential_status"`
	ValidUntil       time.Time `json:"valid_until"`
	Requests         int       `json:"requests"`
	Open             int       `json:"open"`
	Closed           int       `json:"closed"`
	AreaHours        float64   `json:"area_hours"`
	Equivocation     bool      `json:"equivocation"`
	Proof            []string  `json:"proof,omitempty"` // base64 envelopes
	// YieldOmissions are the homes' proofs, valid and judged against the
	// agency's log, that it left a clip out of a request's yield.
	YieldOmissions []YieldOmissionJSON `json:"yield_omissions"`
	// LogHead is the last position of the agency's log this node holds
	// without a gap: what an issuer pins a revocation to
	// (`issuer revoke --through-seq`).
	LogHead uint64 `json:"log_head"`
}

// NewRequestJSON is the body of POST /api/v1/requests.
type NewRequestJSON struct {
	Case        string    `json:"case"`
	Incident    string    `json:"incident"`
	Description string    `json:"description"`
	Contact     string    `json:"contact"`
	Area        string    `json:"area"`
	From        time.Time `json:"from"`
	To          time.Time `json:"to"`
}

// DocumentJSON is the body of POST /api/v1/documents: a credential or a
// revocation file, base64.
type DocumentJSON struct {
	Document string `json:"document"`
}

func (s *Server) routesRequests() {
	s.handle("GET /api/v1/requests", s.getRequests)
	s.handle("POST /api/v1/requests", s.createRequest)
	s.handle("POST /api/v1/requests/{id}/close", s.closeRequest)
	s.handle("GET /api/v1/requests/{id}/audit-yield", s.auditYield)
	s.handle("GET /api/v1/agencies", s.getAgencies)
	s.handle("POST /api/v1/documents", s.publishDocument)
	s.handle("GET /api/v1/trust", s.getTrust)
	s.handle("POST /api/v1/trust", s.addTrust)
	s.routesOmissions()
}

func (s *Server) getRequests(w http.ResponseWriter, r *http.Request) error {
	limit, err := queryInt(r, "limit", 100, 10000)
	if err != nil {
		return err
	}
	var agency peer.ID
	if a := r.URL.Query().Get("agency"); a != "" {
		if agency, err = peer.Decode(a); err != nil {
			return badRequest("agency %q is not a peer ID", a)
		}
	}
	items, err := s.cfg.Requests.List(agency, limit)
	if err != nil {
		return err
	}
	out := make([]RequestJSON, 0, len(items))
	agencyIDs := map[peer.ID]string{} // base58 once per agency, not once per request
	for _, it := range items {
		aid, ok := agencyIDs[it.Agency]
		if !ok {
			aid = it.Agency.String()
			agencyIDs[it.Agency] = aid
		}
		j := RequestJSON{
			ID: it.ID.String(), Agency: aid, AgencyName: it.AgencyName,
			Case: it.Case, Incident: it.Incident, Description: it.Description, Contact: it.Contact,
			Status: "open", Area: it.Area.String(), AreaSqMi: round3(it.Area.SquareMiles()),
			From: it.From.UTC(), To: it.To.UTC(), Created: it.Created.UTC(), Notes: []NoteJSON{},
			CoversHome: it.CoversHome, Revoked: it.Revoked, AfterRevocation: it.AfterRevocation,
			ClipsReceived: it.Yield.Clips, HomesShared: it.Yield.Homes, YieldBytes: it.Yield.Bytes,
			VideoSeconds: round3(float64(it.Yield.VideoMS) / 1000),
		}
		if it.CoversHome && s.cfg.Clips != nil {
			// Matching is local: the count is shown to the owner only.
			if j.MatchingClips, err = s.cfg.Clips.CountOverlapping("", it.From, it.To); err != nil {
				return err
			}
		}
		if it.Closed {
			j.Status = "closed"
			t := it.ClosedAt.UTC()
			j.ClosedAt = &t
		}
		for _, n := range it.Notes {
			j.Notes = append(j.Notes, NoteJSON{Time: n.Time.UTC(), Text: n.Text})
		}
		out = append(out, j)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func round3(f float64) float64 { return float64(int64(f*1000+0.5)) / 1000 }

func (s *Server) createRequest(w http.ResponseWriter, r *http.Request) error {
	var in NewRequestJSON
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	area, err := requests.ParseArea(in.Area)
	if err != nil {
		return badRequest("area: %v", err)
	}
	if in.From.IsZero() || in.To.IsZero() {
		return badRequest("from and to are required (RFC 3339 times)")
	}
	sr, err := s.cfg.Requests.Create(requests.NewRequest{
		Case: in.Case, Incident: in.Incident, Description: in.Description, Contact: in.Contact,
		Area: area, From: in.From, To: in.To,
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, map[string]string{"id": sr.ID.String()})
	return nil
}

func (s *Server) closeRequest(w http.ResponseWriter, r *http.Request) error {
	id, err := record.ParseID(r.PathValue("id"))
	if err != nil {
		return badRequest("%v", err)
	}
	var in struct {
		Note string `json:"note"`
	}
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	sr, err := s.cfg.Requests.Close(id, in.Note)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]string{"id": id.String(), "update": sr.ID.String()})
	return nil
}

func (s *Server) getAgencies(w http.ResponseWriter, r *http.Request) error {
	ags, err := s.cfg.Requests.Agencies(time.Now())
	if err != nil {
		return err
	}
	out := make([]AgencyJSON, 0, len(ags))
	for _, a := range ags {
		j := AgencyJSON{
			PeerID: a.ID.String(), Name: a.Name, Issuer: a.Issuer.String(), CredentialStatus: a.CredentialStatus,
			ValidUntil: a.ValidUntil.UTC(), Requests: a.Requests, Open: a.Open, Closed: a.Closed,
			AreaHours: a.AreaHours, Equivocation: a.Equivocation, LogHead: a.Head,
			YieldOmissions: yieldOmissions(a.Omissions),
		}
		for _, p := range a.Proof {
			j.Proof = append(j.Proof, base64.StdEncoding.EncodeToString(p))
		}
		out = append(out, j)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) publishDocument(w http.ResponseWriter, r *http.Request) error {
	var in DocumentJSON
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	raw, err := base64.StdEncoding.DecodeString(in.Document)
	if err != nil {
		return badRequest("document: not base64")
	}
	d, err := record.OpenDoc(raw)
	if err != nil {
		return err
	}
	if err := s.cfg.Mesh.PublishDoc(raw); err != nil {
		return err
	}
	kind := "credential"
	if d.Revocation != nil {
		kind = "revocation"
	}
	writeJSON(w, http.StatusOK, map[string]string{"id": d.ID.String(), "kind": kind, "issuer": d.Issuer.String()})
	return nil
}

func (s *Server) getTrust(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, s.cfg.TrustedIssuers())
	return nil
}

func (s *Server) addTrust(w http.ResponseWriter, r *http.Request) error {
	if onLAN(r) {
		return errHubOnlySettings
	}
	var in struct {
		Issuer string `json:"issuer"`
	}
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	id, err := peer.Decode(in.Issuer)
	if err != nil {
		return badRequest("issuer %q is not an issuer ID (as printed by `porchlight issuer init`)", in.Issuer)
	}
	if err := s.cfg.Trust(id); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.cfg.TrustedIssuers())
	return nil
}

// YieldAuditor audits the yield of a request for this home
// (sharing.Service implements it; the API's Sharing is asked for it).
type YieldAuditor interface {
	AuditYield(request record.ID) (sharing.YieldAudit, error)
}

var _ YieldAuditor = (*sharing.Service)(nil)

// YieldAuditJSON is the answer of GET /api/v1/requests/{id}/audit-yield:
// whether the agency's public yield counts each clip this home shared for
// the request. Computed on this node alone; nothing is sent.
type YieldAuditJSON struct {
	Request    string          `json:"request"`
	Included   int             `json:"included"`
	Missing    int             `json:"missing"`
	Pending    int             `json:"pending"`
	NotFetched int             `json:"not_fetched"`
	Clips      []YieldClipJSON `json:"clips"`
}

// YieldClipJSON is one clip of a yield audit.
type YieldClipJSON struct {
	Clip   string     `json:"clip"`
	Grant  string     `json:"grant"`
	Agency string     `json:"agency"`
	Served *time.Time `json:"served,omitempty"` // when this home served the whole clip
	// State: included, missing (the agency's log went on YieldGrace past
	// the serve without counting it), pending, or not_fetched.
	State       string `json:"state"`
	YieldSeq    uint64 `json:"yield_seq,omitempty"`    // the Yield record that counts it
	YieldRecord string `json:"yield_record,omitempty"` // its ID
	// Commitment is the share's value in the yield, which only this home
	// and the agency can compute.
	Commitment string `json:"commitment"`
}

func (s *Server) auditYield(w http.ResponseWriter, r *http.Request) error {
	id, err := record.ParseID(r.PathValue("id"))
	if err != nil {
		return badRequest("%v", err)
	}
	ya, ok := s.cfg.Sharing.(YieldAuditor)
	if !ok {
		return &Error{Status: http.StatusNotFound, Code: "not_found", Msg: "this node does not audit yields"}
	}
	a, err := ya.AuditYield(id)
	switch {
	case errors.Is(err, requests.ErrUnknownRequest):
		return &Error{Status: http.StatusNotFound, Code: "not_found", Msg: "no such request on this node: " + err.Error()}
	case errors.Is(err, sharing.ErrNoYields):
		return &Error{Status: http.StatusNotFound, Code: "not_found", Msg: err.Error()}
	case err != nil:
		return err
	}
	out := YieldAuditJSON{Request: id.String(), Clips: []YieldClipJSON{}}
	for _, c := range a.Clips {
		j := YieldClipJSON{Clip: c.Clip.String(), Grant: c.Grant.String(), Agency: c.Agency.String(), State: c.State, Commitment: c.Commitment.String()}
		if !c.Served.IsZero() {
			t := c.Served.UTC()
			j.Served = &t
		}
		if c.Yield.Seq > 0 {
			j.YieldSeq, j.YieldRecord = c.Yield.Seq, c.Yield.ID.String()
		}
		switch c.State {
		case requests.YieldIncluded:
			out.Included++
		case requests.YieldMissing:
			out.Missing++
		case requests.YieldPending:
			out.Pending++
		default:
			out.NotFetched++
		}
		out.Clips = append(out.Clips, j)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
