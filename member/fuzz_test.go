package member

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/porchlight-mesh/porchlight/member/pb"
)

// seedDocs are one valid document of every kind, and an invite string.
func seedDocs(t testing.TB) (docs [][]byte, inviteString string) {
	w := &world{fixture: newFixture(t, InviteByAny)}
	w.a, w.b, w.x = newHome(t), newHome(t), newHome(t)
	inv := w.invite(w.founder, time.Minute, time.Hour, 2)
	docs = raws(w.charter, inv.doc, w.admit(w.founder, 2*time.Minute, inv, w.a), w.remove(w.founder, 3*time.Minute, w.a),
		w.steward(w.founder, 3*time.Minute, w.b, true), w.revoke(w.founder, 4*time.Minute, inv.doc.ID))
	str := (&Invite{Doc: inv.doc.Raw, ID: inv.doc.ID, Secret: inv.secret}).String()
	return docs, str
}

// FuzzOpenDoc: OpenDoc never panics, and what it accepts decodes again to
// the same roster entry without its signatures being checked.
func FuzzOpenDoc(f *testing.F) {
	docs, _ := seedDocs(f)
	for _, d := range docs {
		f.Add(d)
	}
	f.Add([]byte{})
	now := t0.Add(time.Hour)
	f.Fuzz(func(t *testing.T, raw []byte) {
		d, err := OpenDoc(raw, now)
		if err != nil {
			return
		}
		again, err := decodeTrusted(raw)
		if err != nil {
			t.Fatalf("OpenDoc accepts what decodeTrusted refuses: %v", err)
		}
		if !reflect.DeepEqual(entryOf(d), entryOf(again)) {
			t.Fatal("decodeTrusted reads another document than OpenDoc")
		}
	})
}

// FuzzParseInvite: ParseInvite never panics, errs in one line, and what
// it accepts is written back as an invite string it accepts again.
func FuzzParseInvite(f *testing.F) {
	_, str := seedDocs(f)
	f.Add(str)
	f.Add("porchlight:")
	f.Add("porchlight:aaaa")
	f.Add("")
	now := t0.Add(time.Hour)
	f.Fuzz(func(t *testing.T, s string) {
		inv, err := ParseInvite(s, now)
		if err != nil {
			for _, r := range err.Error() {
				if r == '\n' {
					t.Fatalf("a refusal of more than one line: %q", err)
				}
			}
			return
		}
		again, err := ParseInvite(inv.String(), now)
		if err != nil || again.ID != inv.ID || !again.Secret.Equal(inv.Secret) {
			t.Fatalf("an accepted invite does not round-trip: %v", err)
		}
	})
}

// FuzzDecodeJoinRequest: the join request decoder never panics and
// accepts nothing beyond its bounds.
func FuzzDecodeJoinRequest(f *testing.F) {
	docs, _ := seedDocs(f)
	good, _ := proto.Marshal(&pb.JoinRequest{Invite: docs[1], Claim: make([]byte, 64), Name: "14 Maple St"})
	f.Add(good)
	check, _ := proto.Marshal(&pb.JoinRequest{Invite: docs[1], CheckOnly: true})
	f.Add(check)
	f.Add([]byte{0xf8, 0x01, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		req, err := DecodeJoinRequest(b)
		if err != nil {
			return
		}
		if len(b) > MaxJoinRequest || len([]rune(req.GetName())) > MaxName {
			t.Fatalf("accepted a request of %d bytes, name of %d characters", len(b), len(req.GetName()))
		}
	})
}

// TestWriteFuzzSeeds writes the fuzz targets' seeds under testdata/fuzz
// when MEMBER_WRITE_FUZZ_SEEDS is set (the files are committed).
func TestWriteFuzzSeeds(t *testing.T) {
	if os.Getenv("MEMBER_WRITE_FUZZ_SEEDS") == "" {
		t.Skip("set MEMBER_WRITE_FUZZ_SEEDS=1 to rewrite testdata/fuzz")
	}
	docs, str := seedDocs(t)
	write := func(target, name, value string) {
		dir := filepath.Join("testdata", "fuzz", target)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte("go test fuzz v1\n"+value+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for i, d := range docs {
		write("FuzzOpenDoc", fmt.Sprintf("seed-%d", i), fmt.Sprintf("[]byte(%q)", d))
	}
	write("FuzzParseInvite", "seed-0", fmt.Sprintf("string(%q)", str))
	req, _ := proto.Marshal(&pb.JoinRequest{Invite: docs[1], Claim: make([]byte, 64), Name: "14 Maple St"})
	write("FuzzDecodeJoinRequest", "seed-0", fmt.Sprintf("[]byte(%q)", req))
}
