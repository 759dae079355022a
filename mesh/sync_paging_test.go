package mesh

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"google.golang.org/protobuf/encoding/protodelim"
	"google.golang.org/protobuf/proto"

	"github.com/porchlight-mesh/porchlight/mesh/pb"
	"github.com/porchlight-mesh/porchlight/record"
	rpb "github.com/porchlight-mesh/porchlight/record/pb"
	"github.com/porchlight-mesh/porchlight/store"
)

// docSet is a Rules that holds opaque documents, for paging tests.
type docSet map[record.ID][]byte

func (d docSet) CheckEntry(*record.Signed) error { return nil }
func (d docSet) IngestDoc(raw []byte) (bool, error) {
	id := record.IDOf(raw)
	_, had := d[id]
	d[id] = raw
	return !had, nil
}
func (d docSet) DocIDs() ([]record.ID, error) {
	var ids []record.ID
	for id := range d {
		ids = append(ids, id)
	}
	return ids, nil
}
func (d docSet) DocsNotIn(have map[record.ID]bool) ([][]byte, error) {
	var out [][]byte
	for id, raw := range d {
		if !have[id] {
			out = append(out, raw)
		}
	}
	return out, nil
}
func (d docSet) Purgeable(peer.ID) bool { return false }

func pagingSyncer(t *testing.T, docs docSet) *syncer {
	t.Helper()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	db, err := store.Open(store.Config{Dir: t.TempDir(), Neighborhood: "maple-st", Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return newSyncer(&Mesh{cfg: Config{Store: db, Rules: docs, Now: time.Now}})
}

// TestWorstCaseSyncRequestFitsTheCap: a full page of the largest heads and
// document IDs a requester can hold, with the largest cursors, is within
// the cap the responder reads requests with.
func TestWorstCaseSyncRequestFitsTheCap(t *testing.T) {
	author := bytes.Repeat([]byte{0xff}, 38) // an Ed25519 peer ID
	req := &pb.SyncRequest{
		Neighborhood: string(bytes.Repeat([]byte{'n'}, record.MaxNeighborhoodLen)),
		Reciprocate:  true, SkipHeads: true, SkipDocs: true,
		After: author, Until: author,
		DocsAfter: make([]byte, 32), DocsUntil: make([]byte, 32),
		Digest: make([]byte, 32),
	}
	for range MaxSyncHeads {
		req.Heads = append(req.Heads, &pb.Head{Author: author, Contig: record.MaxSeq, Id: make([]byte, 32), Flagged: true})
	}
	for range MaxSyncDocIDs {
		req.DocsHave = append(req.DocsHave, make([]byte, 32))
	}
	var buf bytes.Buffer
	if _, err := protodelim.MarshalTo(&buf, req); err != nil {
		t.Fatal(err)
	}
	t.Logf("worst-case request: %d bytes, cap %d", buf.Len(), maxSyncRequest)
	if buf.Len() > maxSyncRequest {
		t.Fatalf("a full page is %d bytes, over the %d-byte request cap", buf.Len(), maxSyncRequest)
	}
}

// TestPagedSyncConverges walks pulls between two stores without a network:
// a requester with part of a neighborhood of more heads and documents than
// one page holds catches up on all of it (including authors it lacks in
// every page), no request exceeds the cap, and the rounds stay within the
// bound of records/MaxSyncRecords plus pages.
func TestPagedSyncConverges(t *testing.T) {
	const authors, docs = MaxSyncHeads + 1500, MaxSyncDocIDs*2 + 10
	full := docSet{}
	for i := range docs {
		full.IngestDoc([]byte(fmt.Sprintf("document %d", i)))
	}
	part := docSet{}
	for id, raw := range full {
		if id[0]%3 == 0 {
			part[id] = raw
		}
	}
	resp, req := pagingSyncer(t, full), pagingSyncer(t, part)
	var recs []*record.Signed
	for i := range authors {
		key, _, _ := crypto.GenerateEd25519Key(rand.Reader)
		id, _ := peer.IDFromPrivateKey(key)
		raw, err := record.SealEnvelope(record.Domain, record.PayloadType, &rpb.Entry{
			Author: []byte(id), Seq: 1, Created: time.Now().UnixMilli(), Neighborhood: "maple-st",
			Body: &rpb.Entry_Post{Post: &rpb.Post{Kind: "general", Text: fmt.Sprintf("author %d", i)}},
		}, key)
		if err != nil {
			t.Fatal(err)
		}
		s, err := record.DecodeTrusted(raw)
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, s)
		if _, err := resp.m.cfg.Store.Ingest(s); err != nil {
			t.Fatal(err)
		}
		if i%2 == 0 { // the requester holds every other log
			if _, err := req.m.cfg.Store.Ingest(s); err != nil {
				t.Fatal(err)
			}
		}
	}

	missingDocs := len(full) - len(part)
	rounds := 0
	for pull := 0; pull < 3; pull++ {
		var c cursor
		for ; !c.done(); rounds++ {
			if rounds > 100 {
				t.Fatalf("no convergence after %d rounds", rounds)
			}
			q, err := req.request(&c, Member)
			if err != nil {
				t.Fatal(err)
			}
			if n := proto.Size(q); n > maxSyncRequest-8 {
				t.Fatalf("request of %d bytes, cap %d", n, maxSyncRequest)
			}
			if len(q.GetHeads()) > MaxSyncHeads || len(q.GetDocsHave()) > MaxSyncDocIDs {
				t.Fatalf("request lists %d heads and %d documents, more than a page", len(q.GetHeads()), len(q.GetDocsHave()))
			}
			a, err := resp.respond(q, MaxSyncBytes, Member)
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range a.GetDocs() {
				part.IngestDoc(d)
			}
			for _, raw := range a.GetRecords() {
				s, err := record.Open(raw, time.Now())
				if err != nil {
					t.Fatal(err)
				}
				if _, err := req.m.cfg.Store.Ingest(s); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := c.advance(q, a); err != nil {
				t.Fatal(err)
			}
		}
		if pull == 0 {
			t.Logf("first pull: %d rounds for %d missing logs and %d missing documents", rounds, authors/2, missingDocs)
		}
	}
	heads, err := req.m.cfg.Store.Heads()
	if err != nil {
		t.Fatal(err)
	}
	if len(heads) != authors {
		t.Fatalf("requester holds %d of %d logs", len(heads), authors)
	}
	if len(part) != len(full) {
		t.Fatalf("requester holds %d of %d documents", len(part), len(full))
	}
	// Later pulls of a caught-up node walk the pages only.
	pages := (authors+MaxSyncHeads-1)/MaxSyncHeads + (docs+MaxSyncDocIDs-1)/MaxSyncDocIDs
	if rounds > 2*(pages+1)+pages+4 {
		t.Errorf("%d rounds over three pulls, want about %d per pull", rounds, pages)
	}
	ids := make([]record.ID, 0, len(recs))
	for _, s := range recs {
		ids = append(ids, s.ID)
	}
	sort.Slice(ids, func(i, j int) bool { return bytes.Compare(ids[i][:], ids[j][:]) < 0 })
	for _, id := range ids[:10] {
		if _, err := req.m.cfg.Store.Record(id); err != nil {
			t.Fatalf("record %s: %v", id, err)
		}
	}
}

// TestCursorWalksPagesAndRefusesBadResumes: the requester's cursor follows
// uncut pages to their end, resumes where a cut response says, refuses a
// resume point outside the page, and makes one second pass over the
// documents when one was held.
func TestCursorWalksPagesAndRefusesBadResumes(t *testing.T) {
	a, m, z := bytes.Repeat([]byte{'a'}, 38), bytes.Repeat([]byte{'m'}, 38), bytes.Repeat([]byte{'z'}, 38)
	tests := []struct {
		name      string
		req       *pb.SyncRequest
		resp      *pb.SyncResponse
		wantAfter []byte
		wantDone  bool
		wantErr   bool
	}{
		{"uncut page moves to its end", &pb.SyncRequest{After: a, Until: m, SkipDocs: true}, &pb.SyncResponse{}, m, false, false},
		{"uncut open page ends the heads", &pb.SyncRequest{After: m, SkipDocs: true}, &pb.SyncResponse{}, m, true, false},
		{"cut page resumes after the last author answered", &pb.SyncRequest{After: a, Until: z, SkipDocs: true}, &pb.SyncResponse{More: true, NextAfter: m}, m, false, false},
		{"cut page with no author answered stays", &pb.SyncRequest{After: a, Until: z, SkipDocs: true}, &pb.SyncResponse{More: true}, a, false, false},
		{"resume before the page is refused", &pb.SyncRequest{After: m, Until: z, SkipDocs: true}, &pb.SyncResponse{More: true, NextAfter: a}, m, false, true},
		{"resume beyond the page is refused", &pb.SyncRequest{After: a, Until: m, SkipDocs: true}, &pb.SyncResponse{More: true, NextAfter: z}, a, false, true},
		{"resume at the page's start is refused", &pb.SyncRequest{After: m, Until: z, SkipDocs: true}, &pb.SyncResponse{More: true, NextAfter: m}, m, false, true},
		{"documents cut: heads untouched", &pb.SyncRequest{After: a, Until: z}, &pb.SyncResponse{More: true, DocsCut: true, DocsNextAfter: []byte{5}}, a, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := cursor{after: tt.req.GetAfter(), docsDone: tt.req.GetSkipDocs()}
			_, err := c.advance(tt.req, tt.resp)
			if (err != nil) != tt.wantErr {
				t.Fatalf("advance error = %v, want error %v", err, tt.wantErr)
			}
			if err == nil && (!bytes.Equal(c.after, tt.wantAfter) || c.headsDone != tt.wantDone) {
				t.Fatalf("cursor after %q done %v, want %q done %v", c.after, c.headsDone, tt.wantAfter, tt.wantDone)
			}
		})
	}

	c := cursor{headsDone: true, docsDone: true, heldDocs: true, docsAfter: []byte{9}}
	if !c.againForHeld() || c.docsDone || c.docsAfter != nil || c.done() {
		t.Fatalf("a held document does not start a second pass over the documents: %+v", c)
	}
	c.docsDone, c.heldDocs = true, true
	if c.againForHeld() || !c.done() {
		t.Fatalf("a second held document starts a third pass: %+v", c)
	}
}
