package record

import (
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
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

// SealCredential signs a credential with an issuer key.
func SealCredential(c *pb.Credential, key crypto.PrivKey) (*Doc, error) {
	return sealDoc(CredentialType, c, key)
}

// SealRevocation signs a revocation with an issuer key.
func SealRevocation(r *pb.Revocation, key crypto.PrivKey) (*Doc, error) {
	return sealDoc(RevocationType, r, key)
}

func sealDoc(payloadType string, m proto.Message, key crypto.PrivKey) (*Doc, error) {
	raw, err := SealEnvelope(IssuerDomain, payloadType, m, key)
	if err != nil {
		return nil, fmt.Errorf("seal issuer document: %w", err)
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
	d := &Doc{Raw: raw, ID: IDOf(raw)}
	issuer, err := OpenEnvelope(raw, MaxSize, IssuerDomain, func(pt string) (proto.Message, error) {
		switch pt {
		case CredentialType:
			d.Credential = new(pb.Credential)
			return d.Credential, nil
		case RevocationType:
			d.Revocation = new(pb.Revocation)
			return d.Revocation, nil
		}
		return nil, invalid(ReasonPayloadType, "payload type %q is not an issuer document", truncate(pt, 40))
	})
	if err != nil {
		return nil, err
	}
	d.Issuer = issuer
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
