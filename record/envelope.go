package record

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/libp2p/go-libp2p/core/crypto"
	crypto_pb "github.com/libp2p/go-libp2p/core/crypto/pb"
	"github.com/libp2p/go-libp2p/core/peer"
	lprecord "github.com/libp2p/go-libp2p/core/record"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// The one way Porchlight seals and opens a signed envelope: log records,
// issuer documents (this package) and clip documents (package clips).

// pbRecord adapts a protobuf message to core/record.Record.
type pbRecord struct {
	domain, payloadType string
	m                   proto.Message
}

func (r *pbRecord) Domain() string                 { return r.domain }
func (r *pbRecord) Codec() []byte                  { return []byte(r.payloadType) }
func (r *pbRecord) MarshalRecord() ([]byte, error) { return proto.Marshal(r.m) }
func (r *pbRecord) UnmarshalRecord(b []byte) error { return proto.Unmarshal(b, r.m) }

// SealEnvelope signs m with key as a core/record envelope of the given
// domain and payload type, and returns its marshaled (canonical) bytes.
func SealEnvelope(domain, payloadType string, m proto.Message, key crypto.PrivKey) ([]byte, error) {
	env, err := lprecord.Seal(&pbRecord{domain: domain, payloadType: payloadType, m: m}, key)
	if err != nil {
		return nil, fmt.Errorf("seal %s: %w", payloadType, err)
	}
	raw, err := env.Marshal()
	if err != nil {
		return nil, fmt.Errorf("marshal %s envelope: %w", payloadType, err)
	}
	return raw, nil
}

// OpenEnvelope checks everything about an envelope that does not depend on
// its payload — at most limit bytes, a payload type that payload accepts,
// an Ed25519 key, canonical encoding, a signature valid in domain — decodes
// the payload into the message payload returns for its type, refuses it if
// it carries fields the schema does not know (at any depth), and returns
// the signer. payload returns an *Invalid error for a type it does not take.
// A non-nil error is always an *Invalid.
//
// The envelope must be canonical because the signature covers only the
// payload: otherwise anyone could re-wrap a signed document under a second
// ID (for a log record: frame its author as an equivocator). Unknown fields
// are refused because they are signed but mean nothing: they would let an
// author pad every record to the size limit, stored and relayed by every
// node, with nothing a reader could see.
func OpenEnvelope(raw []byte, limit int, domain string, payload func(payloadType string) (proto.Message, error)) (peer.ID, error) {
	if len(raw) > limit {
		return "", invalid(ReasonOversized, "%d bytes, limit %d", len(raw), limit)
	}
	env, err := lprecord.UnmarshalEnvelope(raw)
	if err != nil {
		return "", invalid(ReasonMalformed, "envelope: %v", err)
	}
	pt := string(env.PayloadType)
	m, err := payload(pt)
	if err != nil {
		return "", err
	}
	if env.PublicKey.Type() != crypto_pb.KeyType_Ed25519 {
		return "", invalid(ReasonKeyType, "key type %v, want Ed25519", env.PublicKey.Type())
	}
	if canon, err := env.Marshal(); err != nil || !bytes.Equal(canon, raw) {
		return "", invalid(ReasonMalformed, "envelope is not in canonical encoding")
	}
	if _, err := lprecord.ConsumeTypedEnvelope(raw, &pbRecord{domain: domain, payloadType: pt, m: m}); err != nil {
		if errors.Is(err, lprecord.ErrInvalidSignature) {
			return "", invalid(ReasonSignature, "signature does not verify")
		}
		return "", invalid(ReasonMalformed, "%v", err)
	}
	if err := CheckKnownFields(m); err != nil {
		return "", err
	}
	signer, err := peer.IDFromPublicKey(env.PublicKey)
	if err != nil {
		return "", invalid(ReasonMalformed, "signer key: %v", err)
	}
	return signer, nil
}

// Only returns a payload chooser for envelopes of exactly one payload type.
func Only(payloadType string, m proto.Message) func(string) (proto.Message, error) {
	return func(pt string) (proto.Message, error) {
		if pt != payloadType {
			return nil, invalid(ReasonPayloadType, "payload type %q, want %q", truncate(pt, 40), payloadType)
		}
		return m, nil
	}
}

// CheckKnownFields refuses a decoded message, or any message nested in it,
// that carries fields its schema does not define. A non-nil error is an
// *Invalid with ReasonUnknownFields. OpenEnvelope applies it to every
// payload; it is exported for decoders of signed bytes outside envelopes.
func CheckKnownFields(m proto.Message) error {
	if m == nil {
		return nil
	}
	if path := unknownFieldsAt(m.ProtoReflect(), 0); path != "" {
		return invalid(ReasonUnknownFields, "%s carries fields this version does not know; a record must hold only defined fields (upgrade if the sender is newer)", path)
	}
	return nil
}

// maxNesting bounds the recursion; protobuf's own decoder stops at 10,000.
const maxNesting = 100

// unknownFieldsAt returns the path of the first message under m holding
// unknown fields, or "".
func unknownFieldsAt(m protoreflect.Message, depth int) string {
	name := string(m.Descriptor().Name())
	if len(m.GetUnknown()) > 0 {
		return name
	}
	if depth > maxNesting {
		return name + " (nested too deep)"
	}
	var found string
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.IsMap():
			if fd.MapValue().Message() == nil {
				return true
			}
			v.Map().Range(func(_ protoreflect.MapKey, mv protoreflect.Value) bool {
				found = unknownFieldsAt(mv.Message(), depth+1)
				return found == ""
			})
		case fd.IsList():
			if fd.Message() == nil {
				return true
			}
			l := v.List()
			for i := 0; i < l.Len() && found == ""; i++ {
				found = unknownFieldsAt(l.Get(i).Message(), depth+1)
			}
		case fd.Message() != nil:
			found = unknownFieldsAt(v.Message(), depth+1)
		}
		if found != "" {
			found = name + "." + string(fd.Name()) + ": " + found
		}
		return found == ""
	})
	return found
}
