package feed

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"google.golang.org/protobuf/proto"

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
	// Now is the clock of grant expiry and of the limits' check of own
	// posts. Default time.Now.
	Now func() time.Time
	// Limiter, if set, is checked before this home posts, so that a post
	// its neighbors would refuse is not written (the same Limiter should
	// judge received records, through the mesh's rules). Nil: no limits.
	Limiter *Limiter
	// Removed, if set, says whether an author was removed from the
	// neighborhood, and when: List marks such authors' posts. Nil: none
	// is.
	Removed func(peer.ID) (time.Time, bool)
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
	AuthorRemoved bool // the author was removed from the neighborhood (this post is from before)
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
	if l := s.cfg.Limiter; l != nil {
		if err := l.checkOwn(s.cfg.Log.ID(), s.cfg.Now(), s.postSize(p, len(np.Clips))); err != nil {
			return Post{}, err
		}
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
	ps, err := s.posts([]store.FeedPost{{ID: sr.ID, Author: sr.Author, Seq: sr.Seq(), Created: sr.Entry.GetCreated(), Post: sr.Entry.GetPost()}})
	if err != nil {
		return Post{}, err
	}
	return ps[0], nil
}

// envelopeOverhead bounds what an envelope adds to its entry: the
// signer's public key, the payload type, the signature and their framing
// (about 125 bytes for an Ed25519 key).
const envelopeOverhead = 160

// postSize bounds the envelope of post p, that will carry a grant of
// nclips clips if nclips > 0: the limits are checked before the grant is
// issued and the record signed.
func (s *Service) postSize(p *pb.Post, nclips int) int64 {
	e := &pb.Entry{
		Author: []byte(s.cfg.Log.ID()), Seq: record.MaxSeq, Prev: make([]byte, len(record.ID{})),
		Created: s.cfg.Now().UnixMilli(), Neighborhood: s.cfg.Store.Neighborhood(),
		Body: &pb.Entry_Post{Post: p},
	}
	n := proto.Size(e) + envelopeOverhead
	if nclips > 0 {
		n += 320 + 40*nclips // a grant: its IDs, times and owner, in an envelope
	}
	return int64(n)
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

// ListOption changes what List and Page return.
type ListOption func(*listOptions)

type listOptions struct {
	muted  bool
	before store.Cursor
}

// IncludeMuted makes List return the posts of muted authors too.
func IncludeMuted() ListOption { return func(o *listOptions) { o.muted = true } }

// Before makes List and Page return the posts strictly older than c (the
// Next of a page, or a post's Cursor) instead of the newest.
func Before(c store.Cursor) ListOption { return func(o *listOptions) { o.before = c } }

// listPage is how many posts List reads at a time while it skips muted
// authors' posts.
const listPage = 200

// List returns up to limit live posts, newest first, without the posts
// (replies included) of the authors this home muted unless IncludeMuted
// is given.
func (s *Service) List(limit int, opts ...ListOption) ([]Post, error) {
	p, err := s.Page(limit, opts...)
	return p.Posts, err
}

// Page is one page of the feed.
type Page struct {
	Posts []Post
	// Next is the position to ask for the following page from (with
	// Before); zero when the feed has no post past this page.
	Next store.Cursor
}

// Page is List with the cursor of the next page. Its cost does not
// depend on how deep the page is: the store's feed index holds the posts
// (store.DB.FeedPosts), and what it shows of each author is cached
// (store.DB.Author).
func (s *Service) Page(limit int, opts ...ListOption) (Page, error) {
	var o listOptions
	for _, opt := range opts {
		opt(&o)
	}
	if limit <= 0 {
		return Page{}, nil
	}
	var muted map[peer.ID]bool
	if !o.muted {
		var err error
		if muted, err = s.mutedSet(); err != nil {
			return Page{}, err
		}
	}
	var out []store.FeedPost
	cur := o.before
	for len(out) < limit {
		n := limit - len(out)
		if len(muted) > 0 {
			n = max(listPage, n)
		}
		fps, err := s.cfg.Store.FeedPosts(n, cur)
		if err != nil {
			return Page{}, err
		}
		for _, fp := range fps {
			if !muted[fp.Author] && len(out) < limit {
				out = append(out, fp)
			}
		}
		if len(fps) < n {
			break // the end of the feed
		}
		cur = fps[len(fps)-1].Cursor()
	}
	ps, err := s.posts(out)
	if err != nil {
		return Page{}, err
	}
	p := Page{Posts: ps}
	if len(out) == limit {
		p.Next = out[len(out)-1].Cursor()
	}
	return p, nil
}

// Mute hides p's posts from this home's feed (List). It is local: nothing
// is sent, and p is not told.
func (s *Service) Mute(p peer.ID) error {
	if err := p.Validate(); err != nil {
		return fmt.Errorf("mute %q: %w", p, err)
	}
	if p == s.cfg.Log.ID() {
		return errors.New("a home cannot mute itself")
	}
	if err := s.cfg.Store.Put(store.Mutes, []byte(p), nil); err != nil {
		return fmt.Errorf("mute %s: %w", p, err)
	}
	return nil
}

// Unmute shows p's posts again; unmuting an author who is not muted does
// nothing.
func (s *Service) Unmute(p peer.ID) error {
	if err := s.cfg.Store.Delete(store.Mutes, []byte(p)); err != nil {
		return fmt.Errorf("unmute %s: %w", p, err)
	}
	return nil
}

// Muted returns the authors this home muted, in key order.
func (s *Service) Muted() ([]peer.ID, error) {
	return store.ScanAll(s.cfg.Store, store.Mutes, nil, func(k, _ []byte) (peer.ID, error) {
		return peer.IDFromBytes(k)
	})
}

func (s *Service) mutedSet() (map[peer.ID]bool, error) {
	ids, err := s.Muted()
	if err != nil {
		return nil, err
	}
	m := make(map[peer.ID]bool, len(ids))
	for _, id := range ids {
		m[id] = true
	}
	return m, nil
}

// postGrantScan is how many of the newest posts PostGrant looks through.
const postGrantScan = 1000

// PostGrant is the grant of a live post of owner's that lets this node
// fetch clip now, or nil: how a neighbor fetches a clip attached to a
// post.
func (s *Service) PostGrant(owner peer.ID, clip record.ID) *clips.SignedGrant {
	posts, err := s.List(postGrantScan, IncludeMuted())
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

// author is what a feed entry shows of its author.
type author struct {
	store.AuthorInfo
	removed bool
}

// posts turns feed index entries into feed entries.
func (s *Service) posts(fps []store.FeedPost) ([]Post, error) {
	out := make([]Post, 0, len(fps))
	authors := map[peer.ID]author{}
	for _, fp := range fps {
		p := fp.Post
		a, ok := authors[fp.Author]
		if !ok {
			var err error
			if a.AuthorInfo, err = s.cfg.Store.Author(fp.Author); err != nil {
				return nil, err
			}
			if s.cfg.Removed != nil {
				_, a.removed = s.cfg.Removed(fp.Author)
			}
			authors[fp.Author] = a
		}
		pp := Post{
			ID: fp.ID, Author: fp.Author, AuthorName: a.Name, AuthorFlagged: a.Flagged, AuthorRemoved: a.removed,
			Kind: p.GetKind(), Text: p.GetText(), Created: time.UnixMilli(fp.Created), ClipGrant: p.GetClipGrant(),
		}
		if l := p.GetLocation(); l != nil {
			pt := geo.FromE6(l.GetLatE6(), l.GetLonE6())
			pp.Location = &pt
		}
		copy(pp.ReplyTo[:], p.GetReplyTo())
		out = append(out, pp)
	}
	return out, nil
}

// Cursor is p's position in the feed: Before(p.Cursor()) lists the posts
// older than p.
func (p Post) Cursor() store.Cursor {
	return store.Cursor{Created: p.Created.UnixMilli(), ID: p.ID}
}
