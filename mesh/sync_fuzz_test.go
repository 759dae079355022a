package mesh

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"google.golang.org/protobuf/encoding/protodelim"
	"google.golang.org/protobuf/proto"

	"github.com/porchlight-mesh/porchlight/mesh/pb"
	"github.com/porchlight-mesh/porchlight/record"
	rpb "github.com/porchlight-mesh/porchlight/record/pb"
	"github.com/porchlight-mesh/porchlight/store"
)

// fuzzMesh is one real mesh (store on disk, host on 127.0.0.1) holding a few
// records, shared by all inputs of a fuzz target.
func fuzzMesh(f *testing.F) *Mesh {
	f.Helper()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	db, err := store.Open(store.Config{Dir: f.TempDir(), Neighborhood: "maple-st", Logger: quiet})
	if err != nil {
		f.Fatal(err)
	}
	key, _, _ := crypto.GenerateEd25519Key(rand.Reader)
	m, err := New(Config{Key: key, Store: db, Name: "fuzz", ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}, Logger: quiet, SyncInterval: time.Hour})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() {
		m.Close()
		db.Close()
	})
	for _, text := range []string{"one", "two", "three"} {
		if _, err := m.Append(func(e *rpb.Entry) { e.Body = &rpb.Entry_Post{Post: &rpb.Post{Kind: "general", Text: text}} }); err != nil {
			f.Fatal(err)
		}
	}
	return m
}

// FuzzSyncRequest feeds arbitrary bytes to the responder's decoder and
// answer: it must never panic, and an answer stays within its bounds.
func FuzzSyncRequest(f *testing.F) {
	m := fuzzMesh(f)
	req, _ := m.syncer.request(&cursor{}, Member)
	var buf bytes.Buffer
	protodelim.MarshalTo(&buf, req)
	f.Add(buf.Bytes())
	buf.Reset()
	protodelim.MarshalTo(&buf, &pb.SyncRequest{Neighborhood: "maple-st"})
	f.Add(buf.Bytes())
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0x0f})
	buf.Reset()
	protodelim.MarshalTo(&buf, &pb.SyncRequest{Neighborhood: "maple-st", After: []byte{0xff}, Until: []byte{0x00}, DocsAfter: make([]byte, 300)})
	f.Add(buf.Bytes())
	f.Fuzz(func(t *testing.T, data []byte) {
		r := new(pb.SyncRequest)
		if err := (protodelim.UnmarshalOptions{MaxSize: maxSyncRequest}).UnmarshalFrom(bufio.NewReader(bytes.NewReader(data)), r); err != nil {
			return
		}
		for _, maxBytes := range []int{MaxSyncBytes, StrangerSyncBytes} {
			resp, err := m.syncer.respond(r, maxBytes, Member)
			if err != nil {
				t.Fatalf("respond: %v", err)
			}
			if len(resp.GetRecords())+len(resp.GetStubs()) > MaxSyncRecords+4 {
				t.Fatalf("response of %d records exceeds the bound", len(resp.GetRecords()))
			}
			if n := proto.Size(resp); n > maxBytes+4*record.MaxSize {
				t.Fatalf("response of %d bytes exceeds the %d-byte bound", n, maxBytes)
			}
			// The requester's cursor never goes backwards, and a response
			// for a page always moves it or ends the pull.
			var c cursor
			if _, err := c.advance(r, resp); err != nil {
				t.Fatalf("our own response to %v is refused by our cursor: %v", r, err)
			}
		}
	})
}

// FuzzSyncResponse feeds arbitrary bytes to the requester's decoder and
// apply step: nothing panics, nothing unverified is stored.
func FuzzSyncResponse(f *testing.F) {
	m := fuzzMesh(f)
	req := &pb.SyncRequest{Neighborhood: "maple-st"}
	resp, _ := m.syncer.respond(req, MaxSyncBytes, Member)
	var buf bytes.Buffer
	protodelim.MarshalTo(&buf, resp)
	f.Add(buf.Bytes())
	buf.Reset()
	protodelim.MarshalTo(&buf, &pb.SyncResponse{Neighborhood: "maple-st", Stubs: []*pb.Stub{{Author: []byte("x"), Seq: 1, Id: make([]byte, 32)}}})
	f.Add(buf.Bytes())
	f.Fuzz(func(t *testing.T, data []byte) {
		r := new(pb.SyncResponse)
		if err := (protodelim.UnmarshalOptions{MaxSize: maxSyncMsg}).UnmarshalFrom(bufio.NewReader(bytes.NewReader(data)), r); err != nil {
			return
		}
		before, _ := m.cfg.Store.Heads()
		m.syncer.apply("", r)
		// No response moves a cursor backwards or out of its page.
		req := &pb.SyncRequest{After: []byte("m"), Until: []byte("t"), DocsAfter: []byte("m"), DocsUntil: []byte("t")}
		c := cursor{after: req.After, docsAfter: req.DocsAfter}
		if _, err := c.advance(req, r); err == nil {
			if bytes.Compare(c.after, req.After) < 0 || bytes.Compare(c.docsAfter, req.DocsAfter) < 0 ||
				bytes.Compare(c.after, req.Until) > 0 || bytes.Compare(c.docsAfter, req.DocsUntil) > 0 {
				t.Fatalf("cursor moved to %x / %x outside its page", c.after, c.docsAfter)
			}
		}
		after, _ := m.cfg.Store.Heads()
		// The fuzzer cannot sign for a new author, so no head may appear
		// that the input did not carry a valid envelope for; re-applying our
		// own records is a no-op.
		if len(after) != len(before) {
			t.Fatalf("heads went from %d to %d on input %x", len(before), len(after), data)
		}
	})
}
