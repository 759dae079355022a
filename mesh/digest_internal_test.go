package mesh

import (
	"bytes"
	"crypto/rand"
	"testing"

	"github.com/libp2p/go-libp2p/core/crypto"

	rpb "github.com/porchlight-mesh/porchlight/record/pb"
)

// TestAnswerDigest: only a member holding exactly what this node holds is
// told in_sync; an agency (offered less than a member) or a digest of the
// wrong length never is, and a new document changes the digest.
func TestAnswerDigest(t *testing.T) {
	docs := docSet{}
	s := pagingSyncer(t, docs)
	own, err := s.m.syncDigest()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		digest []byte
		st     Standing
		want   bool
	}{
		{"member, same", own, Member, true},
		{"agency, same", own, Agency, false},
		{"stranger, same", own, Stranger, false},
		{"member, other", bytes.Repeat([]byte{7}, len(own)), Member, false},
		{"member, short", own[:16], Member, false},
		{"member, long", append(bytes.Clone(own), 0), Member, false},
	} {
		resp, err := s.answerDigest(tc.digest, tc.st)
		if err != nil {
			t.Fatal(err)
		}
		if resp.GetInSync() != tc.want {
			t.Errorf("%s: in_sync %v, want %v", tc.name, resp.GetInSync(), tc.want)
		}
	}
	if _, err := docs.IngestDoc([]byte("a credential")); err != nil {
		t.Fatal(err)
	}
	after, err := s.m.syncDigest()
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(after, own) {
		t.Error("a new document left the digest unchanged")
	}
}

// TestHeadsDigestCacheFollowsWrites: the cached heads digest is used while
// the store is unchanged and recomputed after any write.
func TestHeadsDigestCacheFollowsWrites(t *testing.T) {
	s := pagingSyncer(t, docSet{})
	db := s.m.cfg.Store
	d0, err := s.m.headsDigest()
	if err != nil {
		t.Fatal(err)
	}
	gen := db.Generation()
	if again, _ := s.m.headsDigest(); again != d0 || db.Generation() != gen {
		t.Fatal("an unchanged store gave another digest")
	}
	key, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.AppendOwn(key, func(e *rpb.Entry) {
		e.Body = &rpb.Entry_Post{Post: &rpb.Post{Kind: "general", Text: "new"}}
	}); err != nil {
		t.Fatal(err)
	}
	if db.Generation() == gen {
		t.Fatal("a write left the store's generation as it was")
	}
	d1, err := s.m.headsDigest()
	if err != nil {
		t.Fatal(err)
	}
	if d1 == d0 {
		t.Error("the heads digest did not change after a record was stored")
	}
}
