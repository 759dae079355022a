package api

import (
	_ "embed"
	"net/http"
)

// index is the page a login link lands on. The full web UI replaces it.
//
//go:embed index.html
var index []byte

func (s *Server) getIndex(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; style-src 'self' 'unsafe-inline'; script-src 'self' 'unsafe-inline'; frame-ancestors 'none'")
	w.Header().Set("X-Frame-Options", "DENY")
	_, err := w.Write(index)
	return err
}
