package member

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	"google.golang.org/protobuf/proto"

	"github.com/porchlight-mesh/porchlight/member/pb"
	"github.com/porchlight-mesh/porchlight/record"
)

// InvitePrefix starts every invite string.
const InvitePrefix = "porchlight:"

// MaxInviteString bounds the invite string ParseInvite reads.
const MaxInviteString = 4 << 10

// maxInviteAddrs bounds the addresses an invite string carries.
const maxInviteAddrs = 16

// Invite is an invite with its secret: what an invite string carries.
type Invite struct {
	Doc          []byte // the signed Invite document
	ID           record.ID
	Neighborhood string
	Charter      record.ID
	Inviter      peer.ID
	Expires      time.Time
	Uses         int
	Secret       ed25519.PrivateKey
	Addrs        []ma.Multiaddr // members to reach, with /p2p/
}

// String is the invite string: InvitePrefix and the lowercase base32 (no
// padding) of a pb.InviteCode.
func (i *Invite) String() string {
	c := &pb.InviteCode{Invite: i.Doc, Secret: i.Secret.Seed()}
	for _, a := range i.Addrs {
		c.Addrs = append(c.Addrs, a.Bytes())
	}
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(c)
	if err != nil {
		return "" // cannot happen: the message has only bytes fields
	}
	return InvitePrefix + strings.ToLower(b32.EncodeToString(b))
}

// Claim signs the claim of this invite for joiner: what an Admission of
// joiner must carry.
func (i *Invite) Claim(joiner peer.ID) []byte {
	return ed25519.Sign(i.Secret, claimMessage(i.ID, joiner))
}

// ParseInvite decodes and checks an invite string (either case, surrounding
// space ignored) at now. Its errors are one line a person can act on:
// "invite is garbled: ...", "invite is tampered with: ...", "invite expired
// at ...". It checks what the invite itself proves; whether its inviter is
// a member and it has uses left only a member can tell (Join).
func ParseInvite(s string, now time.Time) (*Invite, error) {
	if len(s) > MaxInviteString {
		return nil, garbled("%d characters, more than an invite's %d", len(s), MaxInviteString)
	}
	s = strings.TrimSpace(s)
	if len(s) < len(InvitePrefix) || !strings.EqualFold(s[:len(InvitePrefix)], InvitePrefix) {
		return nil, garbled("it does not start with %q", InvitePrefix)
	}
	b, err := b32.DecodeString(strings.ToUpper(s[len(InvitePrefix):]))
	if err != nil {
		return nil, garbled("not base32 (was it cut short or mistyped?)")
	}
	c := new(pb.InviteCode)
	if err := proto.Unmarshal(b, c); err != nil {
		return nil, garbled("undecodable (was it cut short?)")
	}
	if err := record.CheckKnownFields(c); err != nil {
		return nil, garbled("it carries fields this version does not know (upgrade if the inviter runs a newer version)")
	}
	if len(c.GetSecret()) != ed25519.SeedSize {
		return nil, garbled("secret is %d bytes, want %d", len(c.GetSecret()), ed25519.SeedSize)
	}
	if len(c.GetAddrs()) > maxInviteAddrs {
		return nil, garbled("%d addresses, at most %d", len(c.GetAddrs()), maxInviteAddrs)
	}
	d, err := openDoc(c.GetInvite(), now, false)
	if err != nil {
		if record.ReasonOf(err) == record.ReasonSignature {
			return nil, tampered("signature does not verify")
		}
		return nil, garbled("%s", err.(*record.Invalid).Detail)
	}
	body := d.Payload.GetInvite()
	if body == nil {
		return nil, garbled("it holds a %s, not an invite", d.Kind())
	}
	secret := ed25519.NewKeyFromSeed(c.GetSecret())
	if !secret.Public().(ed25519.PublicKey).Equal(ed25519.PublicKey(body.GetKey())) {
		return nil, tampered("its secret is not the secret of the signed invite's key")
	}
	inv := &Invite{
		Doc: d.Raw, ID: d.ID, Neighborhood: d.Payload.GetNeighborhood(), Inviter: d.Author,
		Expires: time.UnixMilli(body.GetExpires()), Uses: int(body.GetUses()), Secret: secret,
	}
	copy(inv.Charter[:], body.GetCharter())
	for _, ab := range c.GetAddrs() {
		a, err := ma.NewMultiaddrBytes(ab)
		if err != nil {
			return nil, garbled("an address does not decode")
		}
		inv.Addrs = append(inv.Addrs, a)
	}
	if !now.Before(inv.Expires) {
		return nil, fmt.Errorf("invite expired at %s: ask for a new one", inv.Expires.UTC().Format(time.RFC3339))
	}
	return inv, nil
}

func garbled(format string, args ...any) error {
	return errors.New("invite is garbled: " + fmt.Sprintf(format, args...))
}

func tampered(detail string) error {
	return errors.New("invite is tampered with: " + detail)
}
