package api_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/porchlight-mesh/porchlight/api"
	"github.com/porchlight-mesh/porchlight/clips"
	"github.com/porchlight-mesh/porchlight/clips/pb"
	"github.com/porchlight-mesh/porchlight/mesh"
	"github.com/porchlight-mesh/porchlight/record"
	"github.com/porchlight-mesh/porchlight/requests"
	"github.com/porchlight-mesh/porchlight/sharing"
	"github.com/porchlight-mesh/porchlight/store"
)

// brokenExport holds one piece of evidence whose export fails, before or
// after its first byte.
type brokenExport struct {
	noSharing
	ev         sharing.EvidenceInfo
	writeFirst bool
}

func (b brokenExport) Evidence() ([]sharing.EvidenceInfo, error) {
	return []sharing.EvidenceInfo{b.ev}, nil
}
func (b brokenExport) ExportEvidence(w io.Writer, _ record.ID) error {
	if b.writeFirst {
		if _, err := w.Write(make([]byte, 4096)); err != nil {
			return err
		}
	}
	return errors.New("the stored transfer record names another grant")
}

func newSharingServer(t *testing.T, sh api.Sharing) *api.Server {
	t.Helper()
	db, err := store.Open(store.Config{Dir: t.TempDir(), Neighborhood: "maple-st", Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	key, _, _ := crypto.GenerateEd25519Key(rand.Reader)
	reqs, err := requests.New(requests.Config{Store: db, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	m, err := mesh.New(mesh.Config{Key: key, Store: db, Name: "test", ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}, Logger: quiet, Rules: reqs})
	if err != nil {
		t.Fatal(err)
	}
	cdb, err := clips.OpenDB(t.TempDir(), quiet)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cdb.Close() })
	cs, err := clips.New(clips.Config{DB: cdb, Key: key, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	s, err := api.Listen(api.Config{Addr: "127.0.0.1:0", Token: token, Mesh: m, Feed: newFeed(t, m, db, sh), Logger: quiet, Requests: reqs, Clips: cs, Sharing: sh,
		Trust: func(peer.ID) error { return nil }, TrustedIssuers: func() []string { return nil },
		Metrics: promhttp.HandlerFor(prometheus.NewRegistry(), promhttp.HandlerOpts{}),
		Status:  func() api.Status { return api.Status{Name: "test"} }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.Close()
		m.Close()
		db.Close()
	})
	return s
}

// evidenceItem is a received clip's manifest and transfer record.
func evidenceItem(t *testing.T) sharing.EvidenceInfo {
	t.Helper()
	key, _, _ := crypto.GenerateEd25519Key(rand.Reader)
	db, err := store.Open(store.Config{Dir: t.TempDir(), Neighborhood: "maple-st", Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	cdb, err := clips.OpenDB(t.TempDir(), quiet)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cdb.Close() })
	cs, err := clips.New(clips.Config{DB: cdb, Key: key, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	m, err := cs.Import(context.Background(), bytes.NewReader(bytes.Repeat([]byte("clip"), 5000)), clips.ImportMeta{Camera: "c", Start: time.Now(), MediaType: "video/mp4"})
	if err != nil {
		t.Fatal(err)
	}
	id := m.ClipID()
	rkey, _, _ := crypto.GenerateEd25519Key(rand.Reader)
	rid, _ := peer.IDFromPrivateKey(rkey)
	tr, err := clips.SealTransfer(&pb.Transfer{ClipId: id[:], GrantId: make([]byte, clips.GrantIDLen), Owner: []byte(m.Owner), Receiver: []byte(rid),
		Received: time.Now().UnixMilli(), Sha256: id[:], Size: m.M.GetSize()}, rkey)
	if err != nil {
		t.Fatal(err)
	}
	return sharing.EvidenceInfo{Transfer: tr, Manifest: m}
}

// TestFailedEvidenceExportIsAnError: an evidence bundle that cannot be
// exported is an HTTP error with a message, never an empty 200; one that
// fails after its first byte breaks the transfer.
func TestFailedEvidenceExportIsAnError(t *testing.T) {
	ev := evidenceItem(t)
	get := func(s *api.Server) (*http.Response, []byte, error) {
		req, _ := http.NewRequest("GET", "http://"+s.Addr().String()+"/api/v1/evidence/"+ev.Transfer.ClipID().String()+"/bundle", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, nil, err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return resp, b, err
	}

	resp, body, err := get(newSharingServer(t, brokenExport{ev: ev}))
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode < 400 || !strings.Contains(string(body), "cannot export") || !strings.Contains(string(body), "transfer record") {
		t.Fatalf("a failed export answered %d %q, want an error naming the problem", resp.StatusCode, body)
	}

	resp, body, err = get(newSharingServer(t, brokenExport{ev: ev, writeFirst: true}))
	if err == nil {
		t.Fatalf("an export that failed midway answered %d with %d bytes and a clean end", resp.StatusCode, len(body))
	}
}
