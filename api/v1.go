package api

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/porchlight-mesh/porchlight/clips"
	"github.com/porchlight-mesh/porchlight/mesh"
	"github.com/porchlight-mesh/porchlight/record"
	"github.com/porchlight-mesh/porchlight/record/pb"
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
}

// PostJSON is one post of GET /api/v1/feed.
type PostJSON struct {
	ID                string         `json:"id"`
	Author            string         `json:"author"`
	AuthorName        string         `json:"author_name"`
	AuthorEquivocated bool           `json:"author_equivocated"`
	Kind              string         `json:"kind"`
	Text              string         `json:"text"`
	Created           time.Time      `json:"created"`
	Location          *mesh.Location `json:"location,omitempty"`
	ReplyTo           string         `json:"reply_to,omitempty"`
	Clips             []string       `json:"clips,omitempty"` // attached; fetch from the author
}

// NewPostJSON is the body of POST /api/v1/posts.
type NewPostJSON struct {
	Kind     string         `json:"kind"`
	Text     string         `json:"text"`
	Location *mesh.Location `json:"location,omitempty"`
	ReplyTo  string         `json:"reply_to,omitempty"`
	// Clips of this home to attach: shared with the whole neighborhood
	// for 30 days.
	Clips []string `json:"clips,omitempty"`
}

func (s *Server) routesV1() {
	s.handle("GET /api/v1/status", s.getStatus)
	s.handle("GET /api/v1/peers", s.getPeers)
	s.handle("GET /api/v1/feed", s.getFeed)
	s.handle("POST /api/v1/posts", s.createPost)
	s.handle("DELETE /api/v1/posts/{id}", s.retractPost)
}

func (s *Server) getStatus(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, s.cfg.Status())
	return nil
}

func (s *Server) getPeers(w http.ResponseWriter, r *http.Request) error {
	out := []PeerJSON{}
	for _, p := range s.cfg.Mesh.Peers() {
		out = append(out, PeerJSON{PeerID: p.ID.String(), Name: p.Name, Addrs: p.Addrs, Since: p.Since.UTC(), Equivocated: p.Flagged, Score: p.Score})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) getFeed(w http.ResponseWriter, r *http.Request) error {
	limit, err := queryInt(r, "limit", 100, 1000)
	if err != nil {
		return err
	}
	posts, err := s.cfg.Mesh.Feed(limit)
	if err != nil {
		return err
	}
	out := make([]PostJSON, 0, len(posts))
	for _, p := range posts {
		out = append(out, postJSON(p))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func postJSON(p mesh.FeedPost) PostJSON {
	j := PostJSON{
		ID: p.ID.String(), Author: p.Author.String(), AuthorName: p.AuthorName, AuthorEquivocated: p.AuthorFlagged,
		Kind: p.Kind, Text: p.Text, Created: p.Created.UTC(), Location: p.Location,
	}
	if !p.ReplyTo.IsZero() {
		j.ReplyTo = p.ReplyTo.String()
	}
	if len(p.ClipGrant) > 0 {
		// Only a grant the author signed for the whole neighborhood counts.
		if g, err := clips.OpenGrant(p.ClipGrant); err == nil && g.Owner == p.Author && g.Grantee() == "" {
			for _, id := range g.ClipIDs() {
				j.Clips = append(j.Clips, id.String())
			}
		}
	}
	return j
}

func (s *Server) createPost(w http.ResponseWriter, r *http.Request) error {
	var in NewPostJSON
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	np := mesh.NewPost{Kind: in.Kind, Text: in.Text, Location: in.Location}
	if len(in.Clips) > 0 {
		if s.cfg.Sharing == nil {
			return badRequest("this node cannot share clips")
		}
		var ids []record.ID
		for _, c := range in.Clips {
			id, err := record.ParseID(c)
			if err != nil {
				return badRequest("clips: %v", err)
			}
			ids = append(ids, id)
		}
		if err := record.CheckPost(&pb.Post{Kind: orGeneral(in.Kind), Text: in.Text}); err != nil {
			return err // refuse before anything is shared
		}
		g, _, err := s.cfg.Sharing.Share(r.Context(), "", ids, record.ID{}, time.Now().Add(postClipGrant))
		if err != nil {
			return err
		}
		np.ClipGrant = g.Raw
	}
	if in.ReplyTo != "" {
		id, err := record.ParseID(in.ReplyTo)
		if err != nil {
			return badRequest("reply_to: %v", err)
		}
		np.ReplyTo = id
	}
	sr, err := s.cfg.Mesh.Post(np)
	if err != nil {
		return err
	}
	posts, err := mesh.FeedPosts(s.cfg.Mesh.Store(), []*record.Signed{sr})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, postJSON(posts[0]))
	return nil
}

// postClipGrant is how long clips attached to a post stay fetchable.
const postClipGrant = 30 * 24 * time.Hour

func orGeneral(k string) string {
	if k == "" {
		return "general"
	}
	return k
}

// revokePostGrant revokes the neighborhood grant of the clips attached to
// this node's own post id, if any, before the post is retracted: the clips
// must stop being served with the post. It runs first so that a failure
// leaves the post up and the request can be retried.
func (s *Server) revokePostGrant(id record.ID) error {
	if s.cfg.Sharing == nil {
		return nil
	}
	sr, err := s.cfg.Mesh.Store().Record(id)
	if err != nil || sr.Author != s.cfg.Mesh.ID() {
		return nil // Retract names the problem
	}
	raw := sr.Entry.GetPost().GetClipGrant()
	if len(raw) == 0 {
		return nil
	}
	g, err := clips.OpenGrant(raw)
	if err != nil || g.Owner != sr.Author || s.cfg.Sharing.GrantRevoked(g) {
		return nil
	}
	if err := s.cfg.Sharing.RevokeGrant(g.GrantID()); err != nil && !errors.Is(err, clips.ErrGrantNotFound) {
		return fmt.Errorf("revoke the grant of the post's clips before retracting it: %w", err)
	}
	return nil
}

func (s *Server) retractPost(w http.ResponseWriter, r *http.Request) error {
	id, err := record.ParseID(r.PathValue("id"))
	if err != nil {
		return badRequest("%v", err)
	}
	if err := s.revokePostGrant(id); err != nil {
		return err
	}
	sr, err := s.cfg.Mesh.Retract(id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]string{"id": id.String(), "retraction": sr.ID.String()})
	return nil
}
