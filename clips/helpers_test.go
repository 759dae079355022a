package clips_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"log/slog"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	lprecord "github.com/libp2p/go-libp2p/core/record"
	envpb "github.com/libp2p/go-libp2p/core/record/pb"
	"go.uber.org/goleak"
	"google.golang.org/protobuf/proto"

	"github.com/porchlight-mesh/porchlight/clips"
	"github.com/porchlight-mesh/porchlight/clips/pb"
	"github.com/porchlight-mesh/porchlight/record"
	"github.com/porchlight-mesh/porchlight/store"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var quiet = slog.New(slog.DiscardHandler)

// t0 is a fixed time for signed documents; stores use the wall clock unless
// a test moves it, because Badger expires entries by the wall clock.
var t0 = time.Date(2026, 11, 27, 19, 42, 10, 0, time.UTC)

// edKey returns a deterministic Ed25519 key and its peer ID.
func edKey(t testing.TB, seed byte) (crypto.PrivKey, peer.ID) {
	t.Helper()
	key, _, err := crypto.GenerateEd25519Key(bytes.NewReader(bytes.Repeat([]byte{seed}, 64)))
	if err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return key, id
}

// randBytes returns n deterministic pseudo-random bytes.
func randBytes(seed uint64, n int) []byte {
	b := make([]byte, n)
	r := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8)})
	r.Read(b)
	return b
}

// openBadger opens a clip database the way a node does (OpenDB), in a
// fresh directory, and closes it when the test ends.
func openBadger(t testing.TB) *clips.DB {
	t.Helper()
	db, err := clips.OpenDB(t.TempDir(), quiet)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("close database: %v", err)
		}
	})
	return db
}

// openRecords opens a records database (store.Open), where a node keeps
// its grants and access log, in a fresh directory, and closes it when the
// test ends.
func openRecords(t testing.TB) *store.DB {
	t.Helper()
	db, err := store.Open(store.Config{Dir: t.TempDir(), Neighborhood: "elm-street", Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("close database: %v", err)
		}
	})
	return db
}

func newStore(t testing.TB, seed byte, cfg clips.Config) *clips.Store {
	t.Helper()
	if cfg.DB == nil {
		cfg.DB = openBadger(t)
	}
	if cfg.Key == nil {
		cfg.Key, _ = edKey(t, seed)
	}
	if cfg.Logger == nil {
		cfg.Logger = quiet
	}
	s, err := clips.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// countKeys counts the live keys of db starting with prefix.
func countKeys(t testing.TB, db *clips.DB, prefix byte) int {
	t.Helper()
	n := 0
	err := db.Badger().View(func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.Prefix = []byte{prefix}
		opts.PrefetchValues = false
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			n++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// expiries returns the Badger expiry of every live key starting with prefix.
func expiries(t testing.TB, db *clips.DB, prefix byte) []uint64 {
	t.Helper()
	var out []uint64
	err := db.Badger().View(func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.Prefix = []byte{prefix}
		opts.PrefetchValues = false
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			out = append(out, it.Item().ExpiresAt())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// assertEmpty fails unless db holds no clip entries at all.
func assertEmpty(t testing.TB, db *clips.DB) {
	t.Helper()
	if m, c := countKeys(t, db, 'M'), countKeys(t, db, 'C'); m != 0 || c != 0 {
		t.Errorf("database holds %d manifests and %d chunks, want none", m, c)
	}
}

// clock is a settable clock for Config.Now.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// importBytes imports b with a start time of t0.
func importBytes(t testing.TB, s *clips.Store, b []byte) *clips.SignedManifest {
	t.Helper()
	m, err := s.Import(context.Background(), bytes.NewReader(b), clips.ImportMeta{Camera: "porch", Start: t0, MediaType: "video/mp4"})
	if err != nil {
		t.Fatalf("Import: %v", err)
	}
	return m
}

// manifestFor builds (unsigned) the manifest of data in chunks of cs.
func manifestFor(owner peer.ID, data []byte, cs int) *pb.Manifest {
	id := sha256.Sum256(data)
	m := &pb.Manifest{
		ClipId:    id[:],
		Camera:    "front-door",
		Start:     t0.UnixMilli(),
		End:       t0.Add(30 * time.Second).UnixMilli(),
		Size:      uint64(len(data)),
		MediaType: "video/mp4",
		ChunkSize: uint32(cs),
		Owner:     []byte(owner),
		Imported:  t0.Add(time.Minute).UnixMilli(),
	}
	for off := 0; off < len(data); off += cs {
		h := sha256.Sum256(data[off:min(off+cs, len(data))])
		m.ChunkSha256 = append(m.ChunkSha256, h[:])
	}
	return m
}

// forgeRecord adapts any message to core/record with any domain and payload
// type, to sign documents SealManifest and friends would refuse.
type forgeRecord struct {
	domain, codec string
	m             proto.Message
}

func (r *forgeRecord) Domain() string                 { return r.domain }
func (r *forgeRecord) Codec() []byte                  { return []byte(r.codec) }
func (r *forgeRecord) MarshalRecord() ([]byte, error) { return proto.Marshal(r.m) }
func (r *forgeRecord) UnmarshalRecord(b []byte) error { return proto.Unmarshal(b, r.m) }

// rawRecord carries payload bytes as they are.
type rawRecord struct {
	codec string
	b     []byte
}

func (r *rawRecord) Domain() string                 { return clips.Domain }
func (r *rawRecord) Codec() []byte                  { return []byte(r.codec) }
func (r *rawRecord) MarshalRecord() ([]byte, error) { return r.b, nil }
func (r *rawRecord) UnmarshalRecord(b []byte) error { r.b = b; return nil }

// forgeBytes signs payload bytes under the clips domain.
func forgeBytes(t testing.TB, codec string, payload []byte, key crypto.PrivKey) []byte {
	t.Helper()
	env, err := lprecord.Seal(&rawRecord{codec: codec, b: payload}, key)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := env.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// forge signs m under the clips domain without any of the checks.
func forge(t testing.TB, codec string, m proto.Message, key crypto.PrivKey) []byte {
	t.Helper()
	return forgeIn(t, clips.Domain, codec, m, key)
}

func forgeIn(t testing.TB, domain, codec string, m proto.Message, key crypto.PrivKey) []byte {
	t.Helper()
	env, err := lprecord.Seal(&forgeRecord{domain: domain, codec: codec, m: m}, key)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := env.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// editEnvelope decodes raw, lets edit change it and re-encodes it.
func editEnvelope(t testing.TB, raw []byte, edit func(*envpb.Envelope)) []byte {
	t.Helper()
	var e envpb.Envelope
	if err := proto.Unmarshal(raw, &e); err != nil {
		t.Fatal(err)
	}
	edit(&e)
	out, err := proto.Marshal(&e)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func secpKey(t testing.TB) crypto.PrivKey {
	t.Helper()
	key, _, err := crypto.GenerateSecp256k1Key(bytes.NewReader(bytes.Repeat([]byte{7}, 64)))
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// chunksOf yields the chunks of data in chunks of cs.
func chunksOf(data []byte, cs int) func(yield func([]byte, error) bool) {
	return func(yield func([]byte, error) bool) {
		for off := 0; off < len(data); off += cs {
			if !yield(data[off:min(off+cs, len(data))], nil) {
				return
			}
		}
	}
}

// failingReader returns data, then err.
type failingReader struct {
	r   io.Reader
	err error
}

func (f *failingReader) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if err == io.EOF {
		return n, f.err
	}
	return n, err
}

func mustID(t testing.TB, b []byte) record.ID {
	t.Helper()
	if len(b) != 32 {
		t.Fatalf("ID of %d bytes", len(b))
	}
	return record.ID(b)
}
