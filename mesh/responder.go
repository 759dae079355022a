package mesh

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"sync"
	"syscall"

	"github.com/hashicorp/mdns"
	"github.com/miekg/dns"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
	"golang.org/x/time/rate"
)

// The mDNS group addresses and port (RFC 6762).
var (
	mdnsGroup4 = &net.UDPAddr{IP: net.ParseIP("224.0.0.251"), Port: 5353}
	mdnsGroup6 = &net.UDPAddr{IP: net.ParseIP("ff02::fb"), Port: 5353}
)

const (
	// maxMDNSPacket is the largest mDNS message read (RFC 6762 section 17).
	maxMDNSPacket = 9000
	// maxQuestions bounds the questions answered from one query.
	maxQuestions = 16
	// answersPerSecond and answerBurst bound the answers sent on one
	// interface, so a flood of (possibly spoofed) queries cannot make this
	// node a traffic amplifier on its LAN.
	answersPerSecond = 20
	answerBurst      = 40
)

// responder answers mDNS queries for this node, each on the interface it
// arrived on and with that interface's addresses only.
//
// hashicorp/mdns's Server is not used for answering: its socket is bound to
// the group address, so (with Linux's default IP_MULTICAST_ALL) one
// "per-interface" server receives the queries of every interface and
// answers them with its own interface's addresses, and our TXT record listed
// every address of the host. A query from the LAN then learned the node's
// VPN and container addresses. Here one socket per family joins the group on
// each interface, asks the kernel for each packet's arrival interface, and
// answers from that interface's zone only (hashicorp/mdns's MDNSService
// still builds the records).
type responder struct {
	log *slog.Logger
	c4  *ipv4.PacketConn
	c6  *ipv6.PacketConn

	mu     sync.Mutex
	zones  map[int]mdns.Zone // by interface index
	limits map[int]*rate.Limiter
	joined map[int]bool
	wg     sync.WaitGroup
	closed bool
}

// newResponder opens the listening sockets; a family that cannot listen is
// skipped. It fails only when neither can.
func newResponder(log *slog.Logger) (*responder, error) {
	r := &responder{log: log, zones: map[int]mdns.Zone{}, limits: map[int]*rate.Limiter{}, joined: map[int]bool{}}
	var errs []error
	if c, err := listenMDNS("udp4", mdnsGroup4); err == nil {
		r.c4 = ipv4.NewPacketConn(c)
		if err := r.c4.SetControlMessage(ipv4.FlagInterface, true); err != nil {
			errs = append(errs, err)
		}
		// Only the groups this socket joined, on the interfaces it joined
		// them on (the kernel default delivers every group the host joined).
		_ = setMulticastAll(c, false, false)
	} else {
		errs = append(errs, err)
	}
	if c, err := listenMDNS("udp6", mdnsGroup6); err == nil {
		r.c6 = ipv6.NewPacketConn(c)
		_ = setMulticastAll(c, true, false)
		if err := r.c6.SetControlMessage(ipv6.FlagInterface, true); err != nil {
			errs = append(errs, err)
		}
	} else {
		errs = append(errs, err)
	}
	if r.c4 == nil && r.c6 == nil {
		return nil, errors.Join(errs...)
	}
	if r.c4 != nil {
		r.wg.Add(1)
		go func() { defer r.wg.Done(); r.serve4() }()
	}
	if r.c6 != nil {
		r.wg.Add(1)
		go func() { defer r.wg.Done(); r.serve6() }()
	}
	return r, nil
}

// listenMDNS binds the group address and port with SO_REUSEADDR and
// SO_REUSEPORT, so this node shares port 5353 with avahi and other nodes
// on the same host, as every mDNS responder does.
func listenMDNS(network string, group *net.UDPAddr) (*net.UDPConn, error) {
	lc := net.ListenConfig{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) { serr = reusePort(fd) })
		if err != nil {
			return err
		}
		return serr
	}}
	addr := (&net.UDPAddr{IP: group.IP, Port: group.Port}).String()
	pc, err := lc.ListenPacket(context.Background(), network, addr)
	if err != nil {
		return nil, err
	}
	return pc.(*net.UDPConn), nil
}

// setZone makes the responder answer on ifi with zone (nil: stop answering
// there), joining the group on ifi once.
func (r *responder) setZone(ifi net.Interface, zone mdns.Zone) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return
	}
	if zone == nil {
		delete(r.zones, ifi.Index)
		return
	}
	if !r.joined[ifi.Index] {
		ok := false
		if r.c4 != nil && r.c4.JoinGroup(&ifi, &net.UDPAddr{IP: mdnsGroup4.IP}) == nil {
			ok = true
		}
		if r.c6 != nil && r.c6.JoinGroup(&ifi, &net.UDPAddr{IP: mdnsGroup6.IP}) == nil {
			ok = true
		}
		if !ok {
			r.log.Debug("mdns: cannot join the multicast group", "iface", ifi.Name)
			return
		}
		r.joined[ifi.Index] = true
		r.log.Info("mdns responder started", "iface", ifi.Name)
	}
	r.zones[ifi.Index] = zone
	if r.limits[ifi.Index] == nil {
		r.limits[ifi.Index] = rate.NewLimiter(answersPerSecond, answerBurst)
	}
}

// zone returns the zone of an interface and whether an answer may be sent
// there now.
func (r *responder) zone(ifIndex int) (mdns.Zone, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	z := r.zones[ifIndex]
	if z == nil {
		return nil, false
	}
	return z, r.limits[ifIndex].Allow()
}

func (r *responder) serve4() {
	buf := make([]byte, maxMDNSPacket)
	for {
		n, cm, from, err := r.c4.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		if cm == nil {
			continue
		}
		if resp := r.answer(cm.IfIndex, buf[:n]); resp != nil {
			_, _ = r.c4.WriteTo(resp, &ipv4.ControlMessage{IfIndex: cm.IfIndex}, from)
		}
	}
}

func (r *responder) serve6() {
	buf := make([]byte, maxMDNSPacket)
	for {
		n, cm, from, err := r.c6.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		if cm == nil {
			continue
		}
		if resp := r.answer(cm.IfIndex, buf[:n]); resp != nil {
			_, _ = r.c6.WriteTo(resp, &ipv6.ControlMessage{IfIndex: cm.IfIndex}, from)
		}
	}
}

// answer returns the packed response to a query that arrived on ifIndex,
// or nil when there is nothing to send.
func (r *responder) answer(ifIndex int, packet []byte) []byte {
	zone, ok := r.zone(ifIndex)
	if zone == nil {
		return nil
	}
	var q dns.Msg
	if err := q.Unpack(packet); err != nil {
		return nil
	}
	resp := respond(zone, &q)
	if resp == nil || !ok {
		return nil
	}
	b, err := resp.Pack()
	if err != nil {
		return nil
	}
	return b
}

// respond builds the answer to query from zone, following RFC 6762 section
// 18 as hashicorp/mdns's server does: queries with a non-zero opcode or
// rcode, truncated queries and responses are ignored.
func respond(zone mdns.Zone, query *dns.Msg) *dns.Msg {
	if query.Response || query.Opcode != dns.OpcodeQuery || query.Rcode != 0 || query.Truncated {
		return nil
	}
	if len(query.Question) > maxQuestions {
		return nil
	}
	var answers []dns.RR
	unicast := true
	for _, q := range query.Question {
		recs := zone.Records(q)
		if len(recs) == 0 {
			continue
		}
		answers = append(answers, recs...)
		if q.Qclass&(1<<15) == 0 {
			unicast = false
		}
	}
	if len(answers) == 0 {
		return nil
	}
	id := uint16(0) // 18.1: 0 in multicast responses
	if unicast {
		id = query.Id
	}
	return &dns.Msg{
		MsgHdr:   dns.MsgHdr{Id: id, Response: true, Opcode: dns.OpcodeQuery, Authoritative: true},
		Compress: true,
		Answer:   answers,
	}
}

// Close stops answering and waits for the read loops.
func (r *responder) Close() error {
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	if r.c4 != nil {
		r.c4.Close()
	}
	if r.c6 != nil {
		r.c6.Close()
	}
	r.wg.Wait()
	return nil
}
