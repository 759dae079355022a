package clips_test

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protodelim"

	"github.com/porchlight-mesh/porchlight/clips"
	"github.com/porchlight-mesh/porchlight/clips/pb"
)

// TestFetchHugeRangesAreRefused: ranges past the end, or whose end
// overflows 64 bits, are refused before a byte is read.
func TestFetchHugeRangesAreRefused(t *testing.T) {
	w := newWorld(t)
	now := time.Now()
	g := w.a.grant(t, w.b.ID(), now.Add(-time.Minute), now.Add(time.Hour), w.mr.ClipID())
	size := uint64(w.mr.Size())
	id := w.mr.ClipID()
	for _, c := range []struct {
		name           string
		offset, length uint64
	}{
		{"length 2^64-1", 0, math.MaxUint64},
		{"offset 2^64-1", math.MaxUint64, 0},
		{"offset and length 2^64-1", math.MaxUint64, math.MaxUint64},
		{"offset + length overflows to a small number", 1, math.MaxUint64},
		{"offset at the end", size, 0},
		{"one byte past the end", size - 1, 2},
	} {
		resp, rest := rawFetch(t, w.b, w.a.id, &pb.ClipRequest{Grant: g.Raw, ClipId: id[:], Offset: c.offset, Length: c.length})
		if resp.GetRefused() != clips.ErrRange.Error() || len(rest) != 0 || len(resp.GetManifest()) != 0 {
			t.Errorf("%s: refused %q with %d bytes after it; want %q and nothing", c.name, resp.GetRefused(), len(rest), clips.ErrRange)
		}
		if e := w.a.lastEntry(t); e.Served || e.Reason != clips.ErrRange.Error() {
			t.Errorf("%s: access log %+v, want a range refusal", c.name, e)
		}
	}
}

// TestSlowLorisClipStreamsAreCut: streams that never finish their request,
// and a grantee that stops reading mid-clip, are cut by the protocol's
// deadlines, while an honest grantee is served meanwhile.
func TestSlowLorisClipStreamsAreCut(t *testing.T) {
	defer clips.SetTimeouts(500*time.Millisecond, 500*time.Millisecond)()
	w := newWorld(t)
	now := time.Now()
	gc := w.a.grant(t, w.c.ID(), now.Add(-time.Minute), now.Add(time.Hour), w.mr.ClipID())
	gb := w.a.grant(t, w.b.ID(), now.Add(-time.Minute), now.Add(time.Hour), w.mr.ClipID())
	ctx := ctxT(t)
	before := w.a.entries(t)

	// C opens 10 streams that send one byte of a length prefix, and one
	// that asks for the whole 3 MB clip and then reads nothing.
	const idle = 10
	var wg sync.WaitGroup
	ended := make(chan time.Duration, idle+1)
	for range idle {
		st, err := w.c.NewStream(ctx, w.a.id, clips.ClipProtocol)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = st.Write([]byte{0x80})
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := time.Now()
			_ = st.SetReadDeadline(time.Now().Add(10 * time.Second))
			_, err := st.Read(make([]byte, 1))
			if err == nil || errors.Is(err, io.EOF) {
				t.Errorf("idle stream: read %v, want a reset", err)
			}
			ended <- time.Since(start)
		}()
	}
	st, err := w.c.NewStream(ctx, w.a.id, clips.ClipProtocol)
	if err != nil {
		t.Fatal(err)
	}
	id := w.mr.ClipID()
	if _, err := protodelim.MarshalTo(st, &pb.ClipRequest{Grant: gc.Raw, ClipId: id[:]}); err != nil {
		t.Fatal(err)
	}
	_ = st.CloseWrite()

	// B fetches the same clip in full while all that is held open.
	var got bytes.Buffer
	if _, err := clips.Fetch(ctx, w.b, w.a.id, gb.Raw, id, 0, 0, &got); err != nil || !bytes.Equal(got.Bytes(), w.rnd) {
		t.Fatalf("honest fetch during the attack: %d bytes, %v", got.Len(), err)
	}
	wg.Wait()
	close(ended)
	var longest time.Duration
	for d := range ended {
		longest = max(longest, d)
	}
	// The stalled reader: after the deadline passes, reading gets what the
	// transport had buffered and then a reset, never the whole clip.
	time.Sleep(2 * time.Second)
	_ = st.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, err := io.Copy(io.Discard, bufio.NewReader(st))
	if err == nil || n >= int64(len(w.rnd)) {
		t.Errorf("stalled reader: read %d of %d bytes, err %v; want the stream cut", n, len(w.rnd), err)
	}
	t.Logf("%d idle clip streams cut after at most %s (header deadline 500 ms); a stalled reader got %d of %d bytes before its stream was reset; an honest grantee fetched the whole clip meanwhile",
		idle, longest.Round(time.Millisecond), n, len(w.rnd))
	// Every attempt is in the owner's access log: the idle streams as
	// malformed requests, the stalled fetch and the honest one as served.
	if got := w.a.entries(t) - before; got != idle+2 {
		t.Errorf("access log grew by %d entries, want %d", got, idle+2)
	}
}

// TestOpenDBAfterCrashLeftEmptyLogFiles: the clip database recovers from
// the empty write-ahead and value logs a crash can leave (see
// store.RemoveEmptyLogFiles), keeping its clips.
func TestOpenDBAfterCrashLeftEmptyLogFiles(t *testing.T) {
	dir := t.TempDir()
	key, _ := edKey(t, 1)
	db, err := clips.OpenDB(dir, quiet)
	if err != nil {
		t.Fatal(err)
	}
	s, err := clips.New(clips.Config{DB: db, Key: key})
	if err != nil {
		t.Fatal(err)
	}
	m := importBytes(t, s, randBytes(3, 200_000))
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"00007.mem", "000007.vlog"} {
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	db, err = clips.OpenDB(dir, quiet)
	if err != nil {
		t.Fatalf("OpenDB with empty logs left by a crash: %v", err)
	}
	defer db.Close()
	s, err = clips.New(clips.Config{DB: db, Key: key})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Manifest(m.ClipID()); err != nil {
		t.Fatalf("clip stored before the crash: %v", err)
	}
}
