package api

import (
	"embed"
	"net/http"
	"path"
	"time"

	"github.com/porchlight-mesh/porchlight/requests"
)

// ui is the web UI: plain HTML, CSS and JavaScript, no build step.
//
//go:embed ui
var ui embed.FS

// uiTypes are the only files served under /ui/, by extension.
var uiTypes = map[string]string{
	".css": "text/css; charset=utf-8",
	".js":  "text/javascript; charset=utf-8",
	".svg": "image/svg+xml",
	// The installable app (appshell.go): its manifest and icons.
	".webmanifest": "application/manifest+json",
	".png":         "image/png",
}

// csp allows only this origin: no inline script, no CDN, no framing.
const csp = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; media-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

func (s *Server) routesUI() {
	s.handle("GET /{$}", s.getIndex)
	s.handle("GET /ui/{file}", s.getAsset)
	s.handle("GET /api/v1/limits", s.getLimits)
}

func uiHeaders(w http.ResponseWriter, contentType string) {
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Security-Policy", csp)
	w.Header().Set("X-Frame-Options", "DENY")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Referrer-Policy", "no-referrer")
}

func (s *Server) getIndex(w http.ResponseWriter, r *http.Request) error {
	b, err := ui.ReadFile("ui/index.html")
	if err != nil {
		return err
	}
	uiHeaders(w, "text/html; charset=utf-8")
	_, err = w.Write(b)
	return err
}

func (s *Server) getAsset(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("file")
	ct, ok := uiTypes[path.Ext(name)]
	if !ok {
		return &Error{Status: http.StatusNotFound, Code: "not_found", Msg: "no such UI file"}
	}
	b, err := ui.ReadFile("ui/" + name)
	if icon, ok := generatedIcon(name); ok {
		b, err = icon, nil
	}
	if name == workerFile {
		b, err = shellWorker()
		if err != nil {
			return err
		}
		// The worker lives with the other files but serves the whole
		// origin: the page is at /.
		w.Header().Set("Service-Worker-Allowed", "/")
	}
	if err != nil {
		return &Error{Status: http.StatusNotFound, Code: "not_found", Msg: "no such UI file"}
	}
	uiHeaders(w, ct)
	_, err = w.Write(b)
	return err
}

// LimitsJSON is GET /api/v1/limits: the request rules this node enforces,
// so a form can check a request before it is signed.
type LimitsJSON struct {
	MinAreaSqMi   float64 `json:"min_area_sq_mi"`
	MaxAreaSqMi   float64 `json:"max_area_sq_mi"`
	MinWindowSecs int64   `json:"min_window_seconds"`
	MaxWindowSecs int64   `json:"max_window_seconds"`
	MaxFutureSecs int64   `json:"max_future_seconds"`
	MaxOpen       int     `json:"max_open"`
	MaxPolygon    int     `json:"max_polygon_points"`
}

func (s *Server) getLimits(w http.ResponseWriter, r *http.Request) error {
	l := s.cfg.Requests.Limits()
	writeJSON(w, http.StatusOK, LimitsJSON{
		MinAreaSqMi: l.MinArea, MaxAreaSqMi: l.MaxArea,
		MinWindowSecs: int64(l.MinWindow / time.Second), MaxWindowSecs: int64(l.MaxWindow / time.Second),
		MaxFutureSecs: int64(l.MaxFuture / time.Second), MaxOpen: l.MaxOpen, MaxPolygon: requests.MaxPolygonPoints,
	})
	return nil
}
