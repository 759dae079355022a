package clips_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/porchlight-mesh/porchlight/clips"
)

// rssFile is the file-backed part of this process's resident set, in
// bytes: Badger's mapped value-log pages count there.
func rssFile(t *testing.T) int64 {
	t.Helper()
	f, err := os.Open("/proc/self/status")
	if err != nil {
		t.Skipf("no /proc/self/status: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "RssFile:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Skip("no RssFile in /proc/self/status")
	return 0
}

// Storing and reading a clip does not leave its pages mapped into the
// process (dropPages): without that, the resident set grows by the size of
// every clip imported, received, served or played, here 64 MiB.
func TestClipPagesLeaveTheResidentSet(t *testing.T) {
	const size = 64 << 20
	s := newStore(t, 1, clips.Config{ChunkSize: 1 << 20})
	before := rssFile(t)
	gen := &genReader{left: size, rng: rand.NewChaCha8([32]byte{41})}
	h := sha256.New()
	m, err := s.Import(context.Background(), io.TeeReader(gen, h), clips.ImportMeta{Camera: "porch", Start: t0, MediaType: "video/mp4"})
	if err != nil {
		t.Fatal(err)
	}
	afterImport := rssFile(t)
	r, err := s.Reader(m.ClipID())
	if err != nil {
		t.Fatal(err)
	}
	h2 := sha256.New()
	if n, err := io.Copy(h2, r); err != nil || n != size {
		t.Fatalf("read back %d bytes: %v", n, err)
	}
	afterRead := rssFile(t)
	if !bytes.Equal(h.Sum(nil), h2.Sum(nil)) {
		t.Fatal("the clip read back differs from the one imported")
	}
	t.Logf("RssFile %d MiB before, %d after importing 64 MiB, %d after reading it back", before>>20, afterImport>>20, afterRead>>20)
	if grew := afterImport - before; grew > size/4 {
		t.Errorf("importing 64 MiB grew RssFile by %d MiB", grew>>20)
	}
	if grew := afterRead - before; grew > size/4 {
		t.Errorf("reading 64 MiB back grew RssFile by %d MiB", grew>>20)
	}
}
