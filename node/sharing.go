package node

import (
	"log/slog"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/porchlight-mesh/porchlight/api"
	"github.com/porchlight-mesh/porchlight/clips"
	"github.com/porchlight-mesh/porchlight/record"
	"github.com/porchlight-mesh/porchlight/sharing"
)

// startSharing starts the sharing service (package sharing): grants, the
// clip and share protocols, evidence.
func (n *Node) startSharing(log *slog.Logger) (err error) {
	n.shares, err = sharing.New(sharing.Config{
		Host:           n.mesh.Host(),
		Key:            n.key,
		DB:             n.db.Badger(),
		Clips:          n.clips,
		Requests:       n.reqs,
		Records:        n.db,
		InNeighborhood: n.inNeighborhood,
		PostGrant:      n.postGrant,
		OnEvent:        func(kind string, data any) { n.events.Publish(api.Event{Type: kind, Data: data}) },
		Logger:         log,
	})
	return err
}

// Sharing is the node's sharing service.
func (n *Node) Sharing() *sharing.Service { return n.shares }

// inNeighborhood reports whether p is a connected neighbor.
func (n *Node) inNeighborhood(p peer.ID) bool {
	for _, q := range n.mesh.Peers() {
		if q.ID == p {
			return true
		}
	}
	return false
}

// postGrant finds a grant for clip in owner's posts.
func (n *Node) postGrant(owner peer.ID, clip record.ID) *clips.SignedGrant {
	posts, err := n.mesh.Feed(1000)
	if err != nil {
		return nil
	}
	for _, p := range posts {
		if p.Author != owner || len(p.ClipGrant) == 0 {
			continue
		}
		g, err := clips.OpenGrant(p.ClipGrant)
		if err == nil && g.Owner == owner && clips.CanFetch(g, false, n.mesh.ID(), owner, clip, time.Now()) == nil {
			return g
		}
	}
	return nil
}
