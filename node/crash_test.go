package node_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/porchlight-mesh/porchlight/clips"
	"github.com/porchlight-mesh/porchlight/feed"
	"github.com/porchlight-mesh/porchlight/node"
	"github.com/porchlight-mesh/porchlight/record"
	"github.com/porchlight-mesh/porchlight/record/pb"
	"github.com/porchlight-mesh/porchlight/store"
)

// The crash test re-runs this test binary as a child process (see
// TestMain) that runs a real node on a data directory and writes to it as
// fast as it can: posts through the mesh (stored, gossiped, fsynced) and
// clips through Store.ImportFile (chunks, manifest, sync). It prints an ack
// line only when the call returned, i.e. when the write is durable. The
// parent SIGKILLs it at a random moment, opens the data directory itself
// with the ordinary Open functions and checks every ack, then starts the
// child again on the same directory.
//
// CI runs 50 kills; PORCHLIGHT_LONG=1 runs 1,000 (see docs/reliability.md).

const crashChildEnv = "PORCHLIGHT_CRASH_CHILD"

// crashChild is the child's main: it returns the exit code.
func crashChild() int {
	dir, work := os.Getenv(crashChildEnv), os.Getenv("PORCHLIGHT_CRASH_WORK")
	n, err := node.Start(node.Options{Dir: dir, API: "off", DisableMDNS: true, Logger: quiet})
	if err != nil {
		fmt.Fprintln(os.Stderr, "start:", err)
		return 1
	}
	var mu sync.Mutex
	ack := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Printf(format+"\n", args...)
	}
	ack("ready %s", n.ID())
	rnd := mrand.New(mrand.NewPCG(uint64(time.Now().UnixNano()), uint64(os.Getpid())))
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { // posts
		defer wg.Done()
		for i := 0; ; i++ {
			text := fmt.Sprintf("crash-test post %d of pid %d", i, os.Getpid())
			s, err := n.Mesh().Append(func(e *pb.Entry) { e.Body = &pb.Entry_Post{Post: &pb.Post{Kind: feed.DefaultKind, Text: text}} })
			if err != nil {
				fmt.Fprintln(os.Stderr, "post:", err)
				os.Exit(1)
			}
			ack("post %s %d %s", s.ID, s.Seq(), strconv.Quote(text))
			time.Sleep(time.Duration(rnd.IntN(4)) * time.Millisecond)
		}
	}()
	go func() { // clips
		defer wg.Done()
		for i := 0; ; i++ {
			// 1 KB to 1.5 MB: one or two 1 MiB chunks. A short pause
			// keeps the data (which every check reads back) modest.
			time.Sleep(time.Duration(rnd.IntN(50)) * time.Millisecond)
			size := 1<<10 + rnd.IntN(3<<19)
			b := make([]byte, size)
			for j := 0; j < size; j += 8 {
				v := rnd.Uint64()
				for k := 0; k < 8 && j+k < size; k++ {
					b[j+k] = byte(v >> (8 * k))
				}
			}
			path := filepath.Join(work, fmt.Sprintf("cam-%d-%d.mp4", os.Getpid(), i))
			if err := os.WriteFile(path, b, 0o600); err != nil {
				fmt.Fprintln(os.Stderr, "write clip file:", err)
				os.Exit(1)
			}
			m, err := n.Clips().ImportFile(context.Background(), path, clips.ImportMeta{Camera: "porch", Start: time.Now()})
			if err != nil {
				fmt.Fprintln(os.Stderr, "import:", err)
				os.Exit(1)
			}
			ack("clip %s %s", m.ClipID(), path)
		}
	}()
	wg.Wait()
	return 0
}

type ackedPost struct {
	id   record.ID
	seq  uint64
	text string
}

type ackedClip struct {
	id   record.ID
	path string
}

func TestCrashSafetyUnderSIGKILL(t *testing.T) {
	if raceEnabled {
		t.Skip("the crash test runs without -race (go test ./... in CI); under the race detector 50 kills take minutes")
	}
	kills := 50
	if os.Getenv("PORCHLIGHT_LONG") != "" {
		kills = 1000
	}
	if testing.Short() {
		kills = 10
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	// The long run starts a fresh data directory every epoch kills, so the
	// data every check reads back stays a few hundred MB.
	const epoch = 100
	var (
		dir      string
		key      crypto.PrivKey
		self     peer.ID
		posts    map[record.ID]ackedPost
		clipAcks map[record.ID]ackedClip
		readBack map[record.ID]bool // clips read back whole after an earlier kill
		ownLog   *[]record.ID       // own log IDs verified after an earlier kill
	)
	fresh := func() {
		dir = filepath.Join(t.TempDir(), "data")
		if err := node.Init(dir, node.Config{
			Name: "crash", Neighborhood: "maple-st", API: "off",
			Listen: []string{"/ip4/127.0.0.1/tcp/0"}, DisableMDNS: true,
		}); err != nil {
			t.Fatal(err)
		}
		var err error
		if key, err = node.LoadKey(dir); err != nil {
			t.Fatal(err)
		}
		self, _ = peer.IDFromPrivateKey(key)
		posts, clipAcks, readBack = map[record.ID]ackedPost{}, map[record.ID]ackedClip{}, map[record.ID]bool{}
		ownLog = new([]record.ID)
	}
	work := t.TempDir()
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rnd := mrand.New(mrand.NewPCG(seed, 1))

	var (
		verifyTime             time.Duration
		maxSeq, withWrites     int
		totalPosts, totalClips int
		pending                int // ack lines cut short by the kill (not counted)
	)
	start := time.Now()
	for kill := 0; kill < kills; kill++ {
		if kill%epoch == 0 {
			totalPosts += len(posts)
			totalClips += len(clipAcks)
			fresh()
		}
		cmd := exec.Command(exe, "-test.run=^$")
		cmd.Env = append(os.Environ(), crashChildEnv+"="+dir, "PORCHLIGHT_CRASH_WORK="+work)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// A random moment: sometimes during start-up, mostly mid-write.
		delay := time.Duration(rnd.IntN(1200)) * time.Millisecond
		timer := time.AfterFunc(delay, func() { cmd.Process.Signal(syscall.SIGKILL) })
		lines, err := io.ReadAll(out)
		if err != nil {
			t.Fatal(err)
		}
		timer.Stop()
		cmd.Process.Signal(syscall.SIGKILL) // in case it ended on its own
		werr := cmd.Wait()
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() {
			t.Fatalf("kill %d: child was not killed but exited (%v): %s", kill, werr, stderr.String())
		}
		acks := 0
		// Only whole lines count: the kill may cut the last one short.
		var whole, cut []byte
		if i := bytes.LastIndexByte(lines, '\n'); i >= 0 {
			whole, cut = lines[:i+1], lines[i+1:]
		} else {
			whole, cut = nil, lines
		}
		if len(cut) > 0 {
			pending++
		}
		sc := bufio.NewScanner(bytes.NewReader(whole))
		for sc.Scan() {
			line := sc.Text()
			f := strings.SplitN(line, " ", 4)
			switch {
			case f[0] == "ready":
			case f[0] == "post" && len(f) == 4:
				id, err1 := record.ParseID(f[1])
				seq, err2 := strconv.ParseUint(f[2], 10, 64)
				text, err3 := strconv.Unquote(f[3])
				if err1 != nil || err2 != nil || err3 != nil {
					t.Fatalf("kill %d: bad ack line %q", kill, line)
				}
				posts[id] = ackedPost{id, seq, text}
				maxSeq = max(maxSeq, int(seq))
				acks++
			case f[0] == "clip" && len(f) == 3:
				id, err := record.ParseID(f[1])
				if err != nil {
					t.Fatalf("kill %d: bad ack line %q", kill, line)
				}
				// The source file is the test's to keep: its hash is
				// what the clip ID must be.
				src, err := os.ReadFile(f[2])
				if err != nil {
					t.Fatal(err)
				}
				if sum := sha256.Sum256(src); record.ID(sum) != id {
					t.Fatalf("kill %d: acknowledged clip ID %s is not the SHA-256 of its file %s (%s)", kill, id, f[2], hex.EncodeToString(sum[:]))
				}
				clipAcks[id] = ackedClip{id, f[2]}
				acks++
			default:
				t.Fatalf("kill %d: unexpected line %q", kill, line)
			}
		}
		if acks > 0 {
			withWrites++
		}
		v := time.Now()
		// Every check reads back the clips it has not read yet; every
		// tenth and the last read back all of them, since recovery could
		// in principle damage old data too.
		full := kill%10 == 9 || kill == kills-1
		verifyCrashedDir(t, kill, dir, self, key, posts, clipAcks, readBack, ownLog, full)
		verifyTime += time.Since(v)
		if t.Failed() {
			t.Logf("child stderr: %s", stderr.String())
			return
		}
	}
	totalPosts += len(posts)
	totalClips += len(clipAcks)
	t.Logf("%d SIGKILLs in %s (%d mid-write, after at least one ack): %d acknowledged posts (own log up to seq %d) and %d acknowledged clips all present and verified after every kill; %d cut-off ack lines ignored; verification took %s in all",
		kills, time.Since(start).Round(time.Millisecond), withWrites, totalPosts, maxSeq, totalClips, pending, verifyTime.Round(time.Millisecond))
	if totalPosts == 0 || totalClips == 0 {
		t.Fatalf("the child acknowledged %d posts and %d clips: the test exercised nothing", totalPosts, totalClips)
	}
}

// verifyCrashedDir opens a killed node's data directory as the node does
// and checks that every acknowledged write is there and that everything
// visible verifies.
func verifyCrashedDir(t *testing.T, kill int, dir string, self peer.ID, key crypto.PrivKey, posts map[record.ID]ackedPost, acked map[record.ID]ackedClip, readBack map[record.ID]bool, ownLog *[]record.ID, full bool) {
	t.Helper()
	db, err := store.Open(store.Config{Dir: filepath.Join(dir, node.DBDir), Neighborhood: "maple-st", Logger: quiet})
	if err != nil {
		t.Fatalf("kill %d: the record store does not open after SIGKILL: %v", kill, err)
	}
	defer db.Close()
	// The own log: contiguous from 1, every envelope verifies, each links
	// to the one before.
	head, err := db.Head(self)
	if err != nil {
		t.Fatalf("kill %d: head: %v", kill, err)
	}
	slots, more, err := db.Slots(self, 1, 1<<30, 1<<30)
	if err != nil || more {
		t.Fatalf("kill %d: read own log: more=%v, %v", kill, more, err)
	}
	if uint64(len(slots)) != head.Max {
		t.Fatalf("kill %d: own log has %d slots, head says %d", kill, len(slots), head.Max)
	}
	if len(slots) < len(*ownLog) {
		t.Fatalf("kill %d: own log shrank from %d to %d records", kill, len(*ownLog), len(slots))
	}
	var prev record.ID
	for i, sl := range slots {
		if i < len(*ownLog) && !full {
			// Verified after an earlier kill: it must be the same bytes.
			if sl.ID != (*ownLog)[i] || record.IDOf(sl.Raw) != sl.ID || sl.Seq != uint64(i+1) {
				t.Fatalf("kill %d: own record seq %d changed since it was verified", kill, i+1)
			}
			prev = sl.ID
			continue
		}
		s, err := record.Open(sl.Raw, time.Now())
		if err != nil {
			t.Fatalf("kill %d: own record seq %d does not verify: %v", kill, sl.Seq, err)
		}
		if sl.Seq != uint64(i+1) || s.Seq() != sl.Seq || s.ID != sl.ID || s.Prev() != prev {
			t.Fatalf("kill %d: own log broken at slot %d: seq %d/%d, prev %s, want %s", kill, i, sl.Seq, s.Seq(), s.Prev(), prev)
		}
		prev = s.ID
	}
	*ownLog = (*ownLog)[:0]
	for _, sl := range slots {
		*ownLog = append(*ownLog, sl.ID)
	}
	for _, p := range posts {
		s, err := db.Record(p.id)
		if err != nil {
			t.Fatalf("kill %d: acknowledged post seq %d (%s) is gone: %v", kill, p.seq, p.id, err)
		}
		if s.Seq() != p.seq || s.Entry.GetPost().GetText() != p.text {
			t.Fatalf("kill %d: acknowledged post %s changed: seq %d %q", kill, p.id, s.Seq(), s.Entry.GetPost().GetText())
		}
	}

	cdb, err := clips.OpenDB(filepath.Join(dir, node.ClipDBDir), quiet)
	if err != nil {
		t.Fatalf("kill %d: the clip database does not open after SIGKILL: %v", kill, err)
	}
	defer cdb.Close()
	cs, err := clips.New(clips.Config{DB: cdb, Key: key, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	list, err := cs.List()
	if err != nil {
		t.Fatalf("kill %d: list clips: %v", kill, err)
	}
	listed := map[record.ID]bool{}
	for _, m := range list {
		listed[m.ClipID()] = true
		if _, err := clips.OpenManifest(m.Raw); err != nil {
			t.Fatalf("kill %d: manifest of clip %s does not verify: %v", kill, m.ClipID(), err)
		}
		if readBack[m.ClipID()] && !full {
			continue
		}
		r, err := cs.Reader(m.ClipID())
		if err != nil {
			t.Fatalf("kill %d: listed clip %s has no reader: %v", kill, m.ClipID(), err)
		}
		h := sha256.New()
		n, err := io.Copy(h, r)
		if err != nil {
			t.Fatalf("kill %d: listed clip %s reads back with an error after %d bytes: %v", kill, m.ClipID(), n, err)
		}
		if id := m.ClipID(); n != m.Size() || !bytes.Equal(h.Sum(nil), id[:]) {
			t.Fatalf("kill %d: listed clip %s reads back %d bytes (manifest: %d) with SHA-256 %x: half-written", kill, m.ClipID(), n, m.Size(), h.Sum(nil))
		}
		readBack[m.ClipID()] = true
	}
	for id, c := range acked {
		if !listed[id] {
			t.Fatalf("kill %d: acknowledged clip %s (%s) is gone", kill, id, c.path)
		}
	}
}
