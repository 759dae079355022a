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
)

// maxTXTAddrs bounds the addresses advertised (each TXT string is at most
// 255 bytes; a DNS message should stay well under one packet).
const maxTXTAddrs = 8

// discovery runs an mDNS responder per multicast interface and queries
// periodically, dialling peers of this neighborhood.
type discovery struct {
	m       *Mesh
	quiet   *log.Logger // hashicorp/mdns logs through the log package
	mu      sync.Mutex
	servers map[string]*mdns.Server // by interface name
	dialing sync.WaitGroup
}

func newDiscovery(m *Mesh) (*discovery, error) {
	return &discovery{m: m, quiet: log.New(io.Discard, "", 0), servers: map[string]*mdns.Server{}}, nil
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

func (d *discovery) txt() []string {
	txt := []string{"pl=1", "id=" + d.m.self.String(), "nb=" + d.m.cfg.Store.Neighborhood()}
	n := 0
	for _, a := range d.m.host.Addrs() {
		if manet.IsIPLoopback(a) || n == maxTXTAddrs {
			continue
		}
		txt = append(txt, "a="+a.String())
		n++
	}
	return txt
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

// refreshServers starts a responder on each multicast interface that lacks
// one. A family that cannot join the group on an interface is skipped by
// hashicorp/mdns; an interface where both fail is logged and retried later.
func (d *discovery) refreshServers() {
	d.mu.Lock()
	defer d.mu.Unlock()
	port := d.tcpPort()
	if port == 0 {
		return
	}
	for _, ifi := range multicastInterfaces() {
		if d.servers[ifi.Name] != nil {
			continue
		}
		var ips []net.IP
		addrs, _ := ifi.Addrs()
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok {
				ips = append(ips, ipn.IP)
			}
		}
		if len(ips) == 0 {
			continue
		}
		host := d.m.self.String()
		if len(host) > 20 {
			host = host[len(host)-20:]
		}
		zone, err := mdns.NewMDNSService(d.m.self.String(), ServiceName, "", strings.ToLower(host)+".local.", port, ips, d.txt())
		if err != nil {
			d.m.cfg.Logger.Warn("mdns zone", "iface", ifi.Name, "err", err)
			continue
		}
		ifc := ifi
		srv, err := mdns.NewServer(&mdns.Config{Zone: zone, Iface: &ifc, Logger: d.quiet})
		if err != nil {
			d.m.cfg.Logger.Debug("mdns responder not started", "iface", ifi.Name, "err", err)
			continue
		}
		d.servers[ifi.Name] = srv
		d.m.cfg.Logger.Info("mdns responder started", "iface", ifi.Name)
	}
}

func (d *discovery) run(ctx context.Context) error {
	defer func() {
		d.mu.Lock()
		for _, s := range d.servers {
			_ = s.Shutdown()
		}
		d.mu.Unlock()
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
		d.refreshServers()
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
			entries := make(chan *mdns.ServiceEntry, 32)
			wg.Add(2)
			go func() {
				defer wg.Done()
				for e := range entries {
					d.found(ctx, e)
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

// found handles one answer: same neighborhood, not us, not connected: dial.
func (d *discovery) found(ctx context.Context, e *mdns.ServiceEntry) {
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
		case "nb":
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
	if nb != d.m.cfg.Store.Neighborhood() {
		d.m.cfg.Logger.Debug("mdns: ignoring node of another neighborhood", "peer", id, "neighborhood", nb)
		return
	}
	if e.AddrV4 != nil && e.Port != 0 {
		if a, err := manet.FromNetAddr(&net.TCPAddr{IP: e.AddrV4, Port: e.Port}); err == nil {
			addrs = append(addrs, a)
		}
	}
	if d.m.host.Network().Connectedness(id) == network.Connected || len(addrs) == 0 {
		return
	}
	d.dialing.Add(1)
	go func() {
		defer d.dialing.Done()
		dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if err := d.m.host.Connect(dctx, peer.AddrInfo{ID: id, Addrs: addrs}); err != nil {
			d.m.cfg.Logger.Debug("mdns: dial failed", "peer", id, "err", err)
			return
		}
		d.m.cfg.Logger.Info("discovered neighbor", "peer", id, "via", "mdns")
	}()
}
