package mesh_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"google.golang.org/protobuf/encoding/protodelim"

	"github.com/porchlight-mesh/porchlight/mesh"
	meshpb "github.com/porchlight-mesh/porchlight/mesh/pb"
	"github.com/porchlight-mesh/porchlight/record"
)

// fillSybils stores one valid post by each of authors fresh identities in
// n's store directly (signing on every core): what a Sybil attacker leaves
// behind after gossiping one post per identity, as every node relays and
// keeps them.
func fillSybils(t *testing.T, n *testNode, authors int) []record.ID {
	t.Helper()
	recs := make([]*record.Signed, authors)
	var (
		wg   sync.WaitGroup
		next atomic.Int64
		fail atomic.Value
	)
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1) - 1); i < authors; i = int(next.Add(1) - 1) {
				key, _, err := crypto.GenerateEd25519Key(rand.Reader)
				if err != nil {
					fail.Store(err)
					return
				}
				// Sign without Seal's verify-after-sign: a third of the time,
				// and the fresh node verifies every one anyway.
				raw, err := record.SealEnvelope(record.Domain, record.PayloadType, entryOf(key, n.nb, 1, fmt.Sprintf("sybil %d", i)), key)
				if err != nil {
					fail.Store(err)
					return
				}
				s, err := record.DecodeTrusted(raw)
				if err != nil {
					fail.Store(err)
					return
				}
				recs[i] = s
			}
		}()
	}
	wg.Wait()
	if err, _ := fail.Load().(error); err != nil {
		t.Fatal(err)
	}
	ids := make([]record.ID, authors)
	for i, s := range recs {
		if _, err := n.db.Ingest(s); err != nil {
			t.Fatal(err)
		}
		ids[i] = s.ID
	}
	return ids
}

// TestSybilAuthorsCannotBreakCatchUp: 40,000 one-post authors (all valid,
// relayed and kept by every node) made every sync request larger than the
// responder accepts (about 28,000 heads fit), so no node could catch up
// again. A fresh node now catches up on all of them, in a bounded number of
// rounds, none of whose requests exceeds the message cap.
func TestSybilAuthorsCannotBreakCatchUp(t *testing.T) {
	authors := 40_000
	if raceEnabled {
		authors = mesh.MaxSyncHeads + 1000 // still two pages; signing 40,000 takes minutes under -race
	}
	a := newTestNode(t, "a", "maple-st")
	start := time.Now()
	ids := fillSybils(t, a, authors)
	mine := post(t, a, "a's own post, after the flood")
	t.Logf("stored %d Sybil authors in %s", authors, time.Since(start))

	b := newTestNode(t, "b", "maple-st")
	connect(t, b, a)
	start = time.Now()
	deadline := start.Add(4 * time.Minute) // a loaded 2-core machine; it takes seconds alone
	for {
		heads, err := b.db.Heads()
		if err != nil {
			t.Fatal(err)
		}
		if len(heads) >= authors+2 && has(b, mine) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s the fresh node holds %d of %d logs: catch-up is broken", time.Since(start).Round(time.Second), len(heads), authors+2)
		}
		time.Sleep(500 * time.Millisecond)
	}
	for i := 0; i < len(ids); i += 997 {
		if !has(b, ids[i]) {
			t.Fatalf("fresh node lacks Sybil post %d", i)
		}
	}
	took := time.Since(start)
	rounds := b.m.SyncRounds("client", "ok")
	t.Logf("fresh node caught up on %d authors in %s, %v rounds", authors+2, took.Round(time.Millisecond), rounds)
	// Each round brings up to MaxSyncRecords records or walks MaxSyncHeads
	// heads; allow generously for nudged and periodic pulls on top.
	if max := float64(4 * (authors/mesh.MaxSyncRecords + authors/mesh.MaxSyncHeads + 4)); rounds > max {
		t.Errorf("catch-up took %v rounds, want at most %v", rounds, max)
	}
	if errs := b.m.SyncRounds("client", "error"); errs > 0 {
		t.Errorf("%v sync rounds failed during catch-up", errs)
	}
}

// TestStrangerHammeringSyncIsRateLimited: a stranger that asks for
// everything over and over, on as many streams as it may open, used to pull
// about 250 MB/s. It now gets at most the per-peer sync budget, while an
// honest newcomer still catches up.
func TestStrangerHammeringSyncIsRateLimited(t *testing.T) {
	a := newTestNode(t, "a", "maple-st")
	ids := fillLogs(t, a, 3, 1000) // 3,000 records of ~300 bytes: every request for everything gets a full round

	key, _, _ := crypto.GenerateEd25519Key(rand.Reader)
	att, err := libp2p.New(libp2p.Identity(key), libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"))
	if err != nil {
		t.Fatal(err)
	}
	defer att.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := att.Connect(ctx, a.info()); err != nil {
		t.Fatal(err)
	}

	// Its first round is the neighborhood handshake: answered, but small.
	first, err := att.NewStream(ctx, a.m.ID(), mesh.SyncProtocol)
	if err != nil {
		t.Fatal(err)
	}
	_ = first.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := protodelim.MarshalTo(first, &meshpb.SyncRequest{Neighborhood: "maple-st"}); err != nil {
		t.Fatal(err)
	}
	fr := &countingReader{r: first}
	if err := (protodelim.UnmarshalOptions{MaxSize: 64 << 20}).UnmarshalFrom(bufio.NewReader(fr), new(meshpb.SyncResponse)); err != nil {
		t.Fatal(err)
	}
	first.Close()
	if fr.n > mesh.StrangerSyncBytes+2*record.MaxSize {
		t.Fatalf("a stranger's first round got %d bytes, want at most about %d", fr.n, mesh.StrangerSyncBytes)
	}

	const hammer = 6 * time.Second
	var got atomic.Int64
	hctx, hcancel := context.WithTimeout(ctx, hammer)
	defer hcancel()
	var wg sync.WaitGroup
	start := time.Now()
	for range mesh.SyncStreamsPerPeer {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for hctx.Err() == nil {
				st, err := att.NewStream(hctx, a.m.ID(), mesh.SyncProtocol)
				if err != nil {
					continue
				}
				_ = st.SetDeadline(time.Now().Add(hammer))
				if _, err := protodelim.MarshalTo(st, &meshpb.SyncRequest{Neighborhood: "maple-st"}); err != nil {
					st.Reset()
					continue
				}
				_ = st.CloseWrite()
				r := &countingReader{r: st}
				resp := new(meshpb.SyncResponse)
				if err := (protodelim.UnmarshalOptions{MaxSize: 64 << 20}).UnmarshalFrom(bufio.NewReader(r), resp); err == nil && time.Since(start) < hammer {
					got.Add(r.n)
				}
				st.Reset()
			}
		}()
	}

	// Meanwhile an honest newcomer catches up.
	b := newTestNode(t, "b", "maple-st")
	connect(t, b, a)
	took := eventually(t, 60*time.Second, "newcomer holds all 3,000 records while a stranger hammers sync", func() bool {
		for i := 0; i < len(ids); i += 37 {
			if !has(b, ids[i]) {
				return false
			}
		}
		return has(b, ids[len(ids)-1])
	})
	wg.Wait()
	// Only responses read in full within the window count.
	rate := float64(got.Load()) / hammer.Seconds()
	t.Logf("a stranger hammering sync on %d streams for %s pulled %.1f MB (%.2f MB/s); the honest newcomer caught up in %s",
		mesh.SyncStreamsPerPeer, hammer, float64(got.Load())/1e6, rate/1e6, took.Round(time.Millisecond))
	// The budget over the window plus one burst, and 10% for framing.
	if limit := 1.1 * (float64(mesh.SyncBytesPerSecond) + float64(mesh.SyncBurstBytes)/hammer.Seconds()); rate > limit {
		t.Fatalf("stranger pulled %.2f MB/s, want at most %.2f MB/s", rate/1e6, limit/1e6)
	}
}

type countingReader struct {
	r interface{ Read([]byte) (int, error) }
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
