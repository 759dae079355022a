package api

import (
	"errors"
	"mime"
	"net/http"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/porchlight-mesh/porchlight/clips"
	"github.com/porchlight-mesh/porchlight/record"
)

// ClipJSON is one item of GET /api/v1/clips.
type ClipJSON struct {
	ID        string     `json:"id"`
	Owner     string     `json:"owner"` // the home that recorded it
	Camera    string     `json:"camera"`
	Start     time.Time  `json:"start"`
	End       *time.Time `json:"end"` // null when unknown
	Size      uint64     `json:"size"`
	SHA256    string     `json:"sha256"`
	MediaType string     `json:"media_type"`
	Expires   *time.Time `json:"expires"` // null while held
	Hold      bool       `json:"hold"`
}

// maxUpload bounds one clip upload.
const maxUpload = 8 << 30

// uploadHeader must accompany an upload: a cross-origin page cannot set it
// without a CORS preflight, which this API never grants.
const uploadHeader = "X-Porchlight-Upload"

func (s *Server) routesClips() {
	if s.cfg.Clips == nil {
		return
	}
	s.handle("GET /api/v1/clips", s.getClips)
	s.handle("GET /api/v1/clips/cameras", s.getCameras)
	s.handleUpload("POST /api/v1/clips", s.uploadClip)
	s.handle("GET /api/v1/clips/{id}/video", s.getVideo)
}

func (s *Server) clipJSON(m *clips.SignedManifest) (ClipJSON, error) {
	p := m.M
	j := ClipJSON{
		ID: m.ClipID().String(), Owner: m.Owner.String(), Camera: p.GetCamera(), Start: time.UnixMilli(p.GetStart()).UTC(),
		Size: p.GetSize(), SHA256: m.ClipID().String(), MediaType: p.GetMediaType(),
	}
	if p.GetEnd() != 0 {
		e := time.UnixMilli(p.GetEnd()).UTC()
		j.End = &e
	}
	exp, held, err := s.cfg.Clips.Expires(m.ClipID())
	if err != nil {
		return j, err
	}
	j.Hold = held
	if !held {
		e := exp.UTC()
		j.Expires = &e
	}
	return j, nil
}

// getClips lists clips, newest recording first. With no query parameter
// it returns every stored clip (as before paging existed). With any of
// limit, cursor, camera, since, until or owner it returns one page, at
// most limit (default clips.DefaultPageSize) clips that started in
// [since, until), of that camera and owner ("self": this home); when more
// remain, a Link header (rel="next") gives the next page's URL.
func (s *Server) getClips(w http.ResponseWriter, r *http.Request) error {
	if len(r.URL.Query()) == 0 {
		return s.getAllClips(w)
	}
	q, err := s.clipQuery(r)
	if err != nil {
		return err
	}
	p, err := s.cfg.Clips.Page(q)
	if errors.Is(err, clips.ErrBadCursor) {
		return badRequest("cursor: %v", err)
	}
	if err != nil {
		return err
	}
	out := make([]ClipJSON, 0, len(p.Clips))
	for _, c := range p.Clips {
		out = append(out, listedJSON(c))
	}
	if p.Next != "" {
		next := r.URL.Query()
		next.Set("cursor", p.Next)
		w.Header().Set("Link", `</api/v1/clips?`+next.Encode()+`>; rel="next"`)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) clipQuery(r *http.Request) (clips.Query, error) {
	v := r.URL.Query()
	limit, err := queryInt(r, "limit", clips.DefaultPageSize, clips.MaxPageSize)
	if err != nil {
		return clips.Query{}, err
	}
	q := clips.Query{Limit: limit, Cursor: v.Get("cursor"), Camera: v.Get("camera")}
	for _, f := range []struct {
		name string
		out  *time.Time
	}{{"since", &q.Since}, {"until", &q.Until}} {
		if t := v.Get(f.name); t != "" {
			if *f.out, err = time.Parse(time.RFC3339, t); err != nil {
				return q, badRequest("%s %q: want an RFC 3339 time", f.name, t)
			}
		}
	}
	switch o := v.Get("owner"); o {
	case "":
	case "self":
		q.Owner = s.cfg.Clips.Owner()
	default:
		if q.Owner, err = peer.Decode(o); err != nil {
			return q, badRequest("owner %q: want self or a peer ID", o)
		}
	}
	return q, nil
}

func (s *Server) getAllClips(w http.ResponseWriter) error {
	ms, err := s.cfg.Clips.List()
	if err != nil {
		return err
	}
	out := make([]ClipJSON, 0, len(ms))
	for _, m := range ms {
		j, err := s.clipJSON(m)
		if errors.Is(err, clips.ErrNotFound) {
			continue // expired meanwhile
		}
		if err != nil {
			return err
		}
		out = append(out, j)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func listedJSON(c clips.Listed) ClipJSON {
	m := c.SignedManifest
	p := m.M
	j := ClipJSON{
		ID: m.ClipID().String(), Owner: m.Owner.String(), Camera: p.GetCamera(), Start: time.UnixMilli(p.GetStart()).UTC(),
		Size: p.GetSize(), SHA256: m.ClipID().String(), MediaType: p.GetMediaType(), Hold: c.Held,
	}
	if p.GetEnd() != 0 {
		e := time.UnixMilli(p.GetEnd()).UTC()
		j.End = &e
	}
	if !c.Held {
		e := c.Expires.UTC()
		j.Expires = &e
	}
	return j
}

// CameraJSON is one item of GET /api/v1/clips/cameras.
type CameraJSON struct {
	Camera string `json:"camera"`
	Clips  int    `json:"clips"`
}

// getCameras lists the cameras of the stored clips (?owner=self: of this
// home's own), with their clip counts, for a listing's camera filter.
func (s *Server) getCameras(w http.ResponseWriter, r *http.Request) error {
	var owner peer.ID
	if r.URL.Query().Get("owner") == "self" {
		owner = s.cfg.Clips.Owner()
	}
	cs, err := s.cfg.Clips.Cameras(owner)
	if err != nil {
		return err
	}
	out := make([]CameraJSON, 0, len(cs))
	for _, c := range cs {
		out = append(out, CameraJSON{Camera: c.Camera, Clips: c.Clips})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// uploadClip stores the request body as a clip: ?camera=&start=&end=
// (RFC 3339), the body's Content-Type as its media type.
func (s *Server) uploadClip(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	meta := clips.ImportMeta{Camera: q.Get("camera")}
	for _, f := range []struct {
		name string
		out  *time.Time
	}{{"start", &meta.Start}, {"end", &meta.End}} {
		if v := q.Get(f.name); v != "" {
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				return badRequest("%s %q: want an RFC 3339 time", f.name, v)
			}
			*f.out = t
		}
	}
	if meta.Start.IsZero() {
		return badRequest("start is required (RFC 3339)")
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err == nil && mt != "application/octet-stream" {
		meta.MediaType = mt
	}
	m, err := s.cfg.Clips.Import(r.Context(), r.Body, meta)
	if err != nil {
		return err
	}
	j, err := s.clipJSON(m)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, j)
	return nil
}

func (s *Server) getVideo(w http.ResponseWriter, r *http.Request) error {
	id, err := record.ParseID(r.PathValue("id"))
	if err != nil {
		return badRequest("%v", err)
	}
	m, err := s.cfg.Clips.Manifest(id)
	if err != nil {
		return err
	}
	rs, err := s.cfg.Clips.Reader(id)
	if err != nil {
		return err
	}
	setDownloadHeaders(w.Header())
	if mt := m.M.GetMediaType(); clips.Playable(mt) {
		w.Header().Set("Content-Type", mt)
	} else {
		// Stored before media types were allow-listed, or
		// application/octet-stream: never rendered in the UI's origin.
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Disposition", `attachment; filename="clip-`+id.String()[:12]+`.bin"`)
	}
	w.Header().Set("Cache-Control", "private, no-store")
	_ = http.NewResponseController(w).SetWriteDeadline(time.Time{}) // long videos
	http.ServeContent(w, r, "", time.UnixMilli(m.M.GetImported()), rs)
	return nil
}

// clipCSP sandboxes a clip or bundle opened as a page of its own: no
// script, no requests, a unique origin. A <video> element that plays the
// clip is not affected (a media response's CSP does not apply to the page
// that embeds it).
const clipCSP = "sandbox; default-src 'none'"

// setDownloadHeaders marks a response that carries a clip's or a bundle's
// bytes (content a stranger may have chosen): the browser must take its
// Content-Type as given and run nothing from it.
func setDownloadHeaders(h http.Header) {
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", clipCSP)
}
