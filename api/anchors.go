package api

import (
	"context"
	"net/http"
	"strconv"
	"time"
)

// Anchors are the anchors a node knows, as the API needs them (package
// node keeps them in config.toml and hands them to the mesh).
//
// Errors: a malformed address is a *BadRequestError (400); removing an
// anchor that is not configured wraps store.ErrNotFound (404).
type Anchors interface {
	// List returns the anchors this node knows (configured ones and those
	// the mesh learned) and how they answer. With probe, anchors not
	// connected are first dialled and every anchor is pinged, for at most
	// the context's time, so Connected and RTTMillis say whether it
	// answers now.
	List(ctx context.Context, probe bool) ([]AnchorStatus, error)
	// Add checks addr (a multiaddr of the anchor ending in /p2p/<peer
	// ID>), saves it in config.toml and hands it to the running mesh,
	// which dials it. Adding a configured address again is not an error.
	Add(addr string) (AnchorStatus, error)
	// Remove forgets every configured address of the anchor named by
	// which (its peer ID, or one of its multiaddrs) in config.toml, and
	// returns the addresses removed. The running mesh keeps using it
	// until the node restarts.
	Remove(which string) ([]string, error)
}

// NewAnchorJSON is the body of POST /api/v1/anchors.
type NewAnchorJSON struct {
	Addr string `json:"addr"`
}

// AnchorRemoved is the answer of DELETE /api/v1/anchors/{peer}.
type AnchorRemoved struct {
	Removed []string `json:"removed"`
	// Restart: the running node still uses the anchor until it restarts.
	Restart bool `json:"restart"`
}

// anchorProbeTimeout bounds GET /api/v1/anchors?probe=1.
const anchorProbeTimeout = 5 * time.Second

func (s *Server) routesAnchors() {
	if s.cfg.Anchors == nil {
		return
	}
	s.handle("GET /api/v1/anchors", s.getAnchors)
	s.handle("POST /api/v1/anchors", s.addAnchor)
	s.handle("DELETE /api/v1/anchors/{peer}", s.removeAnchor)
}

func (s *Server) getAnchors(w http.ResponseWriter, r *http.Request) error {
	probe := false
	if v := r.URL.Query().Get("probe"); v != "" {
		var err error
		if probe, err = strconv.ParseBool(v); err != nil {
			return badRequest("probe must be true or false")
		}
	}
	ctx, cancel := context.WithTimeout(r.Context(), anchorProbeTimeout)
	defer cancel()
	out, err := s.cfg.Anchors.List(ctx, probe)
	if err != nil {
		return err
	}
	if out == nil {
		out = []AnchorStatus{}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) addAnchor(w http.ResponseWriter, r *http.Request) error {
	if onLAN(r) {
		return errHubOnlySettings
	}
	var in NewAnchorJSON
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	if in.Addr == "" {
		return badRequest("addr: give the anchor's multiaddr ending in /p2p/<peer ID>")
	}
	a, err := s.cfg.Anchors.Add(in.Addr)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, a)
	return nil
}

func (s *Server) removeAnchor(w http.ResponseWriter, r *http.Request) error {
	if onLAN(r) {
		return errHubOnlySettings
	}
	removed, err := s.cfg.Anchors.Remove(r.PathValue("peer"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, AnchorRemoved{Removed: removed, Restart: true})
	return nil
}
