package api

import "net/http"

// NeighborhoodJSON is one neighborhood a node serves (GET
// /api/v1/neighborhoods): its own (home), then those it serves for agency
// requests only ([[serve]] in config.toml).
type NeighborhoodJSON struct {
	Neighborhood string `json:"neighborhood"`
	// Home: the node's own neighborhood (its feed, its membership); false
	// for one served for agency requests only.
	Home bool `json:"home"`
	// Peers are the connected neighbors there.
	Peers []string `json:"peers"`
}

func (s *Server) routesNeighborhoods() {
	s.handle("GET /api/v1/neighborhoods", s.getNeighborhoods)
}

func (s *Server) getNeighborhoods(w http.ResponseWriter, r *http.Request) error {
	out := []NeighborhoodJSON{}
	for _, n := range s.cfg.Mesh.Neighborhoods() {
		j := NeighborhoodJSON{Neighborhood: n.Neighborhood, Home: n.Home, Peers: []string{}}
		for _, p := range n.Peers {
			j.Peers = append(j.Peers, p.String())
		}
		out = append(out, j)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
