package record

import (
	"bytes"
	"errors"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	crypto_pb "github.com/libp2p/go-libp2p/core/crypto/pb"
	"github.com/libp2p/go-libp2p/core/peer"
	lprecord "github.com/libp2p/go-libp2p/core/record"
	"google.golang.org/protobuf/proto"

	"github.com/porchlight-mesh/porchlight/record/pb"
)

// Issuer documents: credentials and revocations, signed by an issuer's
// offline key. They are not log records (an issuer runs no node); each is a
// standalone envelope, identified by the SHA-256 of its bytes.
const (
	IssuerDomain   = "porchlight-issuer"
	CredentialType = "/porchlight/credential/1"
	RevocationType = "/porchlight/revocation/1"
)

// Doc is a verified issuer document: exactly one of Credential and
// Revocation is set.
type Doc struct {
	Raw        []byte
	ID         ID
	Issuer     peer.ID
	Credential *pb.Credential
	Revocation *pb.Revocation
}

type docRecord struct {
	codec string
	m     proto.Message
}

func (r *docRecord) Domain() string                 { return IssuerDomain }
func (r *docRecord) Codec() []byte                  { return []byte(r.codec) }
func (r *docRecord) MarshalRecord() ([]byte, error) { return proto.Marshal(r.m) }
func (r *docRecord) UnmarshalRecord(b []byte) error { return proto.Unmarshal(b, r.m) }

// SealCredential signs a credential with an issuer key.
func SealCredential(c *pb.Credential, key crypto.PrivKey) (*Doc, error) {
	return sealDoc(&docRecord{codec: CredentialType, m: c}, key)
}

// SealRevocation signs a revocation with an issuer key.
func SealRevocation(r *pb.Revocation, key crypto.PrivKey) (*Doc, error) {
	return sealDoc(&docRecord{codec: RevocationType, m: r}, key)
}

func sealDoc(r *docRecord, key crypto.PrivKey) (*Doc, error) {
	env, err := lprecord.Seal(r, key)
	if err != nil {
		return nil, fmt.Errorf("seal issuer document: %w", err)
	}
	raw, err := env.Marshal()
	if err != nil {
		return nil, err
	}
	return OpenDoc(raw)
}

// IsDoc reports whether raw looks like an issuer document (by payload type;
// OpenDoc verifies).
func IsDoc(raw []byte) bool {
	env, err := lprecord.UnmarshalEnvelope(raw)
	if err != nil {
		return false
	}
	t := string(env.PayloadType)
	return t == CredentialType || t == RevocationType
}

// OpenDoc decodes and verifies an issuer document. A non-nil error is an
// *Invalid.
func OpenDoc(raw []byte) (*Doc, error) {
	if len(raw) > MaxSize {
		return nil, invalid(ReasonOversized, "%d bytes, limit %d", len(raw), MaxSize)
	}
	env, err := lprecord.UnmarshalEnvelope(raw)
	if err != nil {
		return nil, invalid(ReasonMalformed, "envelope: %v", err)
	}
	if env.PublicKey.Type() != crypto_pb.KeyType_Ed25519 {
		return nil, invalid(ReasonKeyType, "key type %v, want Ed25519", env.PublicKey.Type())
	}
	if canon, err := env.Marshal(); err != nil || !bytes.Equal(canon, raw) {
		return nil, invalid(ReasonMalformed, "envelope is not in canonical encoding")
	}
	d := &Doc{Raw: raw, ID: IDOf(raw)}
	rec := &docRecord{codec: string(env.PayloadType)}
	switch rec.codec {
	case CredentialType:
		d.Credential = new(pb.Credential)
		rec.m = d.Credential
	case RevocationType:
		d.Revocation = new(pb.Revocation)
		rec.m = d.Revocation
	default:
		return nil, invalid(ReasonPayloadType, "payload type %q is not an issuer document", truncate(rec.codec, 40))
	}
	if _, err := lprecord.ConsumeTypedEnvelope(raw, rec); err != nil {
		if errors.Is(err, lprecord.ErrInvalidSignature) {
			return nil, invalid(ReasonSignature, "signature does not verify")
		}
		return nil, invalid(ReasonMalformed, "%v", err)
	}
	if d.Issuer, err = peer.IDFromPublicKey(env.PublicKey); err != nil {
		return nil, invalid(ReasonMalformed, "issuer key: %v", err)
	}
	if c := d.Credential; c != nil {
		if _, err := peer.IDFromBytes(c.GetAgency()); err != nil {
			return nil, invalid(ReasonMissing, "credential names no agency peer ID")
		}
		if err := checkText("agency name", c.GetName(), MaxAgencyName, true); err != nil {
			return nil, err
		}
		if err := CheckArea(c.GetJurisdiction()); err != nil {
			return nil, err
		}
		if c.GetNotBefore() <= 0 || c.GetNotAfter() <= c.GetNotBefore() {
			return nil, invalid(ReasonTime, "credential validity period is empty")
		}
	}
	if r := d.Revocation; r != nil {
		if len(r.GetCredential()) != len(ID{}) || r.GetRevokedAt() <= 0 {
			return nil, invalid(ReasonMissing, "revocation names a credential ID and a time")
		}
		if err := checkText("reason", r.GetReason(), MaxNote, false); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// Valid reports whether a credential covers time t.
func (d *Doc) Valid(t time.Time) bool {
	c := d.Credential
	ms := t.UnixMilli()
	return c != nil && ms >= c.GetNotBefore() && ms < c.GetNotAfter()
}

// IsRevocation reports whether raw looks like a revocation (by payload type).
func IsRevocation(raw []byte) bool {
	env, err := lprecord.UnmarshalEnvelope(raw)
	return err == nil && string(env.PayloadType) == RevocationType
}
