package mesh_test

import (
	"testing"
	"time"

	"github.com/porchlight-mesh/porchlight/mesh"
)

// TestSyncDigestEndsPullsInSync: two neighbors that gossip has already
// brought the same records end their periodic pulls after one round of
// digests; a record one of them got outside gossip (here, written into its
// store directly) makes the digests differ, and the pull that follows
// brings it page by page.
func TestSyncDigestEndsPullsInSync(t *testing.T) {
	fast := func(c *mesh.Config) { c.SyncInterval = 300 * time.Millisecond }
	a := newTestNodeWith(t, "a", "maple-st", fast)
	b := newTestNodeWith(t, "b", "maple-st", fast)
	c := newTestNode(t, "c", "maple-st") // never connected: its record reaches a by hand
	connect(t, a, b)
	first := post(t, a, "gossiped")
	eventually(t, 10*time.Second, "b has a's post", func() bool { return has(b, first) })
	eventually(t, 10*time.Second, "a pull ends in sync", func() bool { return b.m.SyncInSync() > 0 && a.m.SyncInSync() > 0 })

	s, err := appendPost(c.m, "came by hand")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.db.Ingest(s); err != nil {
		t.Fatal(err)
	}
	took := eventually(t, 10*time.Second, "b gets the record a got outside gossip", func() bool { return has(b, s.ID) })
	t.Logf("the record not gossiped reached b by sync in %s; pulls in sync so far: a %v, b %v", took, a.m.SyncInSync(), b.m.SyncInSync())
}
