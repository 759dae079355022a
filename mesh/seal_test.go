package mesh_test

import (
	"testing"

	"github.com/libp2p/go-libp2p/core/crypto"
	lprecord "github.com/libp2p/go-libp2p/core/record"
	"google.golang.org/protobuf/proto"

	"github.com/porchlight-mesh/porchlight/record"
	"github.com/porchlight-mesh/porchlight/record/pb"
)

// rawEntry signs an Entry without the checks record.Seal applies, to make
// records that break rules.
type rawEntry struct{ e *pb.Entry }

func (r *rawEntry) Domain() string                 { return record.Domain }
func (r *rawEntry) Codec() []byte                  { return []byte(record.PayloadType) }
func (r *rawEntry) MarshalRecord() ([]byte, error) { return proto.Marshal(r.e) }
func (r *rawEntry) UnmarshalRecord(b []byte) error { return proto.Unmarshal(b, r.e) }

func sealUnchecked(t *testing.T, key crypto.PrivKey, e *pb.Entry) []byte {
	t.Helper()
	env, err := lprecord.Seal(&rawEntry{e: e}, key)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := env.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}
