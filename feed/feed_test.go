package feed_test

import (
	"context"
	"crypto/rand"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/porchlight-mesh/porchlight/clips"
	cpb "github.com/porchlight-mesh/porchlight/clips/pb"
	"github.com/porchlight-mesh/porchlight/feed"
	"github.com/porchlight-mesh/porchlight/geo"
	"github.com/porchlight-mesh/porchlight/record"
	"github.com/porchlight-mesh/porchlight/record/pb"
	"github.com/porchlight-mesh/porchlight/store"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// storeLog is a Log over a real store: the mesh's Append without the
// network. fail, if set, makes Append fail after the grant was issued.
type storeLog struct {
	db   *store.DB
	key  crypto.PrivKey
	id   peer.ID
	fail error
}

func (l *storeLog) ID() peer.ID { return l.id }

func (l *storeLog) Append(body func(*pb.Entry)) (*record.Signed, error) {
	if l.fail != nil {
		return nil, l.fail
	}
	return l.db.AppendOwn(l.key, body)
}

// memSharer is the sharing service's contract in memory: real signed
// grants, and holds tracked as the service tracks them (a clip is held
// while an unrevoked grant of this home names it).
type memSharer struct {
	key      crypto.PrivKey
	holdFail error // Share issues the grant, then fails to hold

	mu      sync.Mutex
	revokes int // RevokeGrant calls
	grants  []*clips.SignedGrant
	revoked map[clips.GrantID]bool
	held    map[record.ID]bool
}

func (s *memSharer) Share(ctx context.Context, grantee peer.ID, clipIDs []record.ID, request record.ID, expires time.Time) (*clips.SignedGrant, bool, error) {
	owner, _ := peer.IDFromPrivateKey(s.key)
	gid := make([]byte, clips.GrantIDLen)
	rand.Read(gid)
	pg := &cpb.Grant{GrantId: gid, Owner: []byte(owner), Grantee: []byte(grantee), Issued: time.Now().UnixMilli(), Expires: expires.UnixMilli()}
	for _, id := range clipIDs {
		pg.ClipIds = append(pg.ClipIds, id[:])
	}
	g, err := clips.SealGrant(pg, s.key)
	if err != nil {
		return nil, false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.grants = append(s.grants, g)
	if s.holdFail != nil {
		return g, false, s.holdFail
	}
	for _, id := range clipIDs {
		s.held[id] = true
	}
	return g, true, nil
}

func (s *memSharer) RevokeGrant(id clips.GrantID) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.revokes++
	found := false
	for _, g := range s.grants {
		found = found || g.GrantID() == id
	}
	if !found {
		return clips.ErrGrantNotFound
	}
	s.revoked[id] = true
	clear(s.held)
	for _, g := range s.grants {
		if !s.revoked[g.GrantID()] {
			for _, c := range g.ClipIDs() {
				s.held[c] = true
			}
		}
	}
	return nil
}

func (s *memSharer) GrantRevoked(g *clips.SignedGrant) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.revoked[g.GrantID()]
}

func (s *memSharer) isHeld(id record.ID) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.held[id]
}

type fixture struct {
	svc    *feed.Service
	log    *storeLog
	sharer *memSharer
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	db, err := store.Open(store.Config{Dir: t.TempDir(), Neighborhood: "maple-st", Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	key, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := peer.IDFromPrivateKey(key)
	f := &fixture{
		log:    &storeLog{db: db, key: key, id: id},
		sharer: &memSharer{key: key, revoked: map[clips.GrantID]bool{}, held: map[record.ID]bool{}},
	}
	if f.svc, err = feed.New(feed.Config{Log: f.log, Store: db, Sharer: f.sharer}); err != nil {
		t.Fatal(err)
	}
	return f
}

func clipID(b byte) record.ID {
	var id record.ID
	id[0] = b
	return id
}

func (f *fixture) list(t *testing.T) []feed.Post {
	t.Helper()
	ps, err := f.svc.List(10)
	if err != nil {
		t.Fatal(err)
	}
	return ps
}

func TestPostDefaultsAndReadsBack(t *testing.T) {
	f := newFixture(t)
	here := &geo.Point{Lat: 40.7128, Lon: -74.006}
	p, err := f.svc.Post(context.Background(), feed.NewPost{Text: "Lost grey cat", Location: here})
	if err != nil {
		t.Fatal(err)
	}
	if p.Kind != feed.DefaultKind || p.Text != "Lost grey cat" || p.Author != f.log.id || p.Location == nil || *p.Location != *here {
		t.Fatalf("post = %+v", p)
	}
	if ps := f.list(t); len(ps) != 1 || ps[0].ID != p.ID {
		t.Fatalf("feed = %+v, want the post", ps)
	}
	if feed.SharedGrant(p) != nil {
		t.Fatal("a post without clips shares a grant")
	}
}

func TestPostWithClipsSharesThemUntilRetracted(t *testing.T) {
	f := newFixture(t)
	c := clipID(1)
	p, err := f.svc.Post(context.Background(), feed.NewPost{Kind: "safety", Text: "Someone tried our door", Clips: []record.ID{c}})
	if err != nil {
		t.Fatal(err)
	}
	g := feed.SharedGrant(p)
	if g == nil || !g.Covers(c) || g.Grantee() != "" {
		t.Fatalf("post shares %v, want a neighborhood grant of the clip", g)
	}
	if left := time.Until(g.Expires()); left < feed.ClipGrantPeriod-time.Minute || left > feed.ClipGrantPeriod {
		t.Fatalf("grant expires in %s, want %s", left, feed.ClipGrantPeriod)
	}
	if !f.sharer.isHeld(c) {
		t.Fatal("the attached clip is not held")
	}
	if pg := f.svc.PostGrant(f.log.id, c); pg == nil || pg.GrantID() != g.GrantID() {
		t.Fatalf("PostGrant = %v, want the post's grant", pg)
	}
	if pg := f.svc.PostGrant(f.log.id, clipID(2)); pg != nil {
		t.Fatalf("PostGrant of a clip no post attaches = %v", pg)
	}
	if _, err := f.svc.Retract(p.ID); err != nil {
		t.Fatal(err)
	}
	if !f.sharer.GrantRevoked(g) || f.sharer.isHeld(c) {
		t.Fatal("retracting the post left its grant standing or its clip held")
	}
	if ps := f.list(t); len(ps) != 0 {
		t.Fatalf("feed after the retraction = %+v", ps)
	}
	if pg := f.svc.PostGrant(f.log.id, c); pg != nil {
		t.Fatal("a retracted post still grants its clip")
	}
}

// Posting with clips is one operation: a post that fails after its grant
// was issued leaves no grant standing and no clip held.
func TestFailedPostRevokesItsGrant(t *testing.T) {
	for _, tt := range []struct {
		name               string
		appendErr, holdErr error
	}{
		{name: "the log refuses the post", appendErr: errors.New("disk full")},
		{name: "holding a clip fails", holdErr: errors.New("hold: disk full")},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			f.log.fail, f.sharer.holdFail = tt.appendErr, tt.holdErr
			c := clipID(1)
			_, err := f.svc.Post(context.Background(), feed.NewPost{Text: "Someone tried our door", Clips: []record.ID{c}})
			if err == nil || (!errors.Is(err, tt.appendErr) && !errors.Is(err, tt.holdErr)) {
				t.Fatalf("Post = %v, want the failure", err)
			}
			if len(f.sharer.grants) != 1 {
				t.Fatalf("%d grants issued, want 1", len(f.sharer.grants))
			}
			if !f.sharer.GrantRevoked(f.sharer.grants[0]) {
				t.Fatal("the grant of the failed post is not revoked")
			}
			if f.sharer.isHeld(c) {
				t.Fatal("the clip of the failed post is still held")
			}
			f.log.fail = nil
			if ps := f.list(t); len(ps) != 0 {
				t.Fatalf("feed = %+v, want none", ps)
			}
		})
	}
}

// A post the rules refuse shares nothing: it is checked first.
func TestBadPostSharesNothing(t *testing.T) {
	f := newFixture(t)
	for _, np := range []feed.NewPost{
		{Kind: "rumor", Text: "x"},
		{Text: ""},
		{Text: "x", Location: &geo.Point{Lat: 91}},
	} {
		np.Clips = []record.ID{clipID(1)}
		var inv *record.Invalid
		if _, err := f.svc.Post(context.Background(), np); !errors.As(err, &inv) {
			t.Errorf("Post(%+v) = %v, want a *record.Invalid", np, err)
		}
	}
	if len(f.sharer.grants) != 0 {
		t.Fatalf("%d grants issued for refused posts", len(f.sharer.grants))
	}
}

func TestPostWithClipsNeedsASharer(t *testing.T) {
	f := newFixture(t)
	svc, err := feed.New(feed.Config{Log: f.log, Store: f.log.db})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Post(context.Background(), feed.NewPost{Text: "x", Clips: []record.ID{clipID(1)}}); !errors.Is(err, feed.ErrCannotShare) {
		t.Fatalf("Post = %v, want ErrCannotShare", err)
	}
}

// A grant the owner already revoked is not revoked again by Retract (a
// second revocation would be signed with a later time, and announced).
func TestRetractAfterTheGrantWasRevoked(t *testing.T) {
	f := newFixture(t)
	p, err := f.svc.Post(context.Background(), feed.NewPost{Text: "Someone tried our door", Clips: []record.ID{clipID(1)}})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.sharer.RevokeGrant(feed.SharedGrant(p).GrantID()); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Retract(p.ID); err != nil {
		t.Fatal(err)
	}
	if f.sharer.revokes != 1 {
		t.Fatalf("RevokeGrant called %d times, want once (by the owner)", f.sharer.revokes)
	}
}

func TestRetractRefusals(t *testing.T) {
	f := newFixture(t)
	if _, err := f.svc.Retract(clipID(9)); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Retract(unknown) = %v, want ErrNotFound", err)
	}
	p, err := f.svc.Post(context.Background(), feed.NewPost{Text: "oops"})
	if err != nil {
		t.Fatal(err)
	}
	r, err := f.svc.Retract(p.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Retract(r.ID); !errors.Is(err, feed.ErrNotOwnPost) {
		t.Fatalf("Retract(a retraction) = %v, want ErrNotOwnPost", err)
	}
}

// SharedGrant is the one rule for what a post shares.
func TestSharedGrant(t *testing.T) {
	key, _, _ := crypto.GenerateEd25519Key(rand.Reader)
	author, _ := peer.IDFromPrivateKey(key)
	strangerKey, _, _ := crypto.GenerateEd25519Key(rand.Reader)
	_, neighbor, _ := crypto.GenerateEd25519Key(rand.Reader)
	neighborID, _ := peer.IDFromPublicKey(neighbor)
	grant := func(k crypto.PrivKey, grantee peer.ID) []byte {
		s := &memSharer{key: k, revoked: map[clips.GrantID]bool{}, held: map[record.ID]bool{}}
		g, _, err := s.Share(context.Background(), grantee, []record.ID{clipID(1)}, record.ID{}, time.Now().Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		return g.Raw
	}
	for _, tt := range []struct {
		name  string
		grant []byte
		want  bool
	}{
		{"no grant", nil, false},
		{"the author's neighborhood grant", grant(key, ""), true},
		{"the author's grant to one neighbor", grant(key, neighborID), false},
		{"a stranger's neighborhood grant", grant(strangerKey, ""), false},
		{"not a grant", []byte("garbage"), false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := feed.SharedGrant(feed.Post{Author: author, ClipGrant: tt.grant}) != nil; got != tt.want {
				t.Fatalf("shares = %v, want %v", got, tt.want)
			}
		})
	}
}
