package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/spf13/cobra"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"

	"github.com/porchlight-mesh/porchlight/api"
	"github.com/porchlight-mesh/porchlight/client"
	"github.com/porchlight-mesh/porchlight/node"
	"github.com/porchlight-mesh/porchlight/record"
)

// Check outcomes, worst last.
const (
	checkOK   = "OK"
	checkWarn = "WARN"
	checkFail = "FAIL"
)

// checkResult is one line of `porchlight doctor`: what was checked, the
// outcome, and what to do about anything but OK.
type checkResult struct {
	Name   string `json:"check"`
	Status string `json:"status"`
	Detail string `json:"detail"`
	Fix    string `json:"fix,omitempty"`
}

type doctor struct {
	dir     string
	ifaces  []string // only these interfaces; all when empty
	results []checkResult
	cfg     *node.Config
	status  *api.Status    // the running node's status, nil when unreachable
	client  *client.Client // the running node's API, nil when unreachable
}

func (d *doctor) add(name, status, detail, fix string) {
	d.results = append(d.results, checkResult{Name: name, Status: status, Detail: detail, Fix: fix})
}

func newDoctorCmd(g *globals) *cobra.Command {
	var ifaces []string
	c := &cobra.Command{
		Use:   "doctor",
		Short: "Check this node's setup and say what to fix",
		Long: `Check the data directory and its permissions, the identity key (0600), the
API token, config.toml, that the running node's API answers with the token,
multicast on each network interface (what mDNS discovery needs), signs of
clock skew against neighbors, and the network: whether this home is
reachable from the internet, behind which kind of NAT, which anchors answer
(the node dials and pings each) and with what round trip, whether it holds a
relay reservation, and what to do (forward TCP and UDP port 7781, add an
anchor, what carrier-grade NAT means), and with [mqtt] configured the
connection to the MQTT broker (the running node's, or one doctor makes
itself), and with [frigate] configured the import of Frigate's clips (the
running node's, or whether Frigate's API answers). Each check prints OK, WARN or FAIL with what to do; the exit
code is 1 if any check FAILed.

The multicast check joins the mDNS groups (224.0.0.251, ff02::fb) on each
up interface and sends one datagram to itself; --iface limits it.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			for _, name := range ifaces {
				if _, err := net.InterfaceByName(name); err != nil {
					return usagef("--iface %s: no such network interface", name)
				}
			}
			d := &doctor{dir: g.dataDir, ifaces: ifaces}
			d.run(c.Context())
			if g.jsonOut {
				if err := printJSON(c, d.results); err != nil {
					return err
				}
			} else {
				w := c.OutOrStdout()
				for _, r := range d.results {
					fmt.Fprintf(w, "%-4s  %-12s %s\n", r.Status, r.Name, r.Detail)
					if r.Fix != "" {
						fmt.Fprintf(w, "      %-12s fix: %s\n", "", r.Fix)
					}
				}
			}
			fails := 0
			for _, r := range d.results {
				if r.Status == checkFail {
					fails++
				}
			}
			if fails > 0 {
				return fmt.Errorf("doctor: %d check(s) failed", fails)
			}
			return nil
		},
	}
	c.Flags().StringSliceVar(&ifaces, "iface", nil, "check multicast only on these interfaces (comma-separated)")
	addJSONFlag(c, g)
	return c
}

func (d *doctor) run(ctx context.Context) {
	if !d.checkDir() {
		return
	}
	d.checkKey()
	d.checkToken()
	d.checkConfig()
	d.checkMulticast()
	metrics := d.checkAPI(ctx)
	d.checkStorage()
	d.checkClock(metrics)
	d.checkNetwork(ctx)
	d.checkMQTT(ctx)
	d.checkFrigate(ctx)
}

// checkNetwork is the network section, like `tailscale netcheck`: whether
// this home is reachable from the internet, behind which kind of NAT,
// which anchors answer (the node dials and pings each), whether it holds
// a relay reservation, and what to do.
func (d *doctor) checkNetwork(ctx context.Context) {
	if d.status == nil {
		d.add("network", checkWarn, "not checked: the node's API could not be reached", "")
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	anchors, err := d.client.Anchors(ctx, true)
	if err != nil {
		anchors = d.status.Anchors // an older node: its status's view
	}
	d.results = append(d.results, judgeNetwork(*d.status, anchors)...)
}

// checkStorage reports the running node's view of its disk: a failed disk
// (removed, full, read-only, failing writes) makes it refuse writes.
func (d *doctor) checkStorage() {
	if d.status == nil {
		return
	}
	st := d.status
	if st.Storage == nil {
		d.add("storage", checkWarn, "the node does not report its disk's state", "upgrade the node")
		return
	}
	if !st.Storage.OK {
		d.add("storage", checkFail, st.Storage.Error+"; the node refuses writes (posts, clips, shares) and still serves reads",
			"fix the disk as the detail says; a directory that was removed or replaced needs a restart of the node")
		return
	}
	d.add("storage", checkOK, fmt.Sprintf("the disk under the databases takes writes (%d MiB free)", st.Storage.FreeBytes>>20), "")
}

// checkDir reports whether the rest of the checks can run.
func (d *doctor) checkDir() bool {
	init := fmt.Sprintf("porchlight --data %s init   (or just: porchlight --data %s run)", d.dir, d.dir)
	fi, err := os.Stat(d.dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		d.add("data dir", checkFail, d.dir+" does not exist", init)
		return false
	case err != nil:
		d.add("data dir", checkFail, err.Error(), "check the path and that this user may read it")
		return false
	case !fi.IsDir():
		d.add("data dir", checkFail, d.dir+" is not a directory", "point --data (or PORCHLIGHT_DATA) at the node's data directory")
		return false
	}
	if _, err := os.Stat(filepath.Join(d.dir, node.KeyFile)); errors.Is(err, fs.ErrNotExist) {
		d.add("data dir", checkFail, d.dir+" has no identity: it is not initialized", init)
		return false
	}
	perm := fi.Mode().Perm()
	if perm&0o022 != 0 {
		d.add("data dir", checkWarn, fmt.Sprintf("%s is writable by others (mode %o)", d.dir, perm), "chmod 700 "+d.dir)
	} else if perm&0o077 != 0 {
		d.add("data dir", checkWarn, fmt.Sprintf("%s is readable by others (mode %o): they can read the neighborhood's records and your clips", d.dir, perm), "chmod 700 "+d.dir)
	} else {
		d.add("data dir", checkOK, fmt.Sprintf("%s (mode %o)", d.dir, perm), "")
	}
	return true
}

func (d *doctor) checkKey() {
	path := filepath.Join(d.dir, node.KeyFile)
	key, err := node.LoadKey(d.dir)
	switch {
	case err != nil && strings.Contains(err.Error(), "readable by others"):
		d.add("identity key", checkFail, err.Error(), "chmod 600 "+path+" (the node refuses to start until then)")
	case err != nil:
		d.add("identity key", checkFail, err.Error(), "restore "+node.KeyFile+" from a backup; without it the home has a new identity")
	default:
		id, _ := peer.IDFromPrivateKey(key)
		d.add("identity key", checkOK, fmt.Sprintf("%s (mode 600), peer ID %s", path, id), "")
	}
}

func (d *doctor) checkToken() {
	path := filepath.Join(d.dir, node.TokenFile)
	fi, err := os.Stat(path)
	switch {
	case err != nil:
		d.add("API token", checkFail, err.Error(), fmt.Sprintf("restore it from a backup, or make a new one: head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \\n' > %s && chmod 600 %s", path, path))
	case fi.Mode().Perm()&0o077 != 0:
		d.add("API token", checkFail, fmt.Sprintf("%s is readable by others (mode %o): anyone who reads it controls the node", path, fi.Mode().Perm()), "chmod 600 "+path)
	default:
		d.add("API token", checkOK, path+" (mode 600)", "")
	}
}

func (d *doctor) checkConfig() {
	cfg, err := node.LoadConfig(d.dir)
	if err != nil {
		d.add("config", checkFail, err.Error(), "edit "+filepath.Join(d.dir, node.ConfigFile)+" (keys and defaults: README, Configuration)")
		return
	}
	d.cfg = &cfg.Config
	detail := fmt.Sprintf("name %q, neighborhood %q, API %s", cfg.Name, cfg.Neighborhood, cfg.API)
	if cfg.Location == "" {
		d.add("config", checkWarn, detail+"; no location", "set location = \"LAT,LON\" in config.toml, or requests can never be matched to this home")
		return
	}
	if len(cfg.TrustedIssuers) == 0 {
		d.add("config", checkWarn, detail+"; no trusted issuer", "porchlight trust add ISSUER_ID, or no agency request is accepted here")
		return
	}
	d.add("config", checkOK, detail, "")
}

// checkAPI asks the running node for its status with the token, and checks
// that the API refuses a request without it. It returns the node's
// /metrics text, or "" when the node cannot be reached.
func (d *doctor) checkAPI(ctx context.Context) string {
	cl, err := client.FromDataDir(d.dir)
	switch {
	case errors.Is(err, client.ErrNoNode):
		d.add("API", checkWarn, "no node is running for this data directory", fmt.Sprintf("porchlight --data %s run (or: systemctl start porchlight)", d.dir))
		return ""
	case err != nil && errors.Is(err, fs.ErrNotExist):
		return "" // no token: reported by the files check
	case err != nil:
		d.add("API", checkFail, err.Error(), "")
		return ""
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	base := cl.URL()
	var refused *client.Error
	st, err := cl.Status(ctx)
	switch {
	case errors.Is(err, client.ErrUnauthorized):
		d.add("API", checkFail, base+" refused this data dir's token: another node (or another data dir) owns that address", "check `api` in config.toml; stop the other node or give this one another port")
		return ""
	case errors.As(err, &refused):
		d.add("API", checkFail, fmt.Sprintf("%s/api/v1/status answered %d", base, refused.Status), "see the node's log")
		return ""
	case err != nil:
		if nn := new(client.NoNodeError); errors.As(err, &nn) {
			err = nn.Err // the dial error
		}
		d.add("API", checkFail, fmt.Sprintf("%s (from %s) does not answer: %v", base, node.AddrFile, err),
			fmt.Sprintf("the node crashed or was killed, leaving a stale %s: start it again with porchlight --data %s run", node.AddrFile, d.dir))
		return ""
	}
	if _, err := cl.WithToken("").Status(ctx); !errors.Is(err, client.ErrUnauthorized) {
		d.add("API", checkFail, fmt.Sprintf("%s answered %v to a request without the token", base, err), "upgrade: the local API must require its token")
		return ""
	}
	d.add("API", checkOK, base+" answers with the token, and refuses requests without it", "")
	d.status, d.client = &st, cl
	metrics, err := cl.Metrics(ctx)
	if err != nil {
		return ""
	}
	return metrics
}

// checkClock compares this clock with the neighbors' (mesh.ClockReport,
// exported as the porchlight_clock_* metrics).
func (d *doctor) checkClock(metrics string) {
	if metrics == "" {
		d.add("clock", checkWarn, "not checked: the node's API could not be reached", "")
		return
	}
	status, detail, fix := judgeClock(
		int(metricValue(metrics, "porchlight_clock_neighbors", `state="observed"`)),
		int(metricValue(metrics, "porchlight_clock_neighbors", `state="ahead"`)),
		int(metricValue(metrics, "porchlight_clock_neighbors", `state="behind"`)),
		time.Duration(metricValue(metrics, "porchlight_clock_offset_seconds", `stat="median"`)*float64(time.Second)))
	d.add("clock", status, detail, fix)
}

// judgeClock says whose clock is off from how many neighbors were compared
// and how many were more than record.MaxClockSkew ahead or behind. One
// neighbor (or one stranger's record) never makes this clock the wrong one:
// that takes most of at least two neighbors.
func judgeClock(observed, ahead, behind int, median time.Duration) (status, detail, fix string) {
	const ntp = "check `timedatectl` on this hub (enable NTP: timedatectl set-ntp true)"
	skew := record.MaxClockSkew
	switch {
	case observed == 0:
		return checkOK, "not compared yet: no neighbor has sent a record of its own in the last hour", ""
	case observed >= 2 && 2*ahead > observed:
		return checkWarn, fmt.Sprintf("%d of %d neighbors' clocks are more than %s ahead of this one (median %s): this clock is behind, and their records are refused as dated in the future", ahead, observed, skew, median.Round(time.Second)), ntp
	case observed >= 2 && 2*behind > observed:
		return checkWarn, fmt.Sprintf("%d of %d neighbors' clocks are more than %s behind this one (median %s): this clock is probably ahead, and neighbors refuse this home's records as dated in the future", behind, observed, skew, (-median).Round(time.Second)), ntp
	case ahead+behind > 0:
		return checkOK, fmt.Sprintf("this clock agrees with most of %d neighbors; %d of them are more than %s off (their clocks are wrong, not this one)", observed, ahead+behind, skew), "ask those neighbors to enable NTP"
	}
	return checkOK, fmt.Sprintf("within %s of %d neighbor(s) (median offset %s)", skew, observed, median.Round(time.Millisecond)), ""
}

// metricValue sums a Prometheus text-format counter's samples whose labels
// contain label.
func metricValue(text, name, label string) float64 {
	sum := 0.0
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name+"{") || !strings.Contains(line, label) {
			continue
		}
		f := strings.Fields(line)
		if v, err := strconv.ParseFloat(f[len(f)-1], 64); err == nil {
			sum += v
		}
	}
	return sum
}

var (
	mdnsGroup4 = net.IPv4(224, 0, 0, 251)
	mdnsGroup6 = net.ParseIP("ff02::fb")
)

// checkMulticast probes each up interface (or those named by --iface) for
// what mDNS needs: joining the mDNS group and sending to it.
func (d *doctor) checkMulticast() {
	if d.cfg != nil && d.cfg.DisableMDNS {
		d.add("multicast", checkOK, "mDNS is off in config.toml (disable_mdns); the node uses its static peers only", "")
		return
	}
	ifs, err := net.Interfaces()
	if err != nil {
		d.add("multicast", checkWarn, err.Error(), "")
		return
	}
	want := map[string]bool{}
	for _, n := range d.ifaces {
		want[n] = true
	}
	working := 0
	for _, ifi := range ifs {
		if len(want) > 0 && !want[ifi.Name] {
			continue
		}
		if len(want) == 0 && (ifi.Flags&net.FlagUp == 0 || ifi.Flags&net.FlagLoopback != 0) {
			continue
		}
		name := "multicast " + ifi.Name
		switch {
		case ifi.Flags&net.FlagUp == 0:
			d.add(name, checkWarn, "interface is down", "")
			continue
		case ifi.Flags&net.FlagMulticast == 0:
			d.add(name, checkWarn, "no MULTICAST flag: mDNS skips this interface", "")
			continue
		}
		var ok, bad []string
		for _, fam := range []struct {
			name  string
			probe func(*net.Interface) error
		}{{"IPv4", probe4}, {"IPv6", probe6}} {
			if err := fam.probe(&ifi); err != nil {
				bad = append(bad, fam.name+": "+err.Error())
			} else {
				ok = append(ok, fam.name)
			}
		}
		if len(ok) > 0 {
			working++
			detail := "joined the mDNS group and looped a datagram back over " + strings.Join(ok, " and ") +
				" (this host can multicast; whether the network carries it to neighbors is not tested)"
			if len(bad) > 0 {
				detail += "; " + strings.Join(bad, "; ")
			}
			d.add(name, checkOK, detail, "")
		} else {
			d.add(name, checkWarn, strings.Join(bad, "; "), "mDNS cannot work here: add a multicast route (ip route add 224.0.0.0/4 dev "+ifi.Name+") or give static peers")
		}
	}
	if working == 0 {
		d.add("multicast", checkWarn, "no interface can do multicast: neighbors will not be discovered by mDNS",
			"give static peers: porchlight run --peer /ip4/ADDR/tcp/7781/p2p/PEER_ID, or peers = [...] in config.toml")
	}
}

// probe4 joins 224.0.0.251 on ifi and sends one datagram to it on a port of
// its own (so no mDNS responder sees it), expecting it back by loopback.
func probe4(ifi *net.Interface) error {
	c, err := net.ListenPacket("udp4", "0.0.0.0:0")
	if err != nil {
		return err
	}
	defer c.Close()
	p := ipv4.NewPacketConn(c)
	group := &net.UDPAddr{IP: mdnsGroup4}
	if err := p.JoinGroup(ifi, group); err != nil {
		return fmt.Errorf("join %s: %v", mdnsGroup4, unwrapOp(err))
	}
	if err := p.SetMulticastInterface(ifi); err != nil {
		return unwrapOp(err)
	}
	_ = p.SetMulticastLoopback(true)
	_ = p.SetMulticastTTL(1)
	dst := &net.UDPAddr{IP: mdnsGroup4, Port: c.LocalAddr().(*net.UDPAddr).Port}
	return roundTrip(c, func(b []byte) error { _, err := p.WriteTo(b, nil, dst); return err })
}

// probe6 is probe4 for ff02::fb.
func probe6(ifi *net.Interface) error {
	c, err := net.ListenPacket("udp6", "[::]:0")
	if err != nil {
		return err
	}
	defer c.Close()
	p := ipv6.NewPacketConn(c)
	group := &net.UDPAddr{IP: mdnsGroup6}
	if err := p.JoinGroup(ifi, group); err != nil {
		return fmt.Errorf("join %s: %v", mdnsGroup6, unwrapOp(err))
	}
	if err := p.SetMulticastInterface(ifi); err != nil {
		return unwrapOp(err)
	}
	_ = p.SetMulticastLoopback(true)
	_ = p.SetMulticastHopLimit(1)
	dst := &net.UDPAddr{IP: mdnsGroup6, Port: c.LocalAddr().(*net.UDPAddr).Port, Zone: ifi.Name}
	return roundTrip(c, func(b []byte) error { _, err := p.WriteTo(b, nil, dst); return err })
}

func roundTrip(c net.PacketConn, send func([]byte) error) error {
	msg := []byte("porchlight doctor multicast probe")
	if err := send(msg); err != nil {
		return fmt.Errorf("send: %v", unwrapOp(err))
	}
	_ = c.SetReadDeadline(time.Now().Add(time.Second))
	buf := make([]byte, 256)
	for {
		n, _, err := c.ReadFrom(buf)
		if err != nil {
			return errors.New("sent, but the datagram did not come back within 1s")
		}
		if string(buf[:n]) == string(msg) {
			return nil
		}
	}
}

// unwrapOp drops the *net.OpError wrapping so the message is the cause
// ("setsockopt: no such device").
func unwrapOp(err error) error {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return op.Err
	}
	return err
}
