package node

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/protocol/ping"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"

	"github.com/porchlight-mesh/porchlight/api"
	"github.com/porchlight-mesh/porchlight/store"
)

// canonicalAnchor checks an anchor's address (ParseAnchor) and returns it
// as config.toml keeps it, with its peer ID.
func canonicalAnchor(s string) (string, peer.ID, error) {
	ai, err := ParseAnchor(s)
	if err != nil {
		return "", "", err
	}
	addrs, err := peer.AddrInfoToP2pAddrs(ai)
	if err != nil {
		return "", "", err
	}
	return addrs[0].String(), ai.ID, nil
}

// anchorID is the peer ID an `anchor rm` argument names: a peer ID, or an
// anchor's multiaddr.
func anchorID(which string) (peer.ID, error) {
	which = strings.TrimSpace(which)
	if id, err := peer.Decode(which); err == nil {
		return id, nil
	}
	ai, err := ParseAnchor(which)
	if err != nil {
		return "", fmt.Errorf("%q is neither a peer ID nor an anchor's multiaddr", which)
	}
	return ai.ID, nil
}

// withAnchor returns anchors with addr added (unchanged when it is there).
func withAnchor(anchors []string, addr string) []string {
	if slices.Contains(anchors, addr) {
		return anchors
	}
	return append(slices.Clone(anchors), addr)
}

// withoutAnchor returns anchors without those of peer id, and the removed.
func withoutAnchor(anchors []string, id peer.ID) (kept, removed []string) {
	for _, a := range anchors {
		if ai, err := ParseAnchor(a); err == nil && ai.ID == id {
			removed = append(removed, a)
			continue
		}
		kept = append(kept, a)
	}
	return kept, removed
}

// AddAnchor adds an anchor to the config.toml of a stopped node (`porchlight
// anchor add` without a running node; a running node takes it through its
// API). It returns the address as saved.
func AddAnchor(dir, addr string) (string, error) {
	s, err := LoadConfig(dir)
	if err != nil {
		return "", err
	}
	canon, _, err := canonicalAnchor(addr)
	if err != nil {
		return "", err
	}
	cfg := s.Config
	cfg.Anchors = withAnchor(cfg.Anchors, canon)
	return canon, SaveConfig(dir, cfg)
}

// RemoveAnchor removes every address of an anchor (named by its peer ID or
// a multiaddr) from the config.toml of a stopped node, and returns the
// addresses removed; none is an error wrapping store.ErrNotFound.
func RemoveAnchor(dir, which string) ([]string, error) {
	s, err := LoadConfig(dir)
	if err != nil {
		return nil, err
	}
	id, err := anchorID(which)
	if err != nil {
		return nil, err
	}
	cfg := s.Config
	var removed []string
	cfg.Anchors, removed = withoutAnchor(cfg.Anchors, id)
	if len(removed) == 0 {
		return nil, fmt.Errorf("%w: no configured anchor has peer ID %s (porchlight anchor ls lists them)", store.ErrNotFound, id)
	}
	return removed, SaveConfig(dir, cfg)
}

// AnchorCandidates are the invite addresses a new home keeps as anchors:
// the public ones (a home with a mapped port, a VPS), and the relay of
// each /p2p-circuit address (the anchor the inviter holds a reservation
// with). Private and loopback addresses stay static peers only.
func AnchorCandidates(addrs []ma.Multiaddr) []string {
	var out []string
	for _, a := range addrs {
		s := a.String()
		if relay, _, ok := strings.Cut(s, "/p2p-circuit"); ok {
			s = relay
		}
		b, err := ma.NewMultiaddr(s)
		if err != nil || !manet.IsPublicAddr(b) {
			continue
		}
		if canon, _, err := canonicalAnchor(s); err == nil && !slices.Contains(out, canon) {
			out = append(out, canon)
		}
	}
	return out
}

// addAnchor adds an anchor to the running node: config.toml, the node's
// settings and the mesh, which dials it.
func (n *Node) addAnchor(addr string) (api.AnchorStatus, error) {
	canon, id, err := canonicalAnchor(addr)
	if err != nil {
		return api.AnchorStatus{}, &api.BadRequestError{Err: err}
	}
	n.cfgMu.Lock()
	if !slices.Contains(n.Config.Anchors, canon) {
		cfg := n.Config.Config
		cfg.Anchors = withAnchor(cfg.Anchors, canon)
		if err := SaveConfig(n.dir, cfg); err != nil {
			n.cfgMu.Unlock()
			return api.AnchorStatus{}, err
		}
		n.Config.Anchors = cfg.Anchors
	}
	n.cfgMu.Unlock()
	if err := n.mesh.AddAnchor(canon); err != nil {
		return api.AnchorStatus{}, &api.BadRequestError{Err: err}
	}
	for _, a := range n.anchors(context.Background(), false) {
		if a.PeerID == id.String() {
			return a, nil
		}
	}
	return api.AnchorStatus{PeerID: id.String(), Addrs: []string{canon}, Configured: true}, nil
}

// removeAnchor removes an anchor from config.toml and the node's settings;
// the mesh keeps using it until the node restarts.
func (n *Node) removeAnchor(which string) ([]string, error) {
	id, err := anchorID(which)
	if err != nil {
		return nil, &api.BadRequestError{Err: err}
	}
	n.cfgMu.Lock()
	defer n.cfgMu.Unlock()
	cfg := n.Config.Config
	var removed []string
	cfg.Anchors, removed = withoutAnchor(cfg.Anchors, id)
	if len(removed) == 0 {
		return nil, fmt.Errorf("%w: no configured anchor has peer ID %s", store.ErrNotFound, id)
	}
	if err := SaveConfig(n.dir, cfg); err != nil {
		return nil, err
	}
	n.Config.Anchors = cfg.Anchors
	return removed, nil
}

// anchorPingTimeout bounds one ping of an anchor when probing.
const anchorPingTimeout = 3 * time.Second

// anchors lists the anchors this node knows: the configured ones, in
// config.toml's order, then those the mesh learned. Connected and RTT come
// from the mesh, else from the host. With probe, anchors not connected
// are dialled, and each is pinged, within ctx.
func (n *Node) anchors(ctx context.Context, probe bool) []api.AnchorStatus {
	n.cfgMu.Lock()
	configured := slices.Clone(n.Config.Anchors)
	n.cfgMu.Unlock()
	var out []api.AnchorStatus
	index := map[string]int{}
	entry := func(id peer.ID) *api.AnchorStatus {
		i, ok := index[id.String()]
		if !ok {
			i = len(out)
			index[id.String()] = i
			out = append(out, api.AnchorStatus{PeerID: id.String(), Addrs: []string{}})
		}
		return &out[i]
	}
	for _, s := range configured {
		canon, id, err := canonicalAnchor(s)
		if err != nil {
			continue // LoadConfig refused such a file
		}
		a := entry(id)
		a.Configured = true
		if !slices.Contains(a.Addrs, canon) {
			a.Addrs = append(a.Addrs, canon)
		}
	}
	for _, m := range n.mesh.Network().Anchors {
		a := entry(m.ID)
		a.Configured = a.Configured || m.Configured
		a.Connected, a.Reservation = m.Connected, m.Reservation
		a.RTTMillis = millis(m.RTT)
		for _, addr := range m.Addrs {
			s := addr.String()
			if _, err := addr.ValueForProtocol(ma.P_P2P); err != nil {
				s += "/p2p/" + m.ID.String()
			}
			if !slices.Contains(a.Addrs, s) {
				a.Addrs = append(a.Addrs, s)
			}
		}
	}
	h := n.mesh.Host()
	for i := range out {
		a := &out[i]
		id, _ := peer.Decode(a.PeerID)
		if h.Network().Connectedness(id) == network.Connected {
			a.Connected = true
		}
		if a.RTTMillis == 0 && a.Connected {
			a.RTTMillis = millis(h.Peerstore().LatencyEWMA(id))
		}
	}
	if probe {
		var wg sync.WaitGroup
		for i := range out {
			wg.Add(1)
			go func(a *api.AnchorStatus) {
				defer wg.Done()
				n.probeAnchor(ctx, a)
			}(&out[i])
		}
		wg.Wait()
	}
	return out
}

// probeAnchor dials a (if not connected) and pings it: Connected and
// RTTMillis then say whether it answers now.
func (n *Node) probeAnchor(ctx context.Context, a *api.AnchorStatus) {
	h := n.mesh.Host()
	id, err := peer.Decode(a.PeerID)
	if err != nil {
		return
	}
	if h.Network().Connectedness(id) != network.Connected {
		ai := peer.AddrInfo{ID: id}
		for _, s := range a.Addrs {
			if p, err := ParseAnchor(s); err == nil {
				ai.Addrs = append(ai.Addrs, p.Addrs...)
			}
		}
		if err := n.mesh.Connect(ctx, ai); err != nil {
			a.Connected, a.RTTMillis = false, 0
			return
		}
	}
	pctx, cancel := context.WithTimeout(ctx, anchorPingTimeout)
	defer cancel()
	select {
	case r := <-ping.Ping(pctx, h, id):
		if r.Error == nil {
			a.Connected, a.RTTMillis = true, millis(r.RTT)
			return
		}
	case <-pctx.Done():
	}
	a.Connected = h.Network().Connectedness(id) == network.Connected
}

// millis is d in milliseconds, to the microsecond.
func millis(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// anchorsAPI is the API's view of the node's anchors.
type anchorsAPI struct{ n *Node }

var _ api.Anchors = anchorsAPI{}

func (a anchorsAPI) List(ctx context.Context, probe bool) ([]api.AnchorStatus, error) {
	return a.n.anchors(ctx, probe), nil
}

func (a anchorsAPI) Add(addr string) (api.AnchorStatus, error) { return a.n.addAnchor(addr) }

func (a anchorsAPI) Remove(which string) ([]string, error) { return a.n.removeAnchor(which) }

// networkStatus fills st's reachability, NAT kind, anchor role, addresses
// and anchors from the mesh.
func (n *Node) networkStatus(st *api.Status) {
	ns := n.mesh.Network()
	st.Reachability, st.NAT = ns.Reachability, ns.NAT
	st.Anchor = ns.Anchor || n.anchorMode
	st.Addresses = api.AddressesStatus{Listen: addrStrings(ns.Listen), Observed: addrStrings(ns.Observed), Relay: addrStrings(ns.Relay)}
	st.Anchors = n.anchors(context.Background(), false)
	if st.Anchors == nil {
		st.Anchors = []api.AnchorStatus{}
	}
}

func addrStrings(addrs []ma.Multiaddr) []string {
	out := make([]string, 0, len(addrs))
	for _, a := range addrs {
		out = append(out, a.String())
	}
	return out
}
