package mesh_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"google.golang.org/protobuf/encoding/protodelim"

	"github.com/porchlight-mesh/porchlight/mesh"
	meshpb "github.com/porchlight-mesh/porchlight/mesh/pb"
	"github.com/porchlight-mesh/porchlight/record"
)

// fillLogs stores authors x perAuthor posts in n's store directly.
func fillLogs(t *testing.T, n *testNode, authors, perAuthor int) []record.ID {
	t.Helper()
	var ids []record.ID
	for range authors {
		key, _, _ := crypto.GenerateEd25519Key(rand.Reader)
		var prev record.ID
		for seq := 1; seq <= perAuthor; seq++ {
			e := entryOf(key, n.nb, uint64(seq), fmt.Sprintf("post %d: %0200d", seq, seq))
			if seq > 1 {
				e.Prev = prev[:]
			}
			s, err := record.Seal(e, key)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := n.db.Ingest(s); err != nil {
				t.Fatal(err)
			}
			prev = s.ID
			ids = append(ids, s.ID)
		}
	}
	return ids
}

// TestSyncFloodIsBounded: a peer that asks for everything gets one bounded
// round, a peer that opens many sync streams at once gets
// 4 of them (the rest are reset before any handler runs),
// and an honest newcomer still catches up in full meanwhile.
func TestSyncFloodIsBounded(t *testing.T) {
	a := newTestNode(t, "a", "maple-st")
	ids := fillLogs(t, a, 3, 1000) // 3,000 records of ~300 bytes: two rounds at least

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

	// One request for everything: heads empty.
	st, err := att.NewStream(ctx, a.m.ID(), mesh.SyncProtocol)
	if err != nil {
		t.Fatal(err)
	}
	_ = st.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := protodelim.MarshalTo(st, &meshpb.SyncRequest{Neighborhood: "maple-st"}); err != nil {
		t.Fatal(err)
	}
	resp := new(meshpb.SyncResponse)
	if err := (protodelim.UnmarshalOptions{MaxSize: 64 << 20}).UnmarshalFrom(bufio.NewReader(st), resp); err != nil {
		t.Fatal(err)
	}
	st.Close()
	size := 0
	for _, r := range resp.GetRecords() {
		size += len(r)
	}
	if len(resp.GetRecords()) > mesh.MaxSyncRecords || size > mesh.MaxSyncBytes+record.MaxSize || !resp.GetMore() {
		t.Fatalf("a request for everything got %d records, %d bytes, more=%v; want at most %d records and %d bytes, and more",
			len(resp.GetRecords()), size, resp.GetMore(), mesh.MaxSyncRecords, mesh.MaxSyncBytes)
	}
	t.Logf("request for everything (%d records held): one round of %d records, %d bytes, more=%v", len(ids), len(resp.GetRecords()), size, resp.GetMore())

	// Many sync streams at once, each sending nothing (slow loris).
	const opened = 64
	var (
		mu                sync.Mutex
		accepted, refused int
		streams           []network.Stream
		wg                sync.WaitGroup
	)
	for range opened {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st, err := att.NewStream(ctx, a.m.ID(), mesh.SyncProtocol)
			if err != nil {
				mu.Lock()
				refused++
				mu.Unlock()
				return
			}
			// The first byte of a length prefix that never ends. A refused
			// stream is reset at once; an accepted one waits for the rest.
			_, _ = st.Write([]byte{0x80})
			_ = st.SetReadDeadline(time.Now().Add(4 * time.Second)) // resets come in milliseconds; leave room for a loaded machine
			_, err = st.Read(make([]byte, 1))
			mu.Lock()
			defer mu.Unlock()
			var timeout interface{ Timeout() bool }
			if errors.As(err, &timeout) && timeout.Timeout() {
				accepted++
				streams = append(streams, st)
			} else {
				refused++
				if !errors.Is(err, network.ErrReset) {
					t.Errorf("idle sync stream ended with %v, want a reset or our deadline", err)
				}
			}
		}()
	}
	wg.Wait()
	t.Logf("%d sync streams opened at once: %d accepted, %d reset", opened, accepted, refused)
	if accepted > mesh.SyncStreamsPerPeer || accepted == 0 {
		t.Fatalf("%d of %d idle sync streams accepted, want 1 to %d", accepted, opened, mesh.SyncStreamsPerPeer)
	}
	// Held open, they do not stop an honest newcomer from catching up.
	b := newTestNode(t, "b", "maple-st")
	connect(t, b, a)
	took := eventually(t, 20*time.Second, "newcomer holds all 3,000 records", func() bool {
		for _, id := range ids[len(ids)-10:] {
			if !has(b, id) {
				return false
			}
		}
		for i := 0; i < len(ids); i += 97 {
			if !has(b, ids[i]) {
				return false
			}
		}
		return true
	})
	t.Logf("honest newcomer caught up on %d records in %s while the attacker held %d streams", len(ids), took, accepted)
	for _, st := range streams {
		st.Reset()
	}
}

// TestManyConnectionsFromOnePeerAreBounded: one identity dialling from many
// hosts at once gets at most the resource manager's per-peer connection
// limit (8); the rest are refused, and honest neighbors keep being served.
func TestManyConnectionsFromOnePeerAreBounded(t *testing.T) {
	a := newTestNode(t, "a", "maple-st")
	key, _, _ := crypto.GenerateEd25519Key(rand.Reader)
	const dialers = 24
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		failed int
	)
	for range dialers {
		h, err := libp2p.New(libp2p.Identity(key), libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"))
		if err != nil {
			t.Fatal(err)
		}
		defer h.Close()
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := h.Connect(ctx, a.info()); err != nil {
				mu.Lock()
				failed++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	att, _ := peer.IDFromPrivateKey(key)
	conns := len(a.m.Host().Network().ConnsToPeer(att))
	t.Logf("%d hosts with one identity dialled at once: %d connections kept, %d dials failed", dialers, conns, failed)
	if conns == 0 || conns > 8 {
		t.Fatalf("%d connections from one peer kept, want 1 to 8 (the per-peer limit)", conns)
	}

	// An honest neighbor still connects and gets a post.
	b := newTestNode(t, "b", "maple-st")
	connect(t, b, a)
	id := post(t, a, "still serving neighbors")
	eventually(t, 15*time.Second, "the neighbor gets the post", func() bool { return has(b, id) })
}
