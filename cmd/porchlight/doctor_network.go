package main

import (
	"fmt"
	"strings"

	"github.com/porchlight-mesh/porchlight/api"
	"github.com/porchlight-mesh/porchlight/mesh"
)

// What to do, in doctor's network section.
const (
	fixForward = "forward TCP and UDP port 7781 on the router to this hub (or turn on UPnP/NAT-PMP there, which the node uses on its own), or rely on an anchor (porchlight anchor add MULTIADDR)"
	fixAnchor  = "porchlight anchor add /ip4/ADDR/tcp/7781/p2p/PEER_ID (an anchor's `porchlight status` lists its addresses), or join with an invite from a member that knows one"
	cgnatNote  = "if the router's own WAN address is in 100.64.0.0/10, or is not the public address others see, the internet provider puts this home behind carrier-grade NAT (CGNAT): forwarding a port on the home router cannot help; ask the provider for a public IPv4 address or IPv6, or rely on an anchor"
)

// judgeNetwork is doctor's network section from the node's status and its
// anchors (probed): reachability, NAT kind, each anchor, the relay.
func judgeNetwork(st api.Status, anchors []api.AnchorStatus) []checkResult {
	var out []checkResult
	add := func(name, status, detail, fix string) {
		out = append(out, checkResult{Name: name, Status: status, Detail: detail, Fix: fix})
	}
	public := st.Reachability == mesh.ReachabilityPublic
	answering := 0
	for _, a := range anchors {
		if a.Connected {
			answering++
		}
	}
	switch {
	case public && st.Anchor:
		add("reachable", checkOK, "yes: homes behind other routers dial this one directly, and it serves the neighborhood as an anchor", "")
	case public:
		add("reachable", checkOK, "yes: homes behind other routers dial this one directly (it becomes an anchor of the neighborhood)", "")
	case st.Reachability == mesh.ReachabilityPrivate:
		add("reachable", checkWarn, "no: this home is behind a NAT that lets no one dial in; homes behind other routers reach it through an anchor, then directly if both NATs allow hole punching", fixForward+"; "+cgnatNote)
	case st.Anchor:
		add("reachable", checkWarn, "not confirmed yet, though this node runs as an anchor (--anchor): no member has checked that it can be dialled from outside", "make sure TCP and UDP port 7781 are open to this node (firewall, router, cloud security group)")
	case answering > 0:
		add("reachable", checkOK, "not known yet: the anchors check it within a minute or two of connecting", "")
	default:
		add("reachable", checkWarn, "not known yet: no anchor or neighbor outside this network has checked whether this home can be dialled", fixAnchor)
	}
	switch {
	case st.NAT == mesh.NATEndpointIndependent:
		add("NAT", checkOK, "endpoint-independent: hole punching works, so homes behind other routers connect directly once they meet through an anchor", "")
	case st.NAT == mesh.NATEndpointDependent:
		add("NAT", checkWarn, fmt.Sprintf("endpoint-dependent (symmetric): hole punching cannot work; homes behind other routers reach this one only relayed through an anchor: posts arrive by sync, clips only up to %d MB per connection", mesh.RelayCircuitData>>20),
			fixForward+"; "+cgnatNote)
	case public:
		add("NAT", checkOK, "none in the way: this home is reachable", "")
	default:
		add("NAT", checkOK, "kind not known yet: it takes two anchors or neighbors outside this network that see this home's public address", "")
	}
	reserved := ""
	for _, a := range anchors {
		where := strings.Join(a.Addrs, " ")
		if !a.Connected {
			add("anchor", checkWarn, fmt.Sprintf("%s does not answer (%s)", a.PeerID, where),
				"check that it runs and that its TCP and UDP port 7781 are open; or forget it: porchlight anchor rm "+a.PeerID)
			continue
		}
		detail := a.PeerID + " answers"
		if a.RTTMillis > 0 {
			detail += ", rtt " + rttText(a.RTTMillis)
		}
		if a.Reservation {
			detail += "; this home holds a relay reservation there"
			reserved = a.PeerID
		}
		add("anchor", checkOK, detail, "")
	}
	switch {
	case len(anchors) == 0 && (public || st.Anchor):
		add("anchors", checkOK, "none known; this home is reachable itself (tell neighbors its address: porchlight status)", "")
	case len(anchors) == 0:
		add("anchors", checkWarn, "none known: homes behind other routers cannot reach this one, only homes on its LAN", fixAnchor)
	case answering == 0:
		add("anchors", checkWarn, fmt.Sprintf("none of the %d known anchors answers: homes behind other routers cannot reach this one", len(anchors)), fixAnchor)
	}
	if public || st.Anchor {
		return out
	}
	switch {
	case reserved != "":
		add("relay", checkOK, "holds a relay reservation with "+reserved+": homes behind other routers reach this one through it", "")
	case len(st.Addresses.Relay) > 0:
		add("relay", checkOK, "relayed addresses: "+strings.Join(st.Addresses.Relay, " "), "")
	case answering > 0:
		add("relay", checkWarn, fmt.Sprintf("no relay reservation yet with the %d anchor(s) that answer: homes behind other routers cannot reach this one until it holds one", answering),
			"it takes a few seconds after connecting; if it stays so, check that the anchor runs as an anchor of this neighborhood (its `porchlight status` says anchor) and that this home is a member; or forward TCP and UDP port 7781 to this hub")
	default:
		add("relay", checkWarn, "no relay reservation: homes behind other routers cannot reach this one until it holds one with an anchor that answers", fixAnchor)
	}
	return out
}
