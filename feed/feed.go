package feed

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/porchlight-mesh/porchlight/clips"
	"github.com/porchlight-mesh/porchlight/geo"
	"github.com/porchlight-mesh/porchlight/record"
	"github.com/porchlight-mesh/porchlight/record/pb"
	"github.com/porchlight-mesh/porchlight/store"
)

// DefaultKind is the kind of a post written without one.
const DefaultKind = "general"

// ClipGrantPeriod is how long clips attached to a post stay fetchable.
const ClipGrantPeriod = 30 * 24 * time.Hour

// ErrNotOwnPost is returned by Retract for a post this node did not write.
var ErrNotOwnPost = errors.New("only the author of a post can retract it")

// ErrCannotShare is returned by Post for a post with clips on a node that
// was built without a Sharer.
var ErrCannotShare = errors.New("this node cannot share clips")

// Log is this node's own signed log; *mesh.Mesh is one.
type Log interface {
	// ID is the author of the log: this node.
	ID() peer.ID
	// Append signs, stores durably and sends one record whose body the
	// function fills in. An *record.Invalid says which rule it breaks.
	Append(body func(*pb.Entry)) (*record.Signed, error)
}

// Sharer issues and revokes this home's grants of its clips: the sharing
// service.
type Sharer interface {
	// Share grants clipIDs to grantee ("" for the whole neighborhood)
	// until expires, answering request if it is not zero, and holds the
	// clips. A grant that was issued is returned even with an error (a
	// hold that failed), so that the caller can revoke it.
	Share(ctx context.Context, grantee peer.ID, clipIDs []record.ID, request record.ID, expires time.Time) (g *clips.SignedGrant, delivered bool, err error)
	// RevokeGrant revokes one of this home's grants and releases the
	// holds no other grant needs; clips.ErrGrantNotFound if there is no
	// such grant.
	RevokeGrant(id clips.GrantID) error
	// GrantRevoked reports whether g is this home's grant and revoked.
	GrantRevoked(g *clips.SignedGrant) bool
}

// Config configures New.
type Config struct {
	// Log is where this node's posts and retractions are written.
	// Required.
	Log Log
	// Store is the node's database, where the feed is read. Required.
	Store *store.DB
	// Sharer shares the clips attached to posts. Nil: posts cannot
	// attach clips (ErrCannotShare).
	Sharer Sharer
	// Now is the clock of grant expiry. Default time.Now.
	Now func() time.Time
}

// Service writes and lists the feed.
type Service struct {
	cfg Config
}

// New checks cfg and returns a Service.
func New(cfg Config) (*Service, error) {
	switch {
	case cfg.Log == nil:
		return nil, errors.New("feed: Log is required")
	case cfg.Store == nil:
		return nil, errors.New("feed: Store is required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Service{cfg: cfg}, nil
}

// NewPost is what a user writes.
type NewPost struct {
	Kind     string // "" is DefaultKind
	Text     string
	Location *geo.Point
	ReplyTo  record.ID // zero: not a reply
	// Clips of this home to attach: shared with the whole neighborhood
	// for ClipGrantPeriod.
	Clips []record.ID
}

// Post is a post as shown in the feed.
type Post struct {
	ID            record.ID
	Author        peer.ID
	AuthorName    string
	AuthorFlagged bool // the author equivocated
	Kind          string
	Text          string
	Created       time.Time
	Location      *geo.Point
	ReplyTo       record.ID
	ClipGrant     []byte // the grant the post carries, if any; see SharedGrant
}

// SharedGrant is the grant whose clips p shares, or nil. Only a grant the
// author signed for the whole neighborhood counts: any other grant a post
// carries (a stranger's, or one naming a grantee) shares nothing.
func SharedGrant(p Post) *clips.SignedGrant {
	if len(p.ClipGrant) == 0 {
		return nil
	}
	g, err := clips.OpenGrant(p.ClipGrant)
	if err != nil || g.Owner != p.Author || g.Grantee() != "" {
		return nil
	}
	return g
}

// Post writes a feed post: it is checked, signed, stored durably and then
// gossiped. With clips, the neighborhood grant is issued (and the clips
// held) first; if the post then fails, the grant is revoked and the holds
// released. An *record.Invalid error says which rule the post breaks.
func (s *Service) Post(ctx context.Context, np NewPost) (Post, error) {
	p := &pb.Post{Kind: np.Kind, Text: np.Text}
	if p.Kind == "" {
		p.Kind = DefaultKind
	}
	if l := np.Location; l != nil {
		lat, lon := l.E6()
		p.Location = &pb.Location{LatE6: lat, LonE6: lon}
	}
	if !np.ReplyTo.IsZero() {
		p.ReplyTo = np.ReplyTo[:]
	}
	// Refuse a bad post before anything is shared.
	if err := record.CheckPost(p); err != nil {
		return Post{}, err
	}
	var g *clips.SignedGrant
	if len(np.Clips) > 0 {
		if s.cfg.Sharer == nil {
			return Post{}, ErrCannotShare
		}
		var err error
		g, _, err = s.cfg.Sharer.Share(ctx, "", np.Clips, record.ID{}, s.cfg.Now().Add(ClipGrantPeriod))
		if err != nil {
			return Post{}, s.undoShare(g, err)
		}
		p.ClipGrant = g.Raw
	}
	sr, err := s.cfg.Log.Append(func(e *pb.Entry) { e.Body = &pb.Entry_Post{Post: p} })
	if err != nil {
		return Post{}, s.undoShare(g, err)
	}
	ps, err := posts(s.cfg.Store, []*record.Signed{sr})
	if err != nil {
		return Post{}, err
	}
	return ps[0], nil
}

// undoShare revokes the grant g (if one was issued) of a post that failed
// with err, so that no clip stays shared, or held, for a post that does
// not exist.
func (s *Service) undoShare(g *clips.SignedGrant, err error) error {
	if g == nil {
		return err
	}
	if rerr := s.cfg.Sharer.RevokeGrant(g.GrantID()); rerr != nil {
		return errors.Join(err, fmt.Errorf("revoke grant %s of the clips of the post that failed (revoke it by hand): %w", g.GrantID(), rerr))
	}
	return err
}

// Retract withdraws one of this node's own posts; every node purges it.
// The neighborhood grant of its clips is revoked first: the clips must
// stop being served with the post, and if the revocation fails the post
// stays up and Retract can be tried again.
func (s *Service) Retract(id record.ID) (*record.Signed, error) {
	target, err := s.cfg.Store.Record(id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("post %s: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	p := target.Entry.GetPost()
	if target.Author != s.cfg.Log.ID() || p == nil {
		return nil, ErrNotOwnPost
	}
	if err := s.revokePostGrant(Post{Author: target.Author, ClipGrant: p.GetClipGrant()}); err != nil {
		return nil, err
	}
	return s.cfg.Log.Append(func(e *pb.Entry) {
		e.Body = &pb.Entry_Retraction{Retraction: &pb.Retraction{TargetSeq: target.Seq(), TargetHash: id[:]}}
	})
}

func (s *Service) revokePostGrant(p Post) error {
	g := SharedGrant(p)
	if g == nil || s.cfg.Sharer == nil || s.cfg.Sharer.GrantRevoked(g) {
		return nil
	}
	if err := s.cfg.Sharer.RevokeGrant(g.GrantID()); err != nil && !errors.Is(err, clips.ErrGrantNotFound) {
		return fmt.Errorf("revoke the grant of the post's clips before retracting it: %w", err)
	}
	return nil
}

// List returns up to limit live posts, newest first.
func (s *Service) List(limit int) ([]Post, error) {
	recs, err := s.cfg.Store.Feed(limit, store.Cursor{})
	if err != nil {
		return nil, err
	}
	return posts(s.cfg.Store, recs)
}

// postGrantScan is how many of the newest posts PostGrant looks through.
const postGrantScan = 1000

// PostGrant is the grant of a live post of owner's that lets this node
// fetch clip now, or nil: how a neighbor fetches a clip attached to a
// post.
func (s *Service) PostGrant(owner peer.ID, clip record.ID) *clips.SignedGrant {
	posts, err := s.List(postGrantScan)
	if err != nil {
		return nil
	}
	now := s.cfg.Now()
	for _, p := range posts {
		if p.Author != owner {
			continue
		}
		if g := SharedGrant(p); g != nil && clips.CanFetch(g, false, s.cfg.Log.ID(), owner, clip, now) == nil {
			return g
		}
	}
	return nil
}

// posts turns stored post records into feed entries.
func posts(db *store.DB, recs []*record.Signed) ([]Post, error) {
	out := make([]Post, 0, len(recs))
	names := map[peer.ID]string{}
	flags := map[peer.ID]bool{}
	for _, s := range recs {
		p := s.Entry.GetPost()
		name, ok := names[s.Author]
		if !ok {
			var err error
			if name, err = db.Name(s.Author); err != nil {
				return nil, err
			}
			h, err := db.Head(s.Author)
			if err != nil {
				return nil, err
			}
			names[s.Author], flags[s.Author] = name, h.Flagged
		}
		fp := Post{
			ID: s.ID, Author: s.Author, AuthorName: name, AuthorFlagged: flags[s.Author],
			Kind: p.GetKind(), Text: p.GetText(), Created: s.Created(), ClipGrant: p.GetClipGrant(),
		}
		if l := p.GetLocation(); l != nil {
			pt := geo.FromE6(l.GetLatE6(), l.GetLonE6())
			fp.Location = &pt
		}
		copy(fp.ReplyTo[:], p.GetReplyTo())
		out = append(out, fp)
	}
	return out, nil
}
