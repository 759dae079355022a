package requests_test

import (
	"bytes"
	"testing"

	"github.com/libp2p/go-libp2p/core/crypto"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/porchlight-mesh/porchlight/record"
	"github.com/porchlight-mesh/porchlight/record/pb"
	"github.com/porchlight-mesh/porchlight/requests"
)

// withUnknown appends an unknown field (number 99, bytes n long) to m.
func withUnknown(m protoreflect.Message, n int) {
	b := protowire.AppendTag(m.GetUnknown(), 99, protowire.BytesType)
	m.SetUnknown(protowire.AppendBytes(b, bytes.Repeat([]byte{'x'}, n)))
}

// TestIssuerDocumentsWithUnknownFieldsRefused: a trusted issuer's key (or
// a stranger's) signs a credential or revocation padded with fields no
// version defines, at the top or deep inside. The node refuses it: it would
// otherwise store, relay and offer in sync bytes that mean nothing, or a
// rule it cannot enforce.
func TestIssuerDocumentsWithUnknownFieldsRefused(t *testing.T) {
	tests := []struct {
		name string
		doc  func(f *ruleFixture) []byte
	}{
		{"credential padded with 15 KiB", func(f *ruleFixture) []byte {
			c := f.renewal().Credential
			withUnknown(c.ProtoReflect(), 15<<10)
			return seal(f, c)
		}},
		{"credential with an unknown field in a polygon vertex", func(f *ruleFixture) []byte {
			_, other := ruleNewKey(f.t)
			c := f.certify(f.issuerKey, other, ruleJurisdiction).Credential
			withUnknown(c.GetJurisdiction().GetPolygon().GetPoints()[2].ProtoReflect(), 1)
			return seal(f, c)
		}},
		{"self-made credential with an unknown field", func(f *ruleFixture) []byte {
			c := f.certify(f.agency.key, f.agency.id, ruleJurisdiction).Credential
			withUnknown(c.ProtoReflect(), 8)
			return sealRaw(f, record.CredentialType, c, f.agency.key)
		}},
		{"revocation with an unknown field", func(f *ruleFixture) []byte {
			r := f.revoke(f.cred, ruleBase).Revocation
			withUnknown(r.ProtoReflect(), 8)
			return sealRaw(f, record.RevocationType, r, f.issuerKey)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newRuleFixture(t, requests.Config{})
			raw := tt.doc(f)
			added, err := f.svc.IngestDoc(raw)
			if added || record.ReasonOf(err) == "" {
				t.Fatalf("IngestDoc = %v, %v; want refused (a *record.Invalid)", added, err)
			}
			if d, _ := f.svc.Document(record.IDOf(raw)); d != nil {
				t.Fatal("the document was stored")
			}
			if st := f.svc.UntrustedDocs(); st.Held != 0 {
				t.Fatalf("the document was kept in memory: %+v", st)
			}
			ruleVerdict(t, "CheckEntry(request under the original credential)",
				f.svc.CheckEntry(f.mustSign(f.agency, ruleBase, ruleRequestBody(ruleRequest(f.cred, ruleBase)))), "", false)
		})
	}
}

func seal(f *ruleFixture, c *pb.Credential) []byte {
	f.t.Helper()
	return sealRaw(f, record.CredentialType, proto.Clone(c), f.issuerKey)
}

// sealRaw signs m as an issuer document without record.SealCredential's
// own check (which refuses unknown fields), as an attacker's tool would.
func sealRaw(f *ruleFixture, payloadType string, m proto.Message, key crypto.PrivKey) []byte {
	f.t.Helper()
	raw, err := record.SealEnvelope(record.IssuerDomain, payloadType, m, key)
	if err != nil {
		f.t.Fatal(err)
	}
	return raw
}
