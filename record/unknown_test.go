package record_test

import (
	"bytes"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/porchlight-mesh/porchlight/record"
	"github.com/porchlight-mesh/porchlight/record/pb"
)

// unknownField is field 99, a bytes field no message of ours defines.
func unknownField(n int) []byte {
	b := protowire.AppendTag(nil, 99, protowire.BytesType)
	return protowire.AppendBytes(b, bytes.Repeat([]byte{'x'}, n))
}

// TestIssuerDocWithUnknownFieldsIsRefused: credentials and revocations are
// signed payloads too; padding them with unknown fields, at the top or deep
// in the jurisdiction's points, is refused like a padded post.
func TestIssuerDocWithUnknownFieldsIsRefused(t *testing.T) {
	issuer, _ := edKey(t, 7)
	_, agency := edKey(t, 8)
	cred := &pb.Credential{
		Agency: []byte(agency), Name: "Maple PD",
		Jurisdiction: &pb.Area{Shape: &pb.Area_Polygon{Polygon: &pb.Polygon{Points: []*pb.Location{
			{LatE6: 1, LonE6: 1}, {LatE6: 1, LonE6: 2}, {LatE6: 2, LonE6: 2},
		}}}},
		NotBefore: 1, NotAfter: 2,
	}
	if _, err := record.SealCredential(cred, issuer); err != nil {
		t.Fatalf("the clean credential: %v", err)
	}
	marshal := func(m proto.Message) []byte {
		b, err := proto.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	// deep: the last point of the polygon carries the unknown field. A
	// repeated message field may be split, so appending one more point
	// element holding the junk extends the list.
	deep := marshal(cred)
	point := append(marshal(&pb.Location{LatE6: 3, LonE6: 3}), unknownField(10)...)
	polygon := protowire.AppendBytes(protowire.AppendTag(nil, 1, protowire.BytesType), point)
	area := protowire.AppendBytes(protowire.AppendTag(nil, 2, protowire.BytesType), polygon)
	deep = protowire.AppendBytes(protowire.AppendTag(deep, 3, protowire.BytesType), area)

	rev := &pb.Revocation{Credential: bytes.Repeat([]byte{1}, 32), RevokedAt: 5}
	tests := []struct {
		name, payloadType string
		payload           []byte
	}{
		{"credential padded at the top", record.CredentialType, append(marshal(cred), unknownField(8000)...)},
		{"credential with an unknown field in a polygon point", record.CredentialType, deep},
		{"revocation padded at the top", record.RevocationType, append(marshal(rev), unknownField(8000)...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := forgeRecord(t, &forged{record.IssuerDomain, tt.payloadType, tt.payload}, issuer)
			_, err := record.OpenDoc(raw)
			if r := record.ReasonOf(err); r != record.ReasonUnknownFields {
				t.Fatalf("OpenDoc = %v (reason %q), want reason %q", err, r, record.ReasonUnknownFields)
			}
		})
	}
}
