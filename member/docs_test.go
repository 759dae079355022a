package member

import (
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/porchlight-mesh/porchlight/member/pb"
	"github.com/porchlight-mesh/porchlight/record"
)

// TestOpenDocLimits: every limit of a document, at and past its bound.
func TestOpenDocLimits(t *testing.T) {
	f := newFixture(t, InviteByAny)
	h := newHome(t)
	now := t0.Add(time.Hour)
	inv := f.invite(f.founder, time.Minute, time.Hour, 1)
	joiner := newHome(t)
	base := func(body func(*pb.Doc)) *pb.Doc {
		m := &pb.Doc{Author: []byte(h.id), Created: now.UnixMilli(), Neighborhood: f.nb}
		body(m)
		return m
	}
	removal := func(reason string) func(*pb.Doc) {
		return func(m *pb.Doc) {
			m.Body = &pb.Doc_Removal{Removal: &pb.Removal{Member: []byte(joiner.id), Reason: reason}}
		}
	}
	inviteBody := func(life time.Duration, uses uint32) func(*pb.Doc) {
		return func(m *pb.Doc) {
			m.Body = &pb.Doc_Invite{Invite: &pb.Invite{Charter: f.charter.ID[:], Key: make([]byte, 32), Expires: m.Created + life.Milliseconds(), Uses: uses}}
		}
	}
	admission := func(name string, claim []byte) func(*pb.Doc) {
		return func(m *pb.Doc) {
			m.Body = &pb.Doc_Admission{Admission: &pb.Admission{Invite: inv.doc.Raw, Member: []byte(joiner.id), Name: name, Claim: claim}}
		}
	}
	charter := func(c *pb.Charter) func(*pb.Doc) {
		return func(m *pb.Doc) { m.Neighborhood = ""; m.Body = &pb.Doc_Charter{Charter: c} }
	}
	good := claimOf(inv, joiner)
	cases := []struct {
		name   string
		m      *pb.Doc
		reason record.Reason
	}{
		{"reason of 280 characters", base(removal(strings.Repeat("é", MaxReason))), ""},
		{"reason of 281 characters", base(removal(strings.Repeat("é", MaxReason+1))), record.ReasonTooLong},
		{"name of 64 characters", base(admission(strings.Repeat("ü", MaxName), good)), ""},
		{"name of 65 characters", base(admission(strings.Repeat("ü", MaxName+1), good)), record.ReasonTooLong},
		{"claim of another home", base(admission("x", claimOf(inv, h))), ReasonClaim},
		{"claim of 63 bytes", base(admission("x", good[:63])), ReasonClaim},
		{"uses 1", base(inviteBody(time.Hour, 1)), ""},
		{"uses 100", base(inviteBody(time.Hour, MaxUses)), ""},
		{"uses 0", base(inviteBody(time.Hour, 0)), record.ReasonMalformed},
		{"uses 101", base(inviteBody(time.Hour, MaxUses+1)), record.ReasonMalformed},
		{"expires 30 days after", base(inviteBody(MaxInviteLife, 1)), ""},
		{"expires 30 days and 1 ms after", base(inviteBody(MaxInviteLife+time.Millisecond, 1)), record.ReasonTime},
		{"expires when made", base(inviteBody(0, 1)), record.ReasonTime},
		{"created 5 minutes ahead", func() *pb.Doc {
			m := base(removal(""))
			m.Created = now.Add(MaxClockSkew).UnixMilli()
			return m
		}(), ""},
		{"created more than 5 minutes ahead", func() *pb.Doc {
			m := base(removal(""))
			m.Created = now.Add(MaxClockSkew + time.Millisecond).UnixMilli()
			return m
		}(), record.ReasonFuture},
		{"created 0", func() *pb.Doc { m := base(removal("")); m.Created = 0; return m }(), record.ReasonTime},
		{"author is not the signer", func() *pb.Doc { m := base(removal("")); m.Author = []byte(joiner.id); return m }(), record.ReasonAuthor},
		{"no neighborhood", func() *pb.Doc { m := base(removal("")); m.Neighborhood = ""; return m }(), record.ReasonMalformed},
		{"no body", base(func(*pb.Doc) {}), record.ReasonMalformed},
		{"charter", base(charter(&pb.Charter{Name: "Maple", InviteBy: "any", Nonce: make([]byte, 16)})), ""},
		{"charter with a neighborhood", func() *pb.Doc {
			m := base(charter(&pb.Charter{Name: "Maple", InviteBy: "any", Nonce: make([]byte, 16)}))
			m.Neighborhood = "x"
			return m
		}(), ReasonCharter},
		{"charter policy unknown", base(charter(&pb.Charter{Name: "Maple", InviteBy: "anyone", Nonce: make([]byte, 16)})), ReasonCharter},
		{"charter without nonce", base(charter(&pb.Charter{Name: "Maple", InviteBy: "any"})), ReasonCharter},
		{"charter naming its founder steward", base(charter(&pb.Charter{Name: "Maple", InviteBy: "any", Nonce: make([]byte, 16), Stewards: [][]byte{[]byte(h.id)}})), ReasonCharter},
		{"charter without name", base(charter(&pb.Charter{InviteBy: "any", Nonce: make([]byte, 16)})), record.ReasonEmpty},
		{"revocation of a short ID", base(func(m *pb.Doc) {
			m.Body = &pb.Doc_InviteRevocation{InviteRevocation: &pb.InviteRevocation{Invite: make([]byte, 31)}}
		}), record.ReasonMissing},
		{"steward of no peer", base(func(m *pb.Doc) { m.Body = &pb.Doc_Steward{Steward: &pb.Steward{}} }), record.ReasonMissing},
		{"removal keeping 200 documents", base(keeping(joiner, MaxKeep, 32)), ""},
		{"removal keeping 201 documents", base(keeping(joiner, MaxKeep+1, 32)), record.ReasonTooLong},
		{"removal keeping a 31-byte ID", base(keeping(joiner, 1, 31)), record.ReasonMalformed},
		{"unnaming keeping 200 documents", base(unnaming(joiner, MaxKeep, false)), ""},
		{"unnaming keeping 201 documents", base(unnaming(joiner, MaxKeep+1, false)), record.ReasonTooLong},
		{"naming keeping documents", base(unnaming(joiner, 1, true)), record.ReasonMalformed},
	}
	for _, c := range cases {
		raw, err := record.SealEnvelope(Domain, PayloadType, c.m, h.key)
		if err != nil {
			t.Fatal(err)
		}
		_, err = OpenDoc(raw, now)
		if got := record.ReasonOf(err); got != c.reason || (err != nil && got == "") {
			t.Errorf("%s: %v, want reason %q", c.name, err, c.reason)
		}
	}

	// The envelope: at most 8 KiB, of our domain and payload type.
	big := base(removal(""))
	big.Neighborhood = strings.Repeat("n", 64)
	raw, _ := record.SealEnvelope(Domain, PayloadType, big, h.key)
	padded := append(raw, make([]byte, MaxDocSize+1-len(raw))...)
	if _, err := OpenDoc(padded, now); record.ReasonOf(err) != record.ReasonOversized {
		t.Errorf("a document of %d bytes: %v", len(padded), err)
	}
	other, _ := record.SealEnvelope("porchlight-record", PayloadType, big, h.key)
	if _, err := OpenDoc(other, now); record.ReasonOf(err) != record.ReasonSignature {
		t.Errorf("another domain: %v", err)
	}
	otherType, _ := record.SealEnvelope(Domain, "/porchlight/entry/1", big, h.key)
	if _, err := OpenDoc(otherType, now); record.ReasonOf(err) != record.ReasonPayloadType {
		t.Errorf("another payload type: %v", err)
	}
	// Unknown fields are refused.
	withUnknown := proto.Clone(big).(*pb.Doc)
	withUnknown.ProtoReflect().SetUnknown([]byte{0xf8, 0x01, 0x01})
	u, _ := record.SealEnvelope(Domain, PayloadType, withUnknown, h.key)
	if _, err := OpenDoc(u, now); record.ReasonOf(err) != record.ReasonUnknownFields {
		t.Errorf("unknown fields: %v", err)
	}
}

// TestNeighborhoodID: "nb" and 32 lowercase base32 characters.
func TestNeighborhoodID(t *testing.T) {
	var id record.ID
	for i := range id {
		id[i] = byte(i)
	}
	got := NeighborhoodID(id)
	if len(got) != 34 || got != "nb"+strings.ToLower(got[2:]) || !strings.HasPrefix(got, "nbaaaqeayeaudaocajbifqydiob4") {
		t.Fatalf("NeighborhoodID = %q", got)
	}
	raw, cid, err := NewCharter(newHome(t).key, "Maple St", "", nil, "", t0)
	if err != nil {
		t.Fatal(err)
	}
	d, err := OpenDoc(raw, t0)
	if err != nil || d.ID != cid || d.Payload.GetCharter().GetInviteBy() != InviteByAny || d.Neighborhood() != NeighborhoodID(cid) {
		t.Fatalf("NewCharter: %v %+v", err, d)
	}
	raw, _, err = NewCharter(newHome(t).key, "Maple St", InviteByStewards, &pb.Limits{PostsPerHour: 10}, "maple-st", t0)
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := OpenDoc(raw, t0); d.Neighborhood() != "maple-st" || d.Payload.GetCharter().GetLimits().GetPostsPerHour() != 10 {
		t.Fatalf("an adopting charter: %+v", d.Payload)
	}
	if _, _, err := NewCharter(newHome(t).key, "Maple St", "everyone", nil, "", t0); err == nil {
		t.Fatal("a charter with an unknown invite policy")
	}
}

func ids(n, size int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = make([]byte, size)
		out[i][0], out[i][1] = byte(i), byte(i>>8)
	}
	return out
}

func keeping(target home, n, size int) func(*pb.Doc) {
	return func(m *pb.Doc) {
		m.Body = &pb.Doc_Removal{Removal: &pb.Removal{Member: []byte(target.id), Keep: ids(n, size)}}
	}
}

func unnaming(target home, n int, on bool) func(*pb.Doc) {
	return func(m *pb.Doc) {
		m.Body = &pb.Doc_Steward{Steward: &pb.Steward{Member: []byte(target.id), Steward: on, Keep: ids(n, 32)}}
	}
}
