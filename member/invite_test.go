package member

import (
	"crypto/ed25519"
	"crypto/rand"
	"strings"
	"testing"
	"time"

	ma "github.com/multiformats/go-multiaddr"
	"google.golang.org/protobuf/proto"

	"github.com/porchlight-mesh/porchlight/member/pb"
)

// TestParseInvite: a good invite string round-trips (either case); a bad
// one is refused with one line that says what is wrong.
func TestParseInvite(t *testing.T) {
	w := newWorld(t, InviteByAny)
	clk := &clock{t: t0.Add(time.Hour)}
	s := w.started(t, w.founder, clk)
	addr := ma.StringCast("/ip4/127.0.0.1/tcp/4001/p2p/" + w.founder.id.String())
	inv, err := s.CreateInvite(72*time.Hour, 2, []ma.Multiaddr{addr})
	if err != nil {
		t.Fatal(err)
	}
	str := inv.String()
	if !strings.HasPrefix(str, "porchlight:") || str != strings.ToLower(str) || len(str) > 1000 {
		t.Fatalf("invite string %q (%d characters)", str, len(str))
	}
	for _, in := range []string{str, strings.ToUpper(str), "  " + str + "\n"} {
		got, err := ParseInvite(in, clk.Now())
		if err != nil {
			t.Fatal(err)
		}
		if got.ID != inv.ID || got.Charter != w.charter.ID || got.Uses != 2 || !got.Expires.Equal(inv.Expires) ||
			len(got.Addrs) != 1 || !got.Addrs[0].Equal(addr) || !got.Secret.Equal(inv.Secret) {
			t.Fatalf("parsed %+v", got)
		}
	}

	code := func(mut func(*pb.InviteCode)) string {
		c := &pb.InviteCode{Invite: inv.Doc, Secret: inv.Secret.Seed()}
		mut(c)
		b, _ := proto.Marshal(c)
		return InvitePrefix + strings.ToLower(b32.EncodeToString(b))
	}
	flipped := append([]byte{}, inv.Doc...)
	flipped[len(flipped)-1] ^= 1
	_, otherSecret, _ := ed25519.GenerateKey(rand.Reader)
	cases := []struct {
		name, in string
		now      time.Time
		want     string
	}{
		{"no prefix", strings.TrimPrefix(str, "porchlight:"), clk.Now(), "invite is garbled: it does not start with"},
		{"not base32", str[:20] + "!" + str[21:], clk.Now(), "invite is garbled: not base32"},
		{"cut short", str[:len(str)-40], clk.Now(), "invite is garbled"},
		{"empty", "", clk.Now(), "invite is garbled"},
		{"too long", str + strings.Repeat("a", MaxInviteString), clk.Now(), "invite is garbled: "},
		{"signature tampered", code(func(c *pb.InviteCode) { c.Invite = flipped }), clk.Now(), "invite is tampered with: signature"},
		{"secret swapped", code(func(c *pb.InviteCode) { c.Secret = otherSecret.Seed() }), clk.Now(), "invite is tampered with: its secret"},
		{"short secret", code(func(c *pb.InviteCode) { c.Secret = c.Secret[:31] }), clk.Now(), "invite is garbled: secret"},
		{"not an invite", code(func(c *pb.InviteCode) { c.Invite = w.charter.Raw }), clk.Now(), "invite is garbled: it holds a charter"},
		{"bad address", code(func(c *pb.InviteCode) { c.Addrs = [][]byte{{0xff, 0xff}} }), clk.Now(), "invite is garbled: an address"},
		{"expired", str, inv.Expires, "invite expired at " + inv.Expires.UTC().Format(time.RFC3339)},
	}
	for _, c := range cases {
		_, err := ParseInvite(c.in, c.now)
		if err == nil || !strings.HasPrefix(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: %v, want %q...", c.name, err, c.want)
		}
	}
}
