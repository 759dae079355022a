package api

import (
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/porchlight-mesh/porchlight/feed"
	"github.com/porchlight-mesh/porchlight/geo"
	"github.com/porchlight-mesh/porchlight/record"
	"github.com/porchlight-mesh/porchlight/store"
)

// PeerJSON is one entry of GET /api/v1/peers.
type PeerJSON struct {
	PeerID      string    `json:"peer_id"`
	Name        string    `json:"name"`
	Addrs       []string  `json:"addrs"`
	Since       time.Time `json:"since"`
	Equivocated bool      `json:"equivocated"`
	// Score is gossipsub's score of the peer as of the last second; below
	// mesh.GraylistThreshold the node disconnects it.
	Score float64 `json:"score"`
	// Path is "lan", "direct" or "relayed" (through an anchor).
	Path string `json:"path"`
	// RTTMillis is the latest round trip to the peer in milliseconds (0:
	// not measured yet).
	RTTMillis float64 `json:"rtt_ms"`
}

// PostJSON is one post of GET /api/v1/feed.
type PostJSON struct {
	ID                string     `json:"id"`
	Author            string     `json:"author"`
	AuthorName        string     `json:"author_name"`
	AuthorEquivocated bool       `json:"author_equivocated"`
	Kind              string     `json:"kind"`
	Text              string     `json:"text"`
	Created           time.Time  `json:"created"`
	Location          *geo.Point `json:"location,omitempty"`
	ReplyTo           string     `json:"reply_to,omitempty"`
	Clips             []string   `json:"clips,omitempty"` // attached; fetch from the author
	// AuthorRemoved: the author was removed from the neighborhood (its
	// posts from before the removal stay, marked).
	AuthorRemoved bool `json:"author_removed"`
}

// NewPostJSON is the body of POST /api/v1/posts.
type NewPostJSON struct {
	Kind     string     `json:"kind"`
	Text     string     `json:"text"`
	Location *geo.Point `json:"location,omitempty"`
	ReplyTo  string     `json:"reply_to,omitempty"`
	// Clips of this home to attach: shared with the whole neighborhood
	// for 30 days (feed.ClipGrantPeriod).
	Clips []string `json:"clips,omitempty"`
}

func (s *Server) routesV1() {
	s.handle("GET /api/v1/status", s.getStatus)
	s.handle("GET /api/v1/peers", s.getPeers)
	s.handle("GET /api/v1/feed", s.getFeed)
	s.handle("POST /api/v1/posts", s.createPost)
	s.handle("POST /api/v1/posts/check", s.checkPost)
	s.handle("DELETE /api/v1/posts/{id}", s.retractPost)
}

func (s *Server) getStatus(w http.ResponseWriter, r *http.Request) error {
	st := s.cfg.Status()
	st.Agency = s.cfg.Requests.IsAgency(s.cfg.Mesh.ID())
	writeJSON(w, http.StatusOK, st)
	return nil
}

func (s *Server) getPeers(w http.ResponseWriter, r *http.Request) error {
	out := []PeerJSON{}
	for _, p := range s.cfg.Mesh.Peers() {
		out = append(out, PeerJSON{PeerID: p.ID.String(), Name: p.Name, Addrs: p.Addrs, Since: p.Since.UTC(), Equivocated: p.Flagged, Score: p.Score,
			Path: string(p.Path), RTTMillis: float64(p.RTT.Microseconds()) / 1000})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// getFeed lists the feed, newest first: limit posts (default 100, at
// most 1000) strictly older than the cursor before (default: from the
// newest). When the page is full, a Link header (rel="next") gives the
// next page's URL, whose before is the position of this page's last post;
// a page that is not full is the end of the feed. A before that is not
// such a cursor is a 400.
func (s *Server) getFeed(w http.ResponseWriter, r *http.Request) error {
	limit, err := queryInt(r, "limit", 100, 1000)
	if err != nil {
		return err
	}
	before, err := store.ParseCursor(r.URL.Query().Get("before"))
	if errors.Is(err, store.ErrBadCursor) {
		return badRequest("before: %v", err)
	}
	if err != nil {
		return err
	}
	page, err := s.cfg.Feed.Page(limit, feed.Before(before))
	if err != nil {
		return err
	}
	if s.cfg.OnFeedRead != nil {
		s.cfg.OnFeedRead()
	}
	// feed.Page leaves out the authors this home muted and marks the
	// posts of removed members.
	out := make([]PostJSON, 0, len(page.Posts))
	for _, p := range page.Posts {
		out = append(out, s.postJSON(p))
	}
	if page.Next != (store.Cursor{}) {
		next := r.URL.Query()
		next.Set("before", page.Next.String())
		w.Header().Set("Link", `</api/v1/feed?`+next.Encode()+`>; rel="next"`)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// idStrings caches the text form (base58) of peer IDs: a page of the
// feed names an author per post, and encoding each was 7 % of serving
// the feed of a year of a street. A street has hundreds of authors; past
// maxIDStrings the cache starts over.
type idStrings struct {
	mu sync.Mutex
	m  map[peer.ID]string
}

const maxIDStrings = 4096

func (c *idStrings) get(id peer.ID) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s, ok := c.m[id]; ok {
		return s
	}
	if c.m == nil || len(c.m) >= maxIDStrings {
		c.m = make(map[peer.ID]string)
	}
	s := id.String()
	c.m[id] = s
	return s
}

func (s *Server) postJSON(p feed.Post) PostJSON {
	j := PostJSON{
		ID: p.ID.String(), Author: s.peerIDs.get(p.Author), AuthorName: p.AuthorName, AuthorEquivocated: p.AuthorFlagged,
		Kind: p.Kind, Text: p.Text, Created: p.Created.UTC(), Location: p.Location,
		AuthorRemoved: p.AuthorRemoved,
	}
	if !p.ReplyTo.IsZero() {
		j.ReplyTo = p.ReplyTo.String()
	}
	if g := feed.SharedGrant(p); g != nil {
		for _, id := range g.ClipIDs() {
			j.Clips = append(j.Clips, id.String())
		}
	}
	return j
}

func (s *Server) createPost(w http.ResponseWriter, r *http.Request) error {
	var in NewPostJSON
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	np := feed.NewPost{Kind: in.Kind, Text: in.Text, Location: in.Location}
	for _, c := range in.Clips {
		id, err := record.ParseID(c)
		if err != nil {
			return badRequest("clips: %v", err)
		}
		np.Clips = append(np.Clips, id)
	}
	if in.ReplyTo != "" {
		id, err := record.ParseID(in.ReplyTo)
		if err != nil {
			return badRequest("reply_to: %v", err)
		}
		np.ReplyTo = id
	}
	p, err := s.cfg.Feed.Post(r.Context(), np)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, s.postJSON(p))
	return nil
}

func (s *Server) retractPost(w http.ResponseWriter, r *http.Request) error {
	id, err := record.ParseID(r.PathValue("id"))
	if err != nil {
		return badRequest("%v", err)
	}
	sr, err := s.cfg.Feed.Retract(id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]string{"id": id.String(), "retraction": sr.ID.String()})
	return nil
}
