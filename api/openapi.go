package api

import (
	_ "embed"
	"net/http"
)

// openAPI is the OpenAPI 3 document of this API. TestOpenAPIMatchesRoutes
// fails if a route exists that it lacks, or the reverse.
//
//go:embed openapi.json
var openAPI []byte

func (s *Server) getOpenAPI(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_, err := w.Write(openAPI)
	return err
}
