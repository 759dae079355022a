package mesh_test

import (
	"bytes"
	"crypto/rand"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	lprecord "github.com/libp2p/go-libp2p/core/record"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/porchlight-mesh/porchlight/record"
	"github.com/porchlight-mesh/porchlight/record/pb"
)

// paddedEntry signs an entry followed by an unknown protobuf field, so that
// the envelope is about size bytes: a valid signature over a payload whose
// every known field passes the rules.
type paddedEntry struct {
	e   *pb.Entry
	pad int
}

func (r *paddedEntry) Domain() string { return record.Domain }
func (r *paddedEntry) Codec() []byte  { return []byte(record.PayloadType) }
func (r *paddedEntry) MarshalRecord() ([]byte, error) {
	b, err := proto.Marshal(r.e)
	if err != nil {
		return nil, err
	}
	b = protowire.AppendTag(b, 999, protowire.BytesType)
	return protowire.AppendBytes(b, bytes.Repeat([]byte{'x'}, r.pad)), nil
}
func (r *paddedEntry) UnmarshalRecord(b []byte) error { return proto.Unmarshal(b, r.e) }

func sealPadded(t *testing.T, key crypto.PrivKey, e *pb.Entry, size int) []byte {
	t.Helper()
	env, err := lprecord.Seal(&paddedEntry{e: e, pad: size - 600}, key)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := env.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if len(raw) > record.MaxSize {
		t.Fatalf("padded post is %d bytes, over the %d-byte limit: the test would prove nothing", len(raw), record.MaxSize)
	}
	return raw
}

// TestPaddedPostIsRefusedAndNotRelayed: a post padded to nearly 16 KiB with
// a field no schema defines is validly signed and every known field passes
// the rules. It used to be stored and relayed (about 400 MB a minute of disk
// growth from one peer). It is refused, by gossip and by sync, and never
// reaches the victim's neighbor.
func TestPaddedPostIsRefusedAndNotRelayed(t *testing.T) {
	// No introductions by address book: b must stay apart from e.
	a := newTestNodeWith(t, "a", "maple-st", noPeerExchange)
	b := newTestNodeWith(t, "b", "maple-st", noPeerExchange)
	connect(t, a, b)
	reason := string(record.ReasonUnknownFields)

	// By gossip, from a stranger.
	key, _, _ := crypto.GenerateEd25519Key(rand.Reader)
	gossiped := sealPadded(t, key, entryOf(key, "maple-st", 1, "padded"), 15<<10)
	bad := newRawPeer(t, "maple-st")
	bad.connect(t, a)
	bad.publishUntil(t, gossiped, "a refuses the padded post as "+reason, func() bool {
		return a.m.Rejected(reason) >= 1 || has(a, record.IDOf(gossiped))
	})

	// By sync, from a node of the neighborhood that holds one (stored
	// directly: an honest node would never have accepted it).
	e := newTestNodeWith(t, "e", "maple-st", noPeerExchange)
	key2, _, _ := crypto.GenerateEd25519Key(rand.Reader)
	synced := sealPadded(t, key2, entryOf(key2, "maple-st", 1, "padded too"), 15<<10)
	s, err := record.DecodeTrusted(synced)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.db.Ingest(s); err != nil {
		t.Fatal(err)
	}
	before := a.m.Rejected(reason)
	connect(t, a, e)
	eventually(t, 20*time.Second, "a refuses the padded post it pulled by sync", func() bool {
		return a.m.Rejected(reason) > before || has(a, s.ID)
	})

	// Honest traffic still flows, and nothing padded was stored or relayed.
	id := post(t, a, "plain post")
	eventually(t, 10*time.Second, "an honest post reaches b", func() bool { return has(b, id) })
	for _, n := range []*testNode{a, b} {
		for _, raw := range [][]byte{gossiped, synced} {
			if has(n, record.IDOf(raw)) {
				t.Errorf("%s stored a post padded with an unknown field (%d bytes)", n.name, len(raw))
			}
		}
	}
	if got := b.m.Rejected(reason); got != 0 {
		t.Errorf("b refused %v padded posts: a relayed them", got)
	}
}
