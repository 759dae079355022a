package api

import (
	"encoding/base64"
	"errors"
	"net/http"
	"time"

	"github.com/porchlight-mesh/porchlight/record"
	"github.com/porchlight-mesh/porchlight/requests"
)

// YieldOmissionJSON is one proven yield omission of an agency (an item of
// AgencyJSON.YieldOmissions): a home's proof that the agency received one
// of its clips for a request and left it out of the request's yield.
type YieldOmissionJSON struct {
	Request string `json:"request"`
	Home    string `json:"home"`
	Record  string `json:"record"`
	// Proof is the home's signed YieldOmission envelope, base64: it
	// carries the agency's signed transfer record and the home's grant.
	Proof string `json:"proof"`
}

// OmissionCheckJSON is one item of GET /api/v1/requests/{id}/omissions:
// a clip this home shared for the request, judged against the agency's
// yield.
type OmissionCheckJSON struct {
	Clip   string `json:"clip"`
	Grant  string `json:"grant"`
	Agency string `json:"agency"`
	// Receipt: the agency handed this home its signed transfer record of
	// the clip; without one nothing can be proven.
	Receipt bool `json:"receipt"`
	// State is "proven" (missing from the yield: publishable), "pending"
	// (the agency's log has not passed the grace yet), "not_proven" (the
	// yield counts it), or "" without a receipt.
	State string     `json:"state"`
	Why   string     `json:"why,omitempty"`
	Due   *time.Time `json:"due,omitempty"`
	// Published is this home's YieldOmission record of the clip, if any.
	Published string `json:"published,omitempty"`
}

// PublishOmissionJSON is the body of POST /api/v1/requests/{id}/omissions.
// Confirm must be true: publishing reveals, to every node, that this home
// shared these clips for the request (OmissionReveals).
type PublishOmissionJSON struct {
	Confirm bool `json:"confirm"`
}

// OmissionReveals says what publishing an omission proof reveals; the CLI
// and the UI show it before they publish.
const OmissionReveals = "Publishing an omission proof writes it to this home's public log, which every node of the neighborhood keeps for good. " +
	"It reveals that this home shared the missing clip(s) with the agency for this request, the clip IDs, when the agency received them, " +
	"and this home's grant: every clip ID it names and the grant's ID, with which anyone can tell which entries of the request's yield are this home's. " +
	"It reveals no video and nothing about clips this home did not share."

func (s *Server) routesOmissions() {
	s.handle("GET /api/v1/requests/{id}/omissions", s.getOmissions)
	s.handle("POST /api/v1/requests/{id}/omissions", s.publishOmission)
}

var errNoReceipts = &Error{Status: http.StatusNotImplemented, Code: "no_receipts", Msg: "this node keeps no grants or receipts"}

func (s *Server) getOmissions(w http.ResponseWriter, r *http.Request) error {
	id, err := record.ParseID(r.PathValue("id"))
	if err != nil {
		return badRequest("%v", err)
	}
	if s.cfg.Omissions == nil {
		return errNoReceipts
	}
	cs, err := s.cfg.Requests.AuditOmissions(s.cfg.Mesh.ID(), id, s.cfg.Omissions)
	if err != nil {
		return err
	}
	out := make([]OmissionCheckJSON, 0, len(cs))
	for _, c := range cs {
		j := OmissionCheckJSON{Clip: c.Clip.String(), Grant: c.Grant.String(), Agency: c.Agency.String(), Receipt: c.Receipt,
			State: string(c.Verdict.State), Why: c.Verdict.Why}
		if c.Receipt {
			due := c.Verdict.Due.UTC()
			j.Due = &due
		}
		if !c.Published.IsZero() {
			j.Published = c.Published.String()
		}
		out = append(out, j)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) publishOmission(w http.ResponseWriter, r *http.Request) error {
	id, err := record.ParseID(r.PathValue("id"))
	if err != nil {
		return badRequest("%v", err)
	}
	var in PublishOmissionJSON
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	if !in.Confirm {
		return badRequest("confirm must be true: %s", OmissionReveals)
	}
	if s.cfg.Omissions == nil {
		return errNoReceipts
	}
	recs, err := s.cfg.Requests.PublishOmission(id, s.cfg.Omissions)
	if errors.Is(err, requests.ErrNoOmission) {
		return &Error{Status: http.StatusConflict, Code: "no_omission", Msg: err.Error() + " (see GET /api/v1/requests/{id}/omissions)"}
	}
	out := map[string]any{"records": []string{}}
	ids := []string{}
	for _, sr := range recs {
		ids = append(ids, sr.ID.String())
	}
	out["records"] = ids
	if err != nil {
		if len(recs) == 0 {
			return err
		}
		out["error"] = err.Error() // some were published
	}
	writeJSON(w, http.StatusCreated, out)
	return nil
}

// yieldOmissions renders an agency's proven omissions.
func yieldOmissions(os []requests.Omission) []YieldOmissionJSON {
	out := make([]YieldOmissionJSON, 0, len(os))
	for _, o := range os {
		out = append(out, YieldOmissionJSON{Request: o.Request.String(), Home: o.Home.String(), Record: o.Record.String(),
			Proof: base64.StdEncoding.EncodeToString(o.Raw)})
	}
	return out
}
