package mesh

import (
	"bytes"
	"testing"
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
