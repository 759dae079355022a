package mesh

import (
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/mdns"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
	"golang.org/x/time/rate"
)

// maxTXTAddrs bounds the addresses advertised (each TXT string is at most
// 255 bytes; a DNS message should stay well under one packet).
const maxTXTAddrs = 8

// discovery answers mDNS queries on every multicast interface (see
// responder) and queries periodically, dialling peers of this neighborhood.
type discovery struct {
	m       *Mesh
	quiet   *log.Logger // hashicorp/mdns's client logs through the log package
	resp    *responder  // nil when no multicast socket could be opened
	backoff *dialBackoff
	limiter *rate.Limiter // new mDNS dials
	dialing sync.WaitGroup
	slots   chan struct{} // concurrent mDNS dials
	served  map[int]bool  // interfaces with a zone, by index
}

// Bounds of dialling what mDNS answers say. Anyone on the LAN can answer a
// query, with any peer ID and any address; without these bounds every node
// would dial whatever host and port a stranger names, every query.
const (
	maxMDNSDials       = 4                // at once
	mdnsDialsPerSecond = 2                // new dials, with a burst of 8
	mdnsBackoffMin     = 30 * time.Second // after a failed dial, doubling
	mdnsBackoffMax     = 10 * time.Minute
)

func newDiscovery(m *Mesh) (*discovery, error) {
	d := &discovery{
		m:       m,
		quiet:   log.New(io.Discard, "", 0),
		backoff: newDialBackoff(m.cfg.Now, mdnsBackoffMin, mdnsBackoffMax),
		limiter: rate.NewLimiter(mdnsDialsPerSecond, 2*maxMDNSDials),
		slots:   make(chan struct{}, maxMDNSDials),
		served:  map[int]bool{},
	}
	r, err := newResponder(m.cfg.Logger)
	if err != nil {
		m.cfg.Logger.Warn("mdns: cannot answer queries (neighbors will not find this node by mDNS; they can still be found by it)", "err", err)
	} else {
		d.resp = r
	}
	return d, nil
}

func multicastInterfaces() []net.Interface {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil
	}
	var out []net.Interface
	for _, ifi := range ifs {
		if ifi.Flags&net.FlagUp != 0 && ifi.Flags&net.FlagMulticast != 0 && ifi.Flags&net.FlagLoopback == 0 {
			out = append(out, ifi)
		}
	}
	return out
}

// ifaceNets returns the networks of an interface.
func ifaceNets(ifi net.Interface) []*net.IPNet {
	addrs, err := ifi.Addrs()
	if err != nil {
		return nil
	}
	var out []*net.IPNet
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok {
			out = append(out, ipn)
		}
	}
	return out
}

// onLink reports whether a's IP address lies in one of nets.
func onLink(a ma.Multiaddr, nets []*net.IPNet) bool {
	ip, err := manet.ToIP(a)
	if err != nil {
		return false
	}
	for _, n := range nets {
		if n.Contains(ip) {
			return true
		}
	}
	return false
}

// txt is the TXT record answered on an interface whose networks are nets:
// only the node's addresses on that interface, so a query from the LAN does
// not learn the node's VPN, container or other networks.
func (d *discovery) txt(nets []*net.IPNet) []string {
	txt := []string{"pl=1", "id=" + d.m.self.String(), "nt=" + DiscoveryTag(d.m.cfg.Store.Neighborhood())}
	n := 0
	for _, a := range d.m.host.Addrs() {
		if manet.IsIPLoopback(a) || n == maxTXTAddrs || !hasIP(a, nets) {
			continue
		}
		txt = append(txt, "a="+a.String())
		n++
	}
	return txt
}

// hasIP reports whether a's IP address is one of the interface addresses nets.
func hasIP(a ma.Multiaddr, nets []*net.IPNet) bool {
	ip, err := manet.ToIP(a)
	if err != nil {
		return false
	}
	for _, n := range nets {
		if n.IP.Equal(ip) {
			return true
		}
	}
	return false
}

// tcpPort is the port the host listens on, for the SRV record.
func (d *discovery) tcpPort() int {
	for _, a := range d.m.host.Addrs() {
		if p, err := a.ValueForProtocol(ma.P_TCP); err == nil {
			var port int
			fmt.Sscan(p, &port)
			return port
		}
	}
	return 0
}

// refreshZones gives the responder each multicast interface's zone: that
// interface's addresses in the A/AAAA and TXT records. Interfaces that went
// away stop being answered on.
func (d *discovery) refreshZones() {
	if d.resp == nil {
		return
	}
	port := d.tcpPort()
	if port == 0 {
		return
	}
	host := d.m.self.String()
	if len(host) > 20 {
		host = host[len(host)-20:]
	}
	seen := map[int]bool{}
	for _, ifi := range multicastInterfaces() {
		nets := ifaceNets(ifi)
		var ips []net.IP
		for _, n := range nets {
			ips = append(ips, n.IP)
		}
		if len(ips) == 0 {
			continue
		}
		zone, err := mdns.NewMDNSService(d.m.self.String(), ServiceName, "", strings.ToLower(host)+".local.", port, ips, d.txt(nets))
		if err != nil {
			d.m.cfg.Logger.Warn("mdns zone", "iface", ifi.Name, "err", err)
			continue
		}
		d.resp.setZone(ifi, zone)
		seen[ifi.Index] = true
	}
	for idx := range d.served {
		if !seen[idx] {
			d.resp.setZone(net.Interface{Index: idx}, nil)
		}
	}
	d.served = seen
}

func (d *discovery) run(ctx context.Context) error {
	defer func() {
		if d.resp != nil {
			_ = d.resp.Close()
		}
		d.dialing.Wait()
	}()
	// hashicorp/mdns does not announce, so query early and often at first.
	delays := []time.Duration{0, 2 * time.Second, 5 * time.Second}
	for i := 0; ; i++ {
		wait := d.m.cfg.MDNSInterval
		if i < len(delays) {
			wait = delays[i]
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
		d.refreshZones()
		d.query(ctx)
	}
}

// query asks on every multicast interface, IPv4 and IPv6 separately:
// hashicorp/mdns stops a query at the first send error, so one family that
// cannot send (an IPv6 address still in duplicate detection, or none at all)
// would otherwise throw away the other family's answers.
func (d *discovery) query(ctx context.Context) {
	var wg sync.WaitGroup
	var failed, tried int
	var mu sync.Mutex
	for _, ifi := range multicastInterfaces() {
		for _, v6 := range []bool{false, true} {
			ifc := ifi
			nets := ifaceNets(ifi)
			entries := make(chan *mdns.ServiceEntry, 32)
			wg.Add(2)
			go func() {
				defer wg.Done()
				for e := range entries {
					d.found(ctx, e, nets)
				}
			}()
			go func() {
				defer wg.Done()
				defer close(entries)
				err := mdns.QueryContext(ctx, &mdns.QueryParam{
					Service: ServiceName, Domain: "local", Timeout: time.Second,
					Interface: &ifc, Entries: entries, Logger: d.quiet,
					DisableIPv4: v6, DisableIPv6: !v6,
				})
				mu.Lock()
				defer mu.Unlock()
				tried++
				if err != nil && ctx.Err() == nil {
					failed++
					d.m.cfg.Logger.Debug("mdns query failed", "iface", ifc.Name, "ipv6", v6, "err", err)
				}
			}()
		}
	}
	wg.Wait()
	if tried > 0 && failed == tried {
		d.m.cfg.Logger.Warn("mdns: every query failed on every interface; neighbors will not be found unless static peers are set (--peer)", "interfaces", tried/2)
	}
}

// found handles one answer to a query sent on an interface whose networks
// are nets: same neighborhood, not us, not connected: dial its addresses on
// those networks, unless dials to it failed recently.
func (d *discovery) found(ctx context.Context, e *mdns.ServiceEntry, nets []*net.IPNet) {
	var id peer.ID
	var nb string
	var addrs []ma.Multiaddr
	pl := false
	for _, f := range e.InfoFields {
		k, v, _ := strings.Cut(f, "=")
		switch k {
		case "pl":
			pl = v == "1"
		case "id":
			id, _ = peer.Decode(v)
		case "nt":
			nb = v
		case "a":
			if a, err := ma.NewMultiaddr(v); err == nil && len(addrs) < maxTXTAddrs {
				addrs = append(addrs, a)
			}
		}
	}
	if !pl || id == "" || id == d.m.self {
		return
	}
	hood, ok := d.m.tagHood(nb)
	if !ok {
		d.m.cfg.Logger.Debug("mdns: ignoring node of another neighborhood", "peer", id, "tag", nb)
		return
	}
	if e.AddrV4 != nil && e.Port != 0 {
		if a, err := manet.FromNetAddr(&net.TCPAddr{IP: e.AddrV4, Port: e.Port}); err == nil {
			addrs = append(addrs, a)
		}
	}
	if d.m.host.Network().Connectedness(id) == network.Connected {
		return
	}
	if hood != "" {
		d.m.hint(id, hood) // a served neighborhood's: named so in the handshake
	}
	addrs = d.dialable(id, addrs, nets)
	if len(addrs) == 0 {
		return
	}
	select {
	case d.slots <- struct{}{}:
	default:
		return // busy; the next query brings the answer again
	}
	if !d.limiter.Allow() {
		<-d.slots
		return
	}
	d.dialing.Add(1)
	go func() {
		defer d.dialing.Done()
		defer func() { <-d.slots }()
		dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if err := d.m.host.Connect(dctx, peer.AddrInfo{ID: id, Addrs: addrs}); err != nil {
			if ctx.Err() == nil {
				d.backoff.failed(id, addrs)
				d.m.cfg.Logger.Debug("mdns: dial failed; backing off", "peer", id, "err", err)
			}
			return
		}
		d.backoff.succeeded(id, addrs)
		d.m.cfg.Logger.Info("discovered neighbor", "peer", id, "via", "mdns")
	}()
}

// dialable keeps the addresses on the answering interface's networks (a
// LAN neighbor is on the LAN: an answer naming another network is a
// stranger pointing this node at a host of its choosing) that are not
// backing off; none when the peer itself is backing off.
func (d *discovery) dialable(id peer.ID, addrs []ma.Multiaddr, nets []*net.IPNet) []ma.Multiaddr {
	if !d.backoff.allowed(peerKey(id)) {
		return nil
	}
	var out []ma.Multiaddr
	for _, a := range addrs {
		if onLink(a, nets) && d.backoff.allowed(addrKey(a)) {
			out = append(out, a)
		}
	}
	return out
}

func peerKey(id peer.ID) string     { return "p/" + string(id) }
func addrKey(a ma.Multiaddr) string { return "a/" + a.String() }

// dialBackoff remembers failed dials (mDNS's, and the address book's), per
// peer and per address, with an exponential delay. It holds at most maxBackoffEntries; expired entries
// are dropped first, and beyond that the oldest.
type dialBackoff struct {
	mu       sync.Mutex
	now      func() time.Time
	min, max time.Duration // the first delay, and the longest
	m        map[string]backoffEntry
}

type backoffEntry struct {
	until time.Time
	delay time.Duration
}

const maxBackoffEntries = 4096

// newDialBackoff returns a backoff whose delay starts at min and doubles
// up to max.
func newDialBackoff(now func() time.Time, min, max time.Duration) *dialBackoff {
	return &dialBackoff{now: now, min: min, max: max, m: map[string]backoffEntry{}}
}

func (b *dialBackoff) allowed(key string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	e, ok := b.m[key]
	return !ok || !b.now().Before(e.until)
}

func (b *dialBackoff) failed(id peer.ID, addrs []ma.Multiaddr) {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	keys := []string{peerKey(id)}
	for _, a := range addrs {
		keys = append(keys, addrKey(a))
	}
	for _, k := range keys {
		e := b.m[k]
		e.delay = min(max(2*e.delay, b.min), b.max)
		e.until = now.Add(e.delay)
		b.m[k] = e
	}
	if len(b.m) > maxBackoffEntries {
		b.prune(now)
	}
}

func (b *dialBackoff) succeeded(id peer.ID, addrs []ma.Multiaddr) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.m, peerKey(id))
	for _, a := range addrs {
		delete(b.m, addrKey(a))
	}
}

// prune drops entries whose delay has passed twice over (a later failure
// starts again at the minimum), then the soonest to expire, down to the cap.
func (b *dialBackoff) prune(now time.Time) {
	for k, e := range b.m {
		if now.After(e.until.Add(e.delay)) {
			delete(b.m, k)
		}
	}
	for len(b.m) > maxBackoffEntries {
		var oldest string
		var at time.Time
		for k, e := range b.m {
			if oldest == "" || e.until.Before(at) {
				oldest, at = k, e.until
			}
		}
		delete(b.m, oldest)
	}
}
