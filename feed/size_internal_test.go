package feed

import (
	"crypto/rand"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/porchlight-mesh/porchlight/clips"
	cpb "github.com/porchlight-mesh/porchlight/clips/pb"
	"github.com/porchlight-mesh/porchlight/record"
	"github.com/porchlight-mesh/porchlight/record/pb"
	"github.com/porchlight-mesh/porchlight/store"
)

type idLog peer.ID

func (l idLog) ID() peer.ID                                    { return peer.ID(l) }
func (l idLog) Append(func(*pb.Entry)) (*record.Signed, error) { panic("not used") }

// postSize, which the limits check of Post uses before the record is
// signed, bounds the envelope, closely.
func TestPostSizeBoundsTheEnvelope(t *testing.T) {
	db, err := store.Open(store.Config{Dir: t.TempDir(), Neighborhood: "maple-st"})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	key, _, _ := crypto.GenerateEd25519Key(rand.Reader)
	id, _ := peer.IDFromPrivateKey(key)
	s := &Service{cfg: Config{Log: idLog(id), Store: db, Now: time.Now}}
	for _, tt := range []struct {
		text  string
		clips int
	}{{"x", 0}, {strings.Repeat("\u00e9", record.MaxPostText), 0}, {"x", 1}, {"x", 20}} {
		p := &pb.Post{Kind: "lost-found", Text: tt.text, Location: &pb.Location{LatE6: -90e6, LonE6: -180e6}, ReplyTo: make([]byte, 32)}
		est := s.postSize(p, tt.clips)
		if tt.clips > 0 {
			g := &cpb.Grant{GrantId: make([]byte, clips.GrantIDLen), Owner: []byte(id), Issued: time.Now().UnixMilli(), Expires: time.Now().Add(ClipGrantPeriod).UnixMilli()}
			for i := range tt.clips {
				c := make([]byte, 32)
				c[0] = byte(i)
				g.ClipIds = append(g.ClipIds, c)
			}
			sg, err := clips.SealGrant(g, key)
			if err != nil {
				t.Fatal(err)
			}
			p.ClipGrant = sg.Raw
		}
		e := &pb.Entry{Author: []byte(id), Seq: 123456, Prev: make([]byte, 32), Created: time.Now().UnixMilli(), Neighborhood: "maple-st", Body: &pb.Entry_Post{Post: p}}
		sr, err := record.Seal(e, key)
		if err != nil {
			t.Fatal(err)
		}
		if n := int64(len(sr.Raw)); est < n || est > n+1024 {
			t.Errorf("%d chars, %d clips: estimate %d for %d bytes", len(tt.text), tt.clips, est, n)
		} else {
			t.Logf("%d chars, %d clips: estimate %d for %d bytes", len(tt.text), tt.clips, est, n)
		}
	}
}
