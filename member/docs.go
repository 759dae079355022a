package member

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base32"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	lprecord "github.com/libp2p/go-libp2p/core/record"
	"google.golang.org/protobuf/proto"

	"github.com/porchlight-mesh/porchlight/member/pb"
	"github.com/porchlight-mesh/porchlight/record"
)

// Envelope constants. Changing either makes every existing document invalid.
const (
	Domain      = "porchlight-member"
	PayloadType = "/porchlight/member/1"
)

// Limits of a document.
const (
	// MaxDocSize bounds a marshaled envelope.
	MaxDocSize = 8 << 10
	// MaxName bounds a charter's or a member's name, in characters.
	MaxName = 64
	// MaxReason bounds a removal's reason, in characters.
	MaxReason = 280
	// MaxUses bounds an invite's uses.
	MaxUses = 100
	// MaxInviteLife bounds how long after its creation an invite expires.
	MaxInviteLife = 30 * 24 * time.Hour
	// MaxStewards bounds the stewards a charter names.
	MaxStewards = 32
	// MaxClockSkew is how far ahead of the verifier's clock created may be.
	MaxClockSkew = 5 * time.Minute
	// MaxKeep bounds the document IDs a Removal or an unnaming keeps.
	MaxKeep = 200
)

// Invite policies of a charter.
const (
	InviteByAny      = "any"
	InviteByStewards = "stewards"
)

// Reasons of the membership rules, in *record.Invalid errors.
const (
	ReasonNotMember     record.Reason = "not_member"
	ReasonRemoved       record.Reason = "removed"
	ReasonNotSteward    record.Reason = "not_steward"
	ReasonCharter       record.Reason = "bad_charter"
	ReasonInviteExpired record.Reason = "invite_expired"
	ReasonInviteRevoked record.Reason = "invite_revoked"
	ReasonInviteUsedUp  record.Reason = "invite_used_up"
	ReasonInvitePolicy  record.Reason = "inviter_not_allowed"
	ReasonClaim         record.Reason = "bad_claim"
	ReasonAlreadyMember record.Reason = "already_member"
	ReasonFounder       record.Reason = "founder"
	ReasonTooMany       record.Reason = "too_many_docs"
	ReasonSelf          record.Reason = "self"
	// ReasonVoid: a document its author signed that a later removal or
	// unnaming of the author did not keep.
	ReasonVoid record.Reason = "void"
	// ReasonAuthorCap: the author has as many documents stored as it may.
	ReasonAuthorCap record.Reason = "too_many_by_author"
)

// Doc is a verified membership document.
type Doc struct {
	Raw     []byte // the marshaled envelope, exactly as signed
	ID      record.ID
	Author  peer.ID
	Payload *pb.Doc
	// Invite is the opened invite an Admission embeds (nil otherwise).
	Invite *Doc
}

// Created is when the author signed the document.
func (d *Doc) Created() time.Time { return time.UnixMilli(d.Payload.GetCreated()) }

// Kind names the document's body: "charter", "invite", "admission",
// "removal", "steward" or "invite_revocation".
func (d *Doc) Kind() string {
	switch d.Payload.GetBody().(type) {
	case *pb.Doc_Charter:
		return "charter"
	case *pb.Doc_Invite:
		return "invite"
	case *pb.Doc_Admission:
		return "admission"
	case *pb.Doc_Removal:
		return "removal"
	case *pb.Doc_Steward:
		return "steward"
	case *pb.Doc_InviteRevocation:
		return "invite_revocation"
	}
	return ""
}

// Neighborhood is the neighborhood the document belongs to: for a charter,
// the one it defines (the open name it adopts, or NeighborhoodID of its
// ID); for the others, the one they name.
func (d *Doc) Neighborhood() string {
	c := d.Payload.GetCharter()
	if c == nil {
		return d.Payload.GetNeighborhood()
	}
	if c.GetAdopts() != "" {
		return c.GetAdopts()
	}
	return NeighborhoodID(d.ID)
}

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// NeighborhoodID is the ID of the neighborhood a charter founds: "nb" and
// the lowercase base32 (no padding) of the first 20 bytes of its ID.
func NeighborhoodID(charter record.ID) string {
	return "nb" + strings.ToLower(b32.EncodeToString(charter[:20]))
}

// IsDoc reports whether raw looks like a membership document (by payload
// type; OpenDoc verifies).
func IsDoc(raw []byte) bool {
	env, err := lprecord.UnmarshalEnvelope(raw)
	return err == nil && string(env.PayloadType) == PayloadType
}

// OpenDoc decodes and verifies a membership document: the envelope, the
// author, the time (now is the verifier's clock) and every limit of its
// body; an Admission's embedded invite and its claim. Rules that depend on
// the roster are the Service's. A non-nil error is an *record.Invalid.
func OpenDoc(raw []byte, now time.Time) (*Doc, error) {
	return openDoc(raw, now, true)
}

func openDoc(raw []byte, now time.Time, nested bool) (*Doc, error) {
	m := new(pb.Doc)
	signer, err := record.OpenEnvelope(raw, MaxDocSize, Domain, record.Only(PayloadType, m))
	if err != nil {
		return nil, err
	}
	d := &Doc{Raw: raw, ID: record.IDOf(raw), Author: signer, Payload: m}
	if err := checkDoc(d, now, nested); err != nil {
		return nil, err
	}
	return d, nil
}

func checkDoc(d *Doc, now time.Time, nested bool) error {
	m := d.Payload
	author, err := peer.IDFromBytes(m.GetAuthor())
	if err != nil || author != d.Author {
		return record.Invalidf(record.ReasonAuthor, "author is not the signer %s", d.Author)
	}
	if m.GetCreated() <= 0 {
		return record.Invalidf(record.ReasonTime, "no creation time")
	}
	if c := time.UnixMilli(m.GetCreated()); c.After(now.Add(MaxClockSkew)) {
		return record.Invalidf(record.ReasonFuture, "created %s is more than %s ahead of this node's clock", c.UTC().Format(time.RFC3339), MaxClockSkew)
	}
	nb := m.GetNeighborhood()
	if _, charter := m.GetBody().(*pb.Doc_Charter); charter {
		if nb != "" {
			return record.Invalidf(ReasonCharter, "a charter names no neighborhood: its ID defines it")
		}
	} else if nb == "" || len(nb) > record.MaxNeighborhoodLen || !utf8.ValidString(nb) {
		return record.Invalidf(record.ReasonMalformed, "neighborhood must be 1 to %d bytes of UTF-8", record.MaxNeighborhoodLen)
	}
	switch b := m.GetBody().(type) {
	case *pb.Doc_Charter:
		return checkCharter(d, b.Charter)
	case *pb.Doc_Invite:
		return checkInvite(m, b.Invite)
	case *pb.Doc_Admission:
		if !nested {
			return record.Invalidf(record.ReasonMalformed, "an admission inside an admission")
		}
		return checkAdmission(d, b.Admission, now)
	case *pb.Doc_Removal:
		if err := checkPeer("removal's member", b.Removal.GetMember()); err != nil {
			return err
		}
		if err := checkKeep(b.Removal.GetKeep()); err != nil {
			return err
		}
		return checkText("reason", b.Removal.GetReason(), MaxReason, false)
	case *pb.Doc_Steward:
		if b.Steward.GetSteward() && len(b.Steward.GetKeep()) > 0 {
			return record.Invalidf(record.ReasonMalformed, "a steward naming keeps no documents")
		}
		if err := checkKeep(b.Steward.GetKeep()); err != nil {
			return err
		}
		return checkPeer("steward's member", b.Steward.GetMember())
	case *pb.Doc_InviteRevocation:
		if len(b.InviteRevocation.GetInvite()) != len(record.ID{}) {
			return record.Invalidf(record.ReasonMissing, "an invite revocation names a 32-byte invite ID")
		}
		return nil
	case nil:
		return record.Invalidf(record.ReasonMalformed, "no body")
	default:
		return record.Invalidf(record.ReasonMalformed, "unknown body %T", b)
	}
}

func checkCharter(d *Doc, c *pb.Charter) error {
	if err := checkText("neighborhood name", c.GetName(), MaxName, true); err != nil {
		return err
	}
	if p := c.GetInviteBy(); p != InviteByAny && p != InviteByStewards {
		return record.Invalidf(ReasonCharter, "invite_by is %q; want %q or %q", trunc(p, 20), InviteByAny, InviteByStewards)
	}
	if len(c.GetNonce()) != 16 {
		return record.Invalidf(ReasonCharter, "nonce is %d bytes, want 16", len(c.GetNonce()))
	}
	if a := c.GetAdopts(); len(a) > record.MaxNeighborhoodLen || !utf8.ValidString(a) {
		return record.Invalidf(ReasonCharter, "adopted name must be at most %d bytes of UTF-8", record.MaxNeighborhoodLen)
	}
	if n := len(c.GetStewards()); n > MaxStewards {
		return record.Invalidf(ReasonCharter, "%d stewards, limit %d", n, MaxStewards)
	}
	seen := map[peer.ID]bool{d.Author: true}
	for _, s := range c.GetStewards() {
		if err := checkPeer("steward", s); err != nil {
			return err
		}
		if seen[peer.ID(s)] {
			return record.Invalidf(ReasonCharter, "steward %s named twice (or is the founder)", peer.ID(s))
		}
		seen[peer.ID(s)] = true
	}
	return nil
}

func checkInvite(m *pb.Doc, inv *pb.Invite) error {
	if len(inv.GetCharter()) != len(record.ID{}) {
		return record.Invalidf(record.ReasonMissing, "an invite names its 32-byte charter ID")
	}
	if len(inv.GetKey()) != ed25519.PublicKeySize {
		return record.Invalidf(record.ReasonMissing, "an invite carries a %d-byte Ed25519 key", ed25519.PublicKeySize)
	}
	if u := inv.GetUses(); u < 1 || u > MaxUses {
		return record.Invalidf(record.ReasonMalformed, "invite uses %d; must be 1 to %d", u, MaxUses)
	}
	if e := inv.GetExpires(); e <= m.GetCreated() || e-m.GetCreated() > MaxInviteLife.Milliseconds() {
		return record.Invalidf(record.ReasonTime, "invite must expire after it is made and at most %s later", MaxInviteLife)
	}
	return nil
}

func checkAdmission(d *Doc, a *pb.Admission, now time.Time) error {
	if err := checkPeer("admission's member", a.GetMember()); err != nil {
		return err
	}
	if err := checkText("member name", a.GetName(), MaxName, false); err != nil {
		return err
	}
	if len(a.GetClaim()) != ed25519.SignatureSize {
		return record.Invalidf(ReasonClaim, "claim is %d bytes, want %d", len(a.GetClaim()), ed25519.SignatureSize)
	}
	inv, err := openDoc(a.GetInvite(), now, false)
	if err != nil {
		return record.Invalidf(record.ReasonOf(err), "admission's invite: %s", err.(*record.Invalid).Detail)
	}
	i := inv.Payload.GetInvite()
	if i == nil {
		return record.Invalidf(record.ReasonMalformed, "admission's invite is a %s, not an invite", inv.Kind())
	}
	if inv.Payload.GetNeighborhood() != d.Payload.GetNeighborhood() {
		return record.Invalidf(record.ReasonNeighborhood, "admission's invite is for another neighborhood")
	}
	if !ed25519.Verify(i.GetKey(), claimMessage(inv.ID, peer.ID(a.GetMember())), a.GetClaim()) {
		return record.Invalidf(ReasonClaim, "claim does not verify with the invite's key")
	}
	d.Invite = inv
	return nil
}

// claimMessage is what an invite's secret signs to claim it for joiner.
func claimMessage(invite record.ID, joiner peer.ID) []byte {
	msg := append([]byte("porchlight-claim\x00"), invite[:]...)
	return append(msg, joiner...)
}

func checkKeep(keep [][]byte) error {
	if len(keep) > MaxKeep {
		return record.Invalidf(record.ReasonTooLong, "keeps %d documents, limit %d", len(keep), MaxKeep)
	}
	for _, id := range keep {
		if len(id) != len(record.ID{}) {
			return record.Invalidf(record.ReasonMalformed, "a kept document ID is %d bytes, want %d", len(id), len(record.ID{}))
		}
	}
	return nil
}

func checkPeer(what string, b []byte) error {
	if _, err := peer.IDFromBytes(b); err != nil {
		return record.Invalidf(record.ReasonMissing, "%s is not a peer ID", what)
	}
	return nil
}

func checkText(what, s string, limit int, required bool) error {
	if !utf8.ValidString(s) {
		return record.Invalidf(record.ReasonMalformed, "%s is not UTF-8", what)
	}
	if required && strings.TrimSpace(s) == "" {
		return record.Invalidf(record.ReasonEmpty, "%s is empty", what)
	}
	if n := utf8.RuneCountInString(s); n > limit {
		return record.Invalidf(record.ReasonTooLong, "%s is %d characters, limit %d", what, n, limit)
	}
	return nil
}

func trunc(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// seal signs a document body with key, created at now, and opens it again
// so that a node never signs what its neighbors refuse.
func seal(key crypto.PrivKey, neighborhood string, now time.Time, body func(*pb.Doc)) (*Doc, error) {
	id, err := peer.IDFromPrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("member document key: %w", err)
	}
	m := &pb.Doc{Author: []byte(id), Created: now.UnixMilli(), Neighborhood: neighborhood}
	body(m)
	raw, err := record.SealEnvelope(Domain, PayloadType, m, key)
	if err != nil {
		return nil, err
	}
	return OpenDoc(raw, now)
}

// NewCharter signs a charter founding a neighborhood whose founder is key:
// its name, who may invite (InviteByAny, the default when empty, or
// InviteByStewards), feed limits that may only tighten the defaults (nil:
// the defaults) and the open neighborhood name it adopts ("" for a new
// neighborhood, whose ID is then NeighborhoodID of the charter's ID).
// The founder's node ingests it (IngestDoc) like any other document.
func NewCharter(key crypto.PrivKey, name, inviteBy string, l *pb.Limits, adopts string, now time.Time) ([]byte, record.ID, error) {
	if inviteBy == "" {
		inviteBy = InviteByAny
	}
	nonce := make([]byte, 16)
	if _, err := rand.Read(nonce); err != nil {
		return nil, record.ID{}, err
	}
	c := &pb.Charter{Name: name, InviteBy: inviteBy, Nonce: nonce, Adopts: adopts}
	if l != nil {
		c.Limits = proto.Clone(l).(*pb.Limits)
	}
	d, err := seal(key, "", now, func(m *pb.Doc) { m.Body = &pb.Doc_Charter{Charter: c} })
	if err != nil {
		return nil, record.ID{}, fmt.Errorf("charter: %w", err)
	}
	return d.Raw, d.ID, nil
}

func verifyClaim(key []byte, invite record.ID, joiner peer.ID, claim []byte) bool {
	return len(key) == ed25519.PublicKeySize && ed25519.Verify(key, claimMessage(invite, joiner), claim)
}
