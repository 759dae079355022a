package api

import (
	"bytes"
	"net/http"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/porchlight-mesh/porchlight/transparency"
)

// TransparencyCSVName is the file name GET /api/v1/transparency?format=csv
// suggests for its download.
const TransparencyCSVName = "porchlight-transparency.csv"

func (s *Server) routesTransparency() {
	s.handle("GET /api/v1/transparency", s.getTransparency)
}

// getTransparency is the transparency report (package transparency),
// computed from the signed records this node holds: JSON, or with
// ?format=csv the CSV as a download.
func (s *Server) getTransparency(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	var o transparency.Options
	if a := q.Get("agency"); a != "" {
		id, err := peer.Decode(a)
		if err != nil {
			return badRequest("agency %q is not a peer ID", a)
		}
		o.Agency = id
	}
	if v := q.Get("since"); v != "" {
		t, err := transparency.ParseSince(v)
		if err != nil {
			return badRequest("%v", err)
		}
		o.Since = t
	}
	format := q.Get("format")
	if format != "" && format != "json" && format != "csv" {
		return badRequest("format %q: want json or csv", format)
	}
	rep, err := transparency.Compute(s.cfg.Requests, o)
	if err != nil {
		return err
	}
	if format != "csv" {
		writeJSON(w, http.StatusOK, rep)
		return nil
	}
	var b bytes.Buffer
	if err := rep.WriteCSV(&b); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="`+TransparencyCSVName+`"`)
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	_, err = w.Write(b.Bytes())
	return err
}
