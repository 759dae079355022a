package node

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/pelletier/go-toml/v2"

	"github.com/porchlight-mesh/porchlight/clips"
	"github.com/porchlight-mesh/porchlight/geo"
	"github.com/porchlight-mesh/porchlight/integrations/frigate"
	"github.com/porchlight-mesh/porchlight/integrations/mqtt"
	"github.com/porchlight-mesh/porchlight/member"
	"github.com/porchlight-mesh/porchlight/mesh"
	"github.com/porchlight-mesh/porchlight/record"
	"github.com/porchlight-mesh/porchlight/requests"
)

// Files in the data directory.
const (
	KeyFile = "identity.key"
	// NewKeyFile is written by Init next to a brand-new identity.key and
	// removed once the home's own log has a record. A data directory with a
	// key but neither this file nor its own log holds a restored key: the
	// node then writes nothing until a neighbor has returned its log
	// (mesh.Config.KeyMayHaveLog).
	NewKeyFile = "identity.new"
	ConfigFile = "config.toml"
	TokenFile  = "api.token"
	AddrFile   = "api.addr"
	CertFile   = "api.crt" // the API's TLS certificate, while it serves HTTPS
	DBDir      = "db"
	ClipDBDir  = "clips"
)

// DefaultAPIAddr is where the local API listens unless configured.
const DefaultAPIAddr = "127.0.0.1:7780"

// ErrNotInitialized is returned when a data directory has no identity yet.
var ErrNotInitialized = errors.New("data directory is not initialized")

// ErrExists is returned by Init when the data directory already has an identity.
var ErrExists = errors.New("data directory already has an identity")

// Config is config.toml. Empty values mean the default.
type Config struct {
	// Name is shown to neighbors. Default (Init): "Neighbor " and the end
	// of the peer ID, which says nothing about the home; see DefaultName.
	Name string `toml:"name"`
	// Neighborhood ID; only nodes with the same ID talk. Default "default",
	// or, with a charter, the ID the charter makes (member.NeighborhoodID).
	Neighborhood string `toml:"neighborhood"`
	// Charter is the hex ID of the neighborhood's signed charter: the
	// neighborhood is invite-only, and only its members (and agencies
	// certified by a trusted issuer, for requests) are let in. Empty: the
	// open policy (anyone on the LAN who knows the neighborhood's name).
	Charter string `toml:"charter,omitempty"`
	// Location of the home as "lat,lon"; never leaves the node.
	Location string `toml:"location,omitempty"`
	// Listen are libp2p multiaddrs. Default /ip4/0.0.0.0/tcp/7781, /ip6/::/tcp/7781.
	Listen []string `toml:"listen,omitempty"`
	// Peers are static peers' multiaddrs (with /p2p/ID).
	Peers []string `toml:"peers,omitempty"`
	// API is the local API's listen address (loopback only). Default 127.0.0.1:7780.
	API string `toml:"api,omitempty"`
	// LAN serves the UI and API to paired devices of the home network
	// (porchlight pair) over HTTPS with the node's own certificate, at
	// LANAddr. `porchlight pair` turns it on (and sets it here); run --lan
	// turns it on for one run. The loopback API is unchanged.
	LAN bool `toml:"lan,omitempty"`
	// LANAddr is the LAN listener's address. Default ":7782" (every
	// address of this computer).
	LANAddr string `toml:"lan_addr,omitempty"`
	// DisableMDNS turns discovery off (static peers only).
	DisableMDNS bool `toml:"disable_mdns,omitempty"`
	// Anchor makes this node an anchor of its neighborhood from the start
	// (porchlight run --anchor): it serves members relay reservations,
	// AutoNAT and peer records. Set it on a node reachable from the
	// internet (a VPS, a home with a forwarded port); a node becomes one on
	// its own when it learns it is publicly reachable.
	Anchor bool `toml:"anchor,omitempty"`
	// Anchors are multiaddrs, each ending in /p2p/<peer ID>, of anchors of
	// the neighborhood (porchlight anchor add): dialled, kept connected
	// and used for relay reservations, so homes behind other routers reach
	// this one.
	Anchors []string `toml:"anchors,omitempty"`
	// TrustedIssuers are the issuer IDs whose agency credentials this home
	// accepts.
	TrustedIssuers []string `toml:"trusted_issuers,omitempty"`
	// Requests tightens the request rules for this neighborhood.
	Requests RequestLimits `toml:"requests,omitempty"`
	// Retention is how long clips are kept (Go duration, or days as "30d").
	// Default 30d.
	Retention string `toml:"retention,omitempty"`
	// Horizon is how long feed posts are kept and how far back a new
	// home syncs them (days as "365d", or a Go duration of at least 7
	// days; "forever" keeps every post). Agency logs and issuer documents
	// are kept forever whatever it says. Default 365d. See
	// docs/operations.md, "What a node keeps".
	Horizon string `toml:"horizon,omitempty"`
	// WatchDir is a folder a camera drops clips into; complete new files
	// are imported once.
	WatchDir string `toml:"watch_dir,omitempty"`
	// MQTT connects the node to an MQTT broker for Home Assistant
	// (docs/integrations.md); empty: off.
	MQTT MQTTConfig `toml:"mqtt,omitempty"`
	// Serve lists other neighborhoods this node serves for agency
	// requests only ([[serve]] tables): an agency covering several
	// neighborhoods, or a home bridging its neighborhood's agency news to
	// another. See docs/protocol.md, "Agencies across neighborhoods".
	Serve []ServeConfig `toml:"serve,omitempty"`
	// Frigate imports the clips of a Frigate NVR's events, told of them
	// on the [mqtt] broker (docs/integrations.md); empty: off.
	Frigate FrigateConfig `toml:"frigate,omitempty"`
	// MemoryLimit is the soft limit of the Go runtime's memory for
	// `porchlight run` (runtime/debug.SetMemoryLimit): a size such as
	// "64MiB" or "1GiB", or "off". Default DefaultMemoryLimit. The
	// GOMEMLIMIT environment variable, when set, wins. See memory.go.
	MemoryLimit string `toml:"memory_limit,omitempty"`
}

// ServeConfig is one [[serve]] table of config.toml.
type ServeConfig struct {
	// Neighborhood is the served neighborhood's ID.
	Neighborhood string `toml:"neighborhood"`
	// Peers are static peers there (multiaddrs with /p2p/ID).
	Peers []string `toml:"peers,omitempty"`
}

// FrigateConfig is [frigate] in config.toml. It uses the broker of
// [mqtt], which Frigate publishes its events to.
type FrigateConfig struct {
	// URL of Frigate's HTTP API, such as http://frigate.local:5000.
	// Required when any other field is set.
	URL string `toml:"url,omitempty"`
	// MQTT is Frigate's topic prefix (Frigate's mqtt.topic_prefix).
	// Default "frigate".
	MQTT string `toml:"mqtt,omitempty"`
	// Cameras whose clips are imported; empty: all of Frigate's.
	Cameras []string `toml:"cameras,omitempty"`
	// MaxClipMB bounds the size of a clip, in MiB. Default 512.
	MaxClipMB int `toml:"max_clip_mb,omitempty"`
}

// check validates [frigate], which needs [mqtt].
func (f FrigateConfig) check(m MQTTConfig) error {
	if f.URL == "" && f.MQTT == "" && len(f.Cameras) == 0 && f.MaxClipMB == 0 {
		return nil
	}
	if f.URL == "" {
		return errors.New("[frigate] url is required (Frigate's API, such as http://frigate.local:5000); remove [frigate] to turn it off")
	}
	if m.URL == "" {
		return errors.New("[frigate] needs [mqtt]: Frigate announces its events on an MQTT broker; set [mqtt] url to the broker Frigate uses (docs/integrations.md)")
	}
	if _, err := frigate.CheckURL(f.URL); err != nil {
		return err
	}
	if f.MQTT != "" {
		if err := mqtt.CheckPrefix("topic prefix of [frigate] mqtt", f.MQTT); err != nil {
			return err
		}
	}
	if err := frigate.CheckCameras(f.Cameras); err != nil {
		return err
	}
	if f.MaxClipMB < 0 || f.MaxClipMB > 64<<10 {
		return errors.New("[frigate] max_clip_mb must be 1 to 65536 (MiB); leave it out for 512")
	}
	return nil
}

// MQTTConfig is [mqtt] in config.toml.
type MQTTConfig struct {
	// URL of the broker: mqtt://HOST:1883 or mqtts://HOST:8883. Required
	// when any other field is set.
	URL string `toml:"url,omitempty"`
	// Username to log in with; empty: anonymous.
	Username string `toml:"username,omitempty"`
	// PasswordFile holds the password (mode 0600, like the identity key);
	// a relative path is in the data directory.
	PasswordFile string `toml:"password_file,omitempty"`
	// TopicPrefix of the node's topics. Default "porchlight".
	TopicPrefix string `toml:"topic_prefix,omitempty"`
	// DiscoveryPrefix is Home Assistant's. Default "homeassistant".
	DiscoveryPrefix string `toml:"discovery_prefix,omitempty"`
}

// check validates [mqtt]; the password file is read at start.
func (m MQTTConfig) check() error {
	if m == (MQTTConfig{}) {
		return nil
	}
	if m.URL == "" {
		return errors.New("[mqtt] url is required (such as mqtt://homeassistant.local:1883); remove [mqtt] to turn MQTT off")
	}
	if _, err := mqtt.CheckURL(m.URL); err != nil {
		return err
	}
	if m.PasswordFile != "" && m.Username == "" {
		return errors.New("[mqtt] password_file is set but username is not: the broker needs both")
	}
	if m.TopicPrefix != "" {
		if err := mqtt.CheckPrefix("topic_prefix", m.TopicPrefix); err != nil {
			return err
		}
	}
	if m.DiscoveryPrefix != "" {
		if err := mqtt.CheckPrefix("discovery_prefix", m.DiscoveryPrefix); err != nil {
			return err
		}
	}
	return nil
}

// Settings are config.toml parsed: the file as written, which SaveConfig
// writes back unchanged, and the values its text fields stand for. Config.Parse
// (and so LoadConfig) parses every field once; nothing after it parses a
// field again or has an error to drop.
type Settings struct {
	Config
	// Home is Location parsed; nil when the home has no location.
	Home *geo.Point
	// Issuers are TrustedIssuers parsed, in the same order.
	Issuers []peer.ID
	// HorizonPeriod is Horizon parsed (ParseHorizon, node/horizon.go).
	HorizonPeriod time.Duration
	// Limits are [requests] parsed.
	Limits requests.Limits
	// RetentionPeriod is how long clips are kept: Retention parsed, or
	// clips.DefaultRetention when it is empty.
	RetentionPeriod time.Duration
	// MemoryLimitBytes is MemoryLimit parsed; 0 when it is "off".
	MemoryLimitBytes int64
}

// retentionPeriod parses Retention ("" is clips.DefaultRetention).
func (c *Config) retentionPeriod() (time.Duration, error) {
	if c.Retention == "" {
		return clips.DefaultRetention, nil
	}
	if d, ok := strings.CutSuffix(c.Retention, "d"); ok {
		n, err := strconv.Atoi(d)
		if err == nil && n > 0 {
			return time.Duration(n) * 24 * time.Hour, nil
		}
	}
	v, err := time.ParseDuration(c.Retention)
	if err != nil || v < time.Hour {
		return 0, fmt.Errorf("retention %q: want days such as 30d, or a duration of at least 1h", c.Retention)
	}
	return v, nil
}

// RequestLimits is [requests] in config.toml. Empty values are the defaults
// (Ring's 2021 policy); a neighborhood may only tighten them unless
// allow_looser_limits is set, which is logged at every start.
type RequestLimits struct {
	MinAreaSqMi       float64 `toml:"min_area_sq_mi,omitempty"`
	MaxAreaSqMi       float64 `toml:"max_area_sq_mi,omitempty"`
	MinWindow         string  `toml:"min_window,omitempty"` // Go duration, e.g. "30m"
	MaxWindow         string  `toml:"max_window,omitempty"`
	MaxOpen           int     `toml:"max_open,omitempty"`
	AllowLooserLimits bool    `toml:"allow_looser_limits,omitempty"`
}

// limits converts to the requests package's limits.
func (r RequestLimits) limits() (requests.Limits, error) {
	l := requests.Limits{MinArea: r.MinAreaSqMi, MaxArea: r.MaxAreaSqMi, MaxOpen: r.MaxOpen, AllowLooser: r.AllowLooserLimits}
	for _, d := range []struct {
		s   string
		out *time.Duration
	}{{r.MinWindow, &l.MinWindow}, {r.MaxWindow, &l.MaxWindow}} {
		if d.s == "" {
			continue
		}
		v, err := time.ParseDuration(d.s)
		if err != nil {
			return l, fmt.Errorf("[requests] window %q: want a duration such as 30m or 6h", d.s)
		}
		*d.out = v
	}
	return l, nil
}

// issuers parses TrustedIssuers.
func (c *Config) issuers() ([]peer.ID, error) {
	var out []peer.ID
	for _, s := range c.TrustedIssuers {
		id, err := peer.Decode(s)
		if err != nil {
			return nil, fmt.Errorf("trusted issuer %q is not an issuer ID (as printed by `porchlight issuer init`)", s)
		}
		out = append(out, id)
	}
	return out, nil
}

func (c *Config) applyDefaults() {
	if c.Name == "" {
		c.Name = "Neighbor"
	}
	if c.Neighborhood == "" && c.Charter != "" {
		if id, err := record.ParseID(c.Charter); err == nil {
			c.Neighborhood = member.NeighborhoodID(id)
		}
	}
	if c.Neighborhood == "" {
		c.Neighborhood = "default"
	}
	if c.API == "" {
		c.API = DefaultAPIAddr
	}
}

// Check reports the first invalid setting, in words a user can act on.
func (c *Config) Check() error {
	_, err := c.Parse()
	return err
}

// Parse checks every setting and returns them parsed. The error is the
// first invalid setting, in words a user can act on. Defaults are not
// applied: LoadConfig does that before it parses.
func (c *Config) Parse() (Settings, error) {
	s := Settings{Config: *c}
	var err error
	if s.Home, err = ParseLocation(c.Location); err != nil {
		return Settings{}, err
	}
	if err := CheckNeighborhood(c.Neighborhood); err != nil {
		return Settings{}, err
	}
	if c.LANAddr != "" {
		if _, _, err := net.SplitHostPort(c.LANAddr); err != nil {
			return Settings{}, fmt.Errorf("lan_addr %q: want [HOST]:PORT, such as %s", c.LANAddr, DefaultLANAddr)
		}
	}
	if c.Charter != "" {
		if _, err := record.ParseID(c.Charter); err != nil {
			return Settings{}, fmt.Errorf("charter: %v", err)
		}
	}
	if len([]rune(c.Name)) > record.MaxNameLen {
		return Settings{}, fmt.Errorf("name is longer than %d characters", record.MaxNameLen)
	}
	if s.Issuers, err = c.issuers(); err != nil {
		return Settings{}, err
	}
	if s.HorizonPeriod, err = ParseHorizon(c.Horizon); err != nil {
		return Settings{}, err
	}
	if s.Limits, err = c.Requests.limits(); err != nil {
		return Settings{}, err
	}
	if s.RetentionPeriod, err = c.retentionPeriod(); err != nil {
		return Settings{}, err
	}
	if s.MemoryLimitBytes, err = parseMemoryLimit(c.MemoryLimit); err != nil {
		return Settings{}, err
	}
	if err := c.MQTT.check(); err != nil {
		return Settings{}, err
	}
	if err := c.Frigate.check(c.MQTT); err != nil {
		return Settings{}, err
	}
	for _, p := range c.Peers {
		if _, err := peer.AddrInfoFromString(p); err != nil {
			return Settings{}, fmt.Errorf("peer %q: want a multiaddr ending in /p2p/<peer ID>: %v", p, err)
		}
	}
	for _, a := range c.Anchors {
		if _, err := ParseAnchor(a); err != nil {
			return Settings{}, err
		}
	}
	if err := c.checkServe(); err != nil {
		return Settings{}, err
	}
	return s, nil
}

// ParseAnchor checks an anchor's address: a multiaddr of the anchor
// itself (not a /p2p-circuit through another) ending in /p2p/<peer ID>,
// such as /ip4/203.0.113.7/tcp/7781/p2p/12D3KooW... or
// /dns4/anchor.example.org/udp/7781/quic-v1/p2p/12D3KooW...
func ParseAnchor(s string) (*peer.AddrInfo, error) {
	const want = "want a multiaddr ending in /p2p/<peer ID>, such as /ip4/203.0.113.7/tcp/7781/p2p/12D3KooW... (the anchor's `porchlight status` lists its addresses)"
	a, err := ma.NewMultiaddr(strings.TrimSpace(s))
	if err != nil {
		return nil, fmt.Errorf("anchor %q: %s: %v", s, want, err)
	}
	if _, err := a.ValueForProtocol(ma.P_CIRCUIT); err == nil {
		return nil, fmt.Errorf("anchor %q is a relayed (/p2p-circuit) address: an anchor is dialled directly; give the address of the anchor itself", s)
	}
	ai, err := peer.AddrInfoFromP2pAddr(a)
	if err != nil {
		return nil, fmt.Errorf("anchor %q: %s: %v", s, want, err)
	}
	if len(ai.Addrs) == 0 {
		return nil, fmt.Errorf("anchor %q has a peer ID but no address: %s", s, want)
	}
	return ai, nil
}

// CheckNeighborhood checks a neighborhood ID: 1-64 of a-z, 0-9, '-', '_', '.'.
func CheckNeighborhood(n string) error {
	if n == "" || len(n) > record.MaxNeighborhoodLen {
		return fmt.Errorf("neighborhood must be 1 to %d characters", record.MaxNeighborhoodLen)
	}
	for _, r := range n {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return fmt.Errorf("neighborhood %q: use lowercase letters, digits, '-', '_' and '.' only", n)
		}
	}
	return nil
}

// ParseLocation parses "lat,lon" in decimal degrees; "" is no location.
func ParseLocation(s string) (*geo.Point, error) { return geo.Parse(s) }

// Init creates a data directory: identity, config and API token. It refuses
// to touch a directory that already has an identity.
func Init(dir string, cfg Config) error {
	key, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		return err
	}
	return initDir(dir, cfg, key, nil)
}

// initDir is Init with the key given, and more files to write (public
// ones, 0644... all 0600 here: the data directory is the home's).
func initDir(dir string, cfg Config, key crypto.PrivKey, files map[string][]byte) error {
	if cfg.Name == "" {
		id, err := peer.IDFromPrivateKey(key)
		if err != nil {
			return err
		}
		cfg.Name = DefaultName(id)
	}
	cfg.applyDefaults()
	if err := cfg.Check(); err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(dir, KeyFile)); err == nil {
		return fmt.Errorf("%s: %w (remove it first to start over with a new identity)", dir, ErrExists)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create data directory: %w", err)
	}
	kb, err := crypto.MarshalPrivateKey(key)
	if err != nil {
		return err
	}
	if err := writeFileAtomic(filepath.Join(dir, NewKeyFile), nil, 0o600); err != nil {
		return err
	}
	if err := WriteNewFile(filepath.Join(dir, KeyFile), kb); err != nil {
		return err
	}
	tok := make([]byte, 32)
	if _, err := rand.Read(tok); err != nil {
		return err
	}
	if err := writeFileAtomic(filepath.Join(dir, TokenFile), []byte(hex.EncodeToString(tok)+"\n"), 0o600); err != nil {
		return err
	}
	for name, b := range files {
		if err := writeFileAtomic(filepath.Join(dir, name), b, 0o600); err != nil {
			return err
		}
	}
	return SaveConfig(dir, cfg)
}

// DefaultName is the name a home gets when none is chosen: "Neighbor" and
// the last six characters of its peer ID. Not the hostname (often the
// owner's name, or a device's model) nor anything about where the home is:
// every member of the neighborhood sees it.
func DefaultName(id peer.ID) string {
	s := id.String()
	return "Neighbor " + s[max(0, len(s)-6):]
}

// SaveConfig writes config.toml atomically.
func SaveConfig(dir string, cfg Config) error {
	b, err := toml.Marshal(cfg)
	if err != nil {
		return err
	}
	b = append([]byte("# Porchlight node settings. See the README's Configuration section.\n"), b...)
	return writeFileAtomic(filepath.Join(dir, ConfigFile), b, 0o600)
}

// LoadConfig reads config.toml, applies the defaults and parses it: an
// invalid setting is an error here, naming the file, and never later.
func LoadConfig(dir string) (Settings, error) {
	var cfg Config
	path := filepath.Join(dir, ConfigFile)
	b, err := ReadBounded(path, maxConfigSize)
	if errors.Is(err, fs.ErrNotExist) {
		return Settings{}, fmt.Errorf("%s: %w", dir, ErrNotInitialized)
	}
	if err != nil {
		return Settings{}, err
	}
	if err := toml.Unmarshal(b, &cfg); err != nil {
		return Settings{}, fmt.Errorf("%s: %w", path, err)
	}
	cfg.applyDefaults()
	s, err := cfg.Parse()
	if err != nil {
		return Settings{}, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

// LoadKey reads the identity, refusing a key file others can read.
func LoadKey(dir string) (crypto.PrivKey, error) {
	key, err := ReadPrivateKey(filepath.Join(dir, KeyFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", dir, ErrNotInitialized)
	}
	return key, err
}

// ReadPrivateKey reads a libp2p private key file (a node identity or an
// issuer key), refusing one that others can read.
func ReadPrivateKey(path string) (crypto.PrivKey, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%s is readable by others (mode %o); run: chmod 600 %s", path, fi.Mode().Perm(), path)
	}
	b, err := ReadBounded(path, 4<<10)
	if err != nil {
		return nil, err
	}
	key, err := crypto.UnmarshalPrivateKey(b)
	if err != nil {
		return nil, fmt.Errorf("%s: not a private key: %w", path, err)
	}
	return key, nil
}

// ReadSecret reads a small secret file (a password), refusing one that
// others can read, and trims the line's end.
func ReadSecret(path string) (string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return "", fmt.Errorf("%s is readable by others (mode %o); run: chmod 600 %s", path, fi.Mode().Perm(), path)
	}
	b, err := ReadBounded(path, 4<<10)
	if err != nil {
		return "", err
	}
	return strings.TrimRight(string(b), "\r\n"), nil
}

// LoadToken reads the API token.
func LoadToken(dir string) (string, error) {
	b, err := ReadBounded(filepath.Join(dir, TokenFile), 4<<10)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

// maxConfigSize bounds config.toml; a real one is a few hundred bytes.
const maxConfigSize = 1 << 20

// ReadBounded reads a small file, refusing one over limit bytes.
func ReadBounded(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s is over %d bytes; is it really a Porchlight file?", path, limit)
	}
	return b, nil
}

// WriteNewFile writes a file that must not exist yet (mode 0600) and
// fsyncs it: keys and credentials are never silently replaced.
func WriteNewFile(path string, b []byte) error {
	return writeSynced(path, b, os.O_EXCL, 0o600)
}

func writeFileAtomic(path string, b []byte, mode os.FileMode) error {
	tmp := path + ".tmp"
	if err := writeSynced(tmp, b, os.O_TRUNC, mode); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func writeSynced(path string, b []byte, flag int, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|flag, mode)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// checkServe checks the [[serve]] tables.
func (c *Config) checkServe() error {
	if len(c.Serve) > mesh.MaxServe {
		return fmt.Errorf("serve: %d neighborhoods, at most %d", len(c.Serve), mesh.MaxServe)
	}
	seen := map[string]bool{c.Neighborhood: true}
	for _, sv := range c.Serve {
		if err := CheckNeighborhood(sv.Neighborhood); err != nil {
			return fmt.Errorf("serve: %w", err)
		}
		if seen[sv.Neighborhood] {
			return fmt.Errorf("serve: neighborhood %q is listed twice, or is this node's own: list each other neighborhood once", sv.Neighborhood)
		}
		seen[sv.Neighborhood] = true
		for _, p := range sv.Peers {
			if _, err := peer.AddrInfoFromString(p); err != nil {
				return fmt.Errorf("serve %q: peer %q: want a multiaddr ending in /p2p/<peer ID>: %v", sv.Neighborhood, p, err)
			}
		}
	}
	return nil
}
