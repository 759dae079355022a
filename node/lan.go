package node

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/porchlight-mesh/porchlight/api"
)

// Serving the UI to paired devices of the home network (api.LAN).
const (
	// LANCertFile and LANKeyFile are the LAN listener's certificate and
	// ECDSA P-256 key (PEM, mode 0600), made on first use and kept: the
	// fingerprint paired devices checked stays the same across restarts.
	LANCertFile = "lan.crt"
	LANKeyFile  = "lan.key"
	// DevicesFile lists the paired devices (mode 0600).
	DevicesFile = "devices.json"
	// DefaultLANAddr is where the LAN listener listens unless configured.
	DefaultLANAddr = ":7782"
	// lanCertLife: long, since a new certificate means a new fingerprint
	// to check on every device.
	lanCertLife = 10 * 365 * 24 * time.Hour
)

// LoadLANCert reads the LAN certificate and key in dir, making them first
// if either is missing. The certificate names hosts (see LANHosts) as of
// its making; browsers warn about a self-signed certificate in any case,
// and the user checks its fingerprint instead.
func LoadLANCert(dir string, hosts []string) (tls.Certificate, error) {
	certPath, keyPath := filepath.Join(dir, LANCertFile), filepath.Join(dir, LANKeyFile)
	_, cerr := os.Stat(certPath)
	_, kerr := os.Stat(keyPath)
	if errors.Is(cerr, fs.ErrNotExist) || errors.Is(kerr, fs.ErrNotExist) {
		if err := makeLANCert(certPath, keyPath, hosts); err != nil {
			return tls.Certificate{}, err
		}
	}
	fi, err := os.Stat(keyPath)
	if err != nil {
		return tls.Certificate{}, err
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return tls.Certificate{}, fmt.Errorf("%s is readable by others (mode %o); run: chmod 600 %s", keyPath, fi.Mode().Perm(), keyPath)
	}
	certPEM, err := ReadBounded(certPath, 16<<10)
	if err != nil {
		return tls.Certificate{}, err
	}
	keyPEM, err := ReadBounded(keyPath, 4<<10)
	if err != nil {
		return tls.Certificate{}, err
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("read the LAN certificate %s and key %s: %w (delete both to make new ones; paired devices then see a new fingerprint)", certPath, keyPath, err)
	}
	return pair, nil
}

func makeLANCert(certPath, keyPath string, hosts []string) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "Porchlight node", Organization: []string{"Porchlight (self-signed)"}},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(lanCertLife),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return fmt.Errorf("make the LAN certificate: %w", err)
	}
	kb, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	if err := writeFileAtomic(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		return fmt.Errorf("write the LAN key: %w", err)
	}
	if err := writeFileAtomic(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		return fmt.Errorf("write the LAN certificate: %w", err)
	}
	return nil
}

// LANHosts are the names and addresses a device reaches this computer by
// for the LAN listener at addr: its unicast addresses (IPv4 first; every
// interface's when addr names none), then its host name and host
// name.local (mDNS). Link-local IPv6 addresses are left out: browsers
// cannot open them.
func LANHosts(addr string) ([]string, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("lan_addr %q: want [HOST]:PORT, such as %s", addr, DefaultLANAddr)
	}
	var ips []net.IP
	if ip := net.ParseIP(host); ip != nil && !ip.IsUnspecified() {
		ips = append(ips, ip)
	} else if host != "" && ip == nil {
		return nil, fmt.Errorf("lan_addr %q: name an address of this computer, or none (%s) for all", addr, DefaultLANAddr)
	} else {
		addrs, err := net.InterfaceAddrs()
		if err != nil {
			return nil, fmt.Errorf("list this computer's addresses: %w", err)
		}
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok {
				ip := n.IP
				if ip.IsLoopback() || ip.IsLinkLocalUnicast() || ip.IsMulticast() || ip.IsUnspecified() {
					continue
				}
				if host == "0.0.0.0" && ip.To4() == nil {
					continue
				}
				ips = append(ips, ip)
			}
		}
	}
	sort.SliceStable(ips, func(i, j int) bool { return ips[i].To4() != nil && ips[j].To4() == nil })
	var out []string
	for _, ip := range ips {
		out = append(out, ip.String())
	}
	if h, err := os.Hostname(); err == nil && h != "" && h != "localhost" {
		h = strings.ToLower(h)
		out = append(out, h)
		if !strings.Contains(h, ".") {
			out = append(out, h+".local")
		}
	}
	if len(out) == 0 {
		return nil, errors.New("this computer has no LAN address to serve devices on; connect it to the home network")
	}
	return out, nil
}

// lanConfig is the LAN listener's api.LAN, making the certificate on first
// use.
func (n *Node) lanConfig() (api.LAN, error) {
	addr := n.Config.LANAddr
	if addr == "" {
		addr = DefaultLANAddr
	}
	hosts, err := LANHosts(addr)
	if err != nil {
		return api.LAN{}, err
	}
	cert, err := LoadLANCert(n.dir, hosts)
	if err != nil {
		return api.LAN{}, err
	}
	return api.LAN{Addr: addr, Certificate: cert, Hosts: hosts}, nil
}

// enableLAN turns serving the LAN on when a pairing link is asked for, and
// remembers it in config.toml (lan = true).
func (n *Node) enableLAN() (api.LAN, error) {
	// Under the lock: two pairing links asked for at once must not make
	// two certificates over each other.
	n.cfgMu.Lock()
	defer n.cfgMu.Unlock()
	lan, err := n.lanConfig()
	if err != nil {
		return api.LAN{}, err
	}
	if !n.Config.LAN {
		cfg := n.Config.Config
		cfg.LAN = true
		if err := SaveConfig(n.dir, cfg); err != nil {
			return api.LAN{}, err
		}
		n.Config.LAN = true
		n.log.Info("serving the UI to paired devices on the LAN from now on (lan = true in config.toml)", "addr", lan.Addr)
	}
	return lan, nil
}

// LANAddr is the LAN listener's address, or nil when the node does not
// serve the LAN.
func (n *Node) LANAddr() net.Addr {
	if n.api == nil {
		return nil
	}
	return n.api.LANAddr()
}

// serveLAN starts the LAN listener at start (lan = true or run --lan). A
// failure (the port taken, no address) is logged and leaves the node
// running on loopback: `porchlight pair` tries again and says why.
func (n *Node) serveLAN() {
	n.cfgMu.Lock()
	lan, err := n.lanConfig()
	n.cfgMu.Unlock()
	if err == nil {
		err = n.api.ServeLAN(lan)
	}
	if err != nil {
		n.log.Error("not serving paired devices on the LAN; the UI stays on loopback (porchlight pair tries again)", "err", err)
	}
}
