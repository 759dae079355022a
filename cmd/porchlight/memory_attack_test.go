package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	varint "encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/multiformats/go-multiaddr"

	"github.com/porchlight-mesh/porchlight/clips"
)

// startNodeProcess runs `porchlight run` in data (initialized first) and
// returns its status and process ID.
func startNodeProcess(t *testing.T, data, name string, extra ...string) (map[string]any, int) {
	t.Helper()
	if _, stderr, code := cli(t, "--data", data, "init", "--name", name, "--neighborhood", "maple-st",
		"--api", "127.0.0.1:0", "--listen", "/ip4/127.0.0.1/tcp/0"); code != 0 {
		t.Fatalf("init %s: %s", name, stderr)
	}
	var logs bytes.Buffer
	run := exec.Command(binary, append([]string{"--data", data, "run", "--no-mdns"}, extra...)...)
	run.Stderr = &logs
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- run.Wait() }()
	t.Cleanup(func() {
		run.Process.Signal(syscall.SIGTERM)
		<-done
	})
	return waitStatus(t, data, &logs), run.Process.Pid
}

// rssBytes is a process's resident set size, from /proc.
func rssBytes(t *testing.T, pid int) int64 {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmRSS")
	return 0
}

// TestStalledShareStreamsDoNotPinMemory: 50 identities open 200 share
// streams to a running node (a separate process, so its RSS is its own),
// each announcing a 25 MiB delivery, sending 2 MiB of it and stalling. The
// node's RSS must stay under 256 MB, and it must keep taking a neighbor's
// grant meanwhile.
func TestStalledShareStreamsDoNotPinMemory(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads the node's RSS from /proc")
	}
	if testing.Short() {
		t.Skip("moves 400 MB over loopback")
	}
	dir := t.TempDir()
	targetData, neighborData := filepath.Join(dir, "target"), filepath.Join(dir, "neighbor")
	target, pid := startNodeProcess(t, targetData, "target")
	addr := target["addrs"].([]any)[0].(string)
	startNodeProcess(t, neighborData, "neighbor", "--peer", addr)
	targetID, err := peer.Decode(target["peer_id"].(string))
	if err != nil {
		t.Fatal(err)
	}
	ma, err := multiaddr.NewMultiaddr(addr)
	if err != nil {
		t.Fatal(err)
	}
	before := rssBytes(t, pid)

	const identities, perIdentity = 50, 4
	const announced, sent = 25 << 20, 2 << 20
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var hosts []host.Host
	defer func() {
		for _, h := range hosts {
			h.Close()
		}
	}()
	var wg sync.WaitGroup
	var mu sync.Mutex
	opened := 0
	for range identities {
		key, _, _ := crypto.GenerateEd25519Key(rand.Reader)
		h, err := libp2p.New(libp2p.Identity(key), libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"))
		if err != nil {
			t.Fatal(err)
		}
		hosts = append(hosts, h)
		if err := h.Connect(ctx, peer.AddrInfo{ID: targetID, Addrs: []multiaddr.Multiaddr{ma}}); err != nil {
			t.Fatalf("connect: %v", err)
		}
		for range perIdentity {
			wg.Add(1)
			go func() {
				defer wg.Done()
				st, err := h.NewStream(network.WithAllowLimitedConn(ctx, "attack"), targetID, clips.ShareProtocol)
				if err != nil {
					return
				}
				var hdr [varint.MaxVarintLen64]byte
				n := varint.PutUvarint(hdr[:], announced)
				buf := append(hdr[:n:n], make([]byte, sent)...)
				for i := n; i < len(buf); i++ {
					buf[i] = 0x0a // a plausible protobuf field
				}
				_ = st.SetWriteDeadline(time.Now().Add(30 * time.Second))
				if _, err := st.Write(buf); err == nil {
					mu.Lock()
					opened++
					mu.Unlock()
				}
				// Stall: keep the stream open until the test ends.
			}()
		}
	}
	wg.Wait()
	var peak int64
	for end := time.Now().Add(4 * time.Second); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		peak = max(peak, rssBytes(t, pid))
	}
	t.Logf("%d identities, %d streams, %d wrote their %d bytes; target RSS %d MB before, peak %d MB while they stall",
		identities, identities*perIdentity, opened, sent, before>>20, peak>>20)
	if peak > 256<<20 {
		t.Fatalf("target RSS reached %d MB with stalled share streams, limit 256 MB", peak>>20)
	}

	// The neighbor's grant still gets through.
	out, stderr, code := cli(t, "--data", neighborData, "clips", "import", "../../clips/testdata/front-door-2026-11-27T19-42-10Z.mp4")
	if code != 0 {
		t.Fatalf("import: %s", stderr)
	}
	clip := lastLine(out)
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, stderr, code = cli(t, "--data", neighborData, "share", "--to", targetID.String(), "--clips", clip, "--yes")
		if code == 0 && !strings.Contains(out, "not reachable") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the neighbor's grant was not delivered while the attack went on: %s %s", out, stderr)
		}
		time.Sleep(500 * time.Millisecond)
	}
}
