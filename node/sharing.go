package node

import (
	"context"
	"time"

	"log/slog"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/porchlight-mesh/porchlight/api"
	"github.com/porchlight-mesh/porchlight/clips"
	"github.com/porchlight-mesh/porchlight/record"
	"github.com/porchlight-mesh/porchlight/sharing"
)

// startSharing starts the sharing service (package sharing): grants, the
// clip and share protocols, evidence.
func (n *Node) startSharing(log *slog.Logger, noYields bool) (err error) {
	var yields sharing.Yields
	if !noYields {
		yields = n.reqs
	}
	n.shares, err = sharing.New(sharing.Config{
		Host:           n.mesh.Host(),
		Key:            n.key,
		DB:             n.db,
		Clips:          n.clips,
		Requests:       n.reqs,
		Records:        n.db,
		InNeighborhood: n.inNeighborhood,
		PostGrant:      n.postGrant,
		Reach:          n.reach,
		OnEvent:        func(kind string, data any) { n.events.Publish(api.Event{Type: kind, Data: data}) },
		Yields:         yields,
		Logger:         log,
	})
	if err != nil {
		return err
	}
	if noYields {
		return nil
	}
	// An agency's requests and closes come after the Yield of every clip
	// received before them (requests.Service.SetYieldSource).
	return n.reqs.SetYieldSource(n.shares.ReceivedClips)
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

// postGrant finds owner's neighborhood-wide grant for clip in its posts
// (feed.Service.PostGrant). It is a method, not the feed's own, because
// the feed and the sharing service each need the other.
func (n *Node) postGrant(owner peer.ID, clip record.ID) *clips.SignedGrant {
	return n.feed.PostGrant(owner, clip)
}

// feedSharer hands the feed the sharing service, which starts after the
// feed (its PostGrant reads the feed). The feed shares only when the API
// asks it to post, and the API starts after both.
type feedSharer struct{ n *Node }

func (s feedSharer) Share(ctx context.Context, grantee peer.ID, clipIDs []record.ID, request record.ID, expires time.Time) (*clips.SignedGrant, bool, error) {
	return s.n.shares.Share(ctx, grantee, clipIDs, request, expires)
}

func (s feedSharer) RevokeGrant(id clips.GrantID) error { return s.n.shares.RevokeGrant(id) }

func (s feedSharer) GrantRevoked(g *clips.SignedGrant) bool { return s.n.shares.GrantRevoked(g) }

// reach names a clip's owner and this home's NAT kind, for the error of a
// clip that cannot cross a relayed connection.
func (n *Node) reach(owner peer.ID) sharing.Reach {
	r := sharing.Reach{NAT: n.mesh.Network().NAT}
	for _, p := range n.mesh.Peers() {
		if p.ID == owner {
			r.Name = p.Name
			break
		}
	}
	if r.Name == "" {
		if name, err := n.db.Name(owner); err == nil {
			r.Name = name
		}
	}
	return r
}
