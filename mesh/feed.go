package mesh

import (
	"errors"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/porchlight-mesh/porchlight/record"
	"github.com/porchlight-mesh/porchlight/record/pb"
	"github.com/porchlight-mesh/porchlight/store"
)

// ErrNotOwnPost is returned by Retract for a post this node did not write.
var ErrNotOwnPost = errors.New("only the author of a post can retract it")

// Location is a coarse position.
type Location struct {
	Lat float64 `json:"lat"`
	Lon float64 `json:"lon"`
}

// NewPost is what a user writes.
type NewPost struct {
	Kind     string
	Text     string
	Location *Location
	ReplyTo  record.ID // zero: not a reply
	// ClipGrant is a neighborhood-wide consent grant for attached clips.
	ClipGrant []byte
}

// Post writes a feed post: it is checked, signed, stored durably and then
// gossiped. An *record.Invalid error says which rule the post breaks.
func (m *Mesh) Post(np NewPost) (*record.Signed, error) {
	p := &pb.Post{Kind: np.Kind, Text: np.Text, ClipGrant: np.ClipGrant}
	if p.Kind == "" {
		p.Kind = "general"
	}
	if l := np.Location; l != nil {
		p.Location = &pb.Location{LatE6: int32(l.Lat * 1e6), LonE6: int32(l.Lon * 1e6)}
	}
	if !np.ReplyTo.IsZero() {
		p.ReplyTo = np.ReplyTo[:]
	}
	if err := record.CheckPost(p); err != nil {
		return nil, err
	}
	return m.append(func(e *pb.Entry) { e.Body = &pb.Entry_Post{Post: p} })
}

// Retract withdraws one of this node's own posts; every node purges it.
func (m *Mesh) Retract(id record.ID) (*record.Signed, error) {
	target, err := m.cfg.Store.Record(id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("post %s: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	if target.Author != m.self || target.Entry.GetPost() == nil {
		return nil, ErrNotOwnPost
	}
	return m.append(func(e *pb.Entry) {
		e.Body = &pb.Entry_Retraction{Retraction: &pb.Retraction{TargetSeq: target.Seq(), TargetHash: id[:]}}
	})
}

func (m *Mesh) append(body func(*pb.Entry)) (*record.Signed, error) {
	if err := m.ensureProfile(); err != nil {
		return nil, err
	}
	var check func(*record.Signed) error
	if m.cfg.Rules != nil {
		check = m.cfg.Rules.CheckEntry
	}
	if err := m.awaitRecovery(); err != nil {
		return nil, err
	}
	s, err := m.cfg.Store.AppendOwnUnsynced(m.cfg.Key, body, check)
	if err != nil {
		return nil, err
	}
	// Gossip while the disk syncs; the caller hears "written" only after
	// the sync. If the machine loses power in between, neighbors may hold
	// a record this node lost: awaitRecovery gets it back before the next
	// write, so the log is continued, not forked.
	m.publish(s)
	if err := m.cfg.Store.SyncOwn(); err != nil {
		return nil, err
	}
	m.metrics.accepted.WithLabelValues("own").Inc()
	return s, nil
}

// ErrAwaitingLog is returned by writes of a node whose key was restored
// onto an empty database (Config.KeyMayHaveLog) before any neighbor has
// returned its log.
var ErrAwaitingLog = errors.New("this home's identity was restored onto an empty database, and no neighbor has returned its log yet; " +
	"writing now would fork the log and get the home flagged as an equivocator: connect to a neighbor (check the network, or add one with --peer) and try again")

// awaitRecovery holds this node's first write after an unclean shutdown
// until it has synced with a neighbor (or recoveryWait passed alone), so
// that own records that reached neighbors but not this disk come back
// first. A restored key with an empty log (mustRecover) waits for the sync
// however long it takes: the write fails with ErrAwaitingLog meanwhile.
func (m *Mesh) awaitRecovery() error {
	if m.mustRecover {
		t := time.NewTimer(recoveryWait)
		defer t.Stop()
		select {
		case <-m.firstSynced:
			return nil
		case <-t.C:
			return ErrAwaitingLog
		case <-m.ctx.Done():
			return m.ctx.Err()
		}
	}
	if m.cfg.Store.CleanStart() {
		return nil
	}
	t := time.NewTimer(recoveryWait)
	defer t.Stop()
	select {
	case <-m.firstSynced:
	case <-t.C:
	case <-m.ctx.Done():
		return m.ctx.Err()
	}
	return nil
}

// recoveryWait bounds awaitRecovery for a node with no neighbor in reach.
const recoveryWait = 10 * time.Second

// ensureProfile publishes this home's name if its log does not carry it
// yet. New calls it after the first sync round (or a few seconds alone), so
// a node that lost its disk gets its old log back from its neighbors before
// it writes, instead of forking its own log.
func (m *Mesh) ensureProfile() error {
	if err := m.awaitRecovery(); err != nil {
		return err
	}
	m.profileMu.Lock()
	defer m.profileMu.Unlock()
	name, err := m.cfg.Store.Name(m.self)
	if err != nil {
		return err
	}
	h, err := m.cfg.Store.Head(m.self)
	if err != nil {
		return err
	}
	if h.Max > 0 && name == m.cfg.Name {
		return nil
	}
	s, err := m.cfg.Store.AppendOwn(m.cfg.Key, func(e *pb.Entry) {
		e.Body = &pb.Entry_Profile{Profile: &pb.Profile{Name: m.cfg.Name}}
	})
	if err != nil {
		return err
	}
	m.publish(s)
	return nil
}

// FeedPost is a post as shown in the feed.
type FeedPost struct {
	ID            record.ID
	Author        peer.ID
	AuthorName    string
	AuthorFlagged bool // the author equivocated
	Kind          string
	Text          string
	Created       time.Time
	Location      *Location
	ReplyTo       record.ID
	ClipGrant     []byte // a neighborhood grant for attached clips, if any
}

// Feed returns up to limit live posts, newest first.
func (m *Mesh) Feed(limit int) ([]FeedPost, error) {
	recs, err := m.cfg.Store.Feed(limit, store.Cursor{})
	if err != nil {
		return nil, err
	}
	return FeedPosts(m.cfg.Store, recs)
}

// FeedPosts turns stored post records into feed entries.
func FeedPosts(db *store.DB, recs []*record.Signed) ([]FeedPost, error) {
	out := make([]FeedPost, 0, len(recs))
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
		fp := FeedPost{
			ID: s.ID, Author: s.Author, AuthorName: name, AuthorFlagged: flags[s.Author],
			Kind: p.GetKind(), Text: p.GetText(), Created: s.Created(),
		}
		if l := p.GetLocation(); l != nil {
			fp.Location = &Location{Lat: float64(l.GetLatE6()) / 1e6, Lon: float64(l.GetLonE6()) / 1e6}
		}
		copy(fp.ReplyTo[:], p.GetReplyTo())
		fp.ClipGrant = p.GetClipGrant()
		out = append(out, fp)
	}
	return out, nil
}
