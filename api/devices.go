package api

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"io/fs"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
)

// Paired devices: a browser on a laptop or phone of the home network.
//
// The hub's owner asks for a pairing link (`porchlight pair`, or the
// Devices screen of the UI on the hub). The link names the LAN listener
// (HTTPS with the node's own self-signed certificate), carries a one-time
// code and the certificate's SHA-256 fingerprint, works once and for
// pairLinkTTL. The browser opening it sees a page with a "Pair" button;
// pressing it trades the code for a device session: an HttpOnly, Secure,
// SameSite=Strict cookie whose value only the browser holds (the node keeps
// its SHA-256). Each device is listed with its name, first and last seen,
// and revoking it ends its session at its next request (and its event
// stream at once).
//
// On the LAN listener only device sessions count: the API token, login
// links and login sessions work on the loopback API only, and pairing and
// revoking are refused there (a stolen device cookie cannot pair another
// device or revoke the owner's).
const (
	pairLinkTTL = 10 * time.Minute
	// deviceIdle ends a device session unused this long: a lost phone
	// does not stay paired for ever.
	deviceIdle = 90 * 24 * time.Hour
	// maxPendingPairs bounds the unused pairing links kept.
	maxPendingPairs = 64
	// maxDevices bounds the paired devices.
	maxDevices = 256
	// maxDeviceName bounds a device's name (bytes).
	maxDeviceName = 64
)

// LAN is how the API serves browsers on the home network.
type LAN struct {
	// Addr to listen on, such as ":7782". Required.
	Addr string
	// Certificate the LAN listener serves: the node's own, self-signed.
	// Required.
	Certificate tls.Certificate
	// Hosts are the names and addresses of this computer on the LAN: the
	// Host header of a LAN request must be one of them (DNS rebinding),
	// and the pairing link names the first. Required.
	Hosts []string
}

// LANStatus describes the LAN listener in GET /api/v1/devices.
type LANStatus struct {
	On bool `json:"on"`
	// URLs are the LAN listener's addresses, as a device would open them.
	URLs []string `json:"urls,omitempty"`
	// Fingerprint is the SHA-256 of the certificate (hex pairs with
	// colons), as browsers' certificate viewers show it.
	Fingerprint string `json:"fingerprint,omitempty"`
}

// Device is a paired device, in GET /api/v1/devices.
type Device struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
	// Current: the request listing the devices came from this device.
	Current bool `json:"current,omitempty"`
}

// Devices is GET /api/v1/devices.
type Devices struct {
	LAN     LANStatus `json:"lan"`
	Devices []Device  `json:"devices"`
}

// PairLink is POST /api/v1/pair-links' answer. URL is a secret until used.
type PairLink struct {
	URL string `json:"url"`
	// Alternatives are the same link at the node's other LAN names and
	// addresses.
	Alternatives []string  `json:"alternatives,omitempty"`
	Fingerprint  string    `json:"fingerprint"`
	Name         string    `json:"name"`
	Expires      time.Time `json:"expires"`
	// QRSVG is URL as a QR code (an SVG document), for a phone's camera.
	QRSVG string `json:"qr_svg"`
}

// PairLinkRequest is POST /api/v1/pair-links' body.
type PairLinkRequest struct {
	// Name of the device, shown in the list; default "Device N".
	Name string `json:"name,omitempty"`
}

// Fingerprint is the SHA-256 of a DER certificate as browsers show it:
// upper-case hex pairs separated by colons.
func Fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	h := strings.ToUpper(hex.EncodeToString(sum[:]))
	var b strings.Builder
	for i := 0; i < len(h); i += 2 {
		if i > 0 {
			b.WriteByte(':')
		}
		b.WriteString(h[i : i+2])
	}
	return b.String()
}

type pairLink struct {
	name    string
	expires time.Time
}

type device struct {
	Device
	Hash    string        `json:"hash"` // hex SHA-256 of the session cookie's value
	revoked chan struct{} // closed by revoke: ends the device's event streams
}

// deviceSet holds the pending pairing links and the paired devices; file
// ("" for none) keeps the devices across restarts.
type deviceSet struct {
	mu      sync.Mutex
	file    string
	links   map[string]pairLink // one-time codes -> link
	devices map[string]*device  // by Hash
	named   int                 // devices ever named by default, for "Device N"
}

func hashHex(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// load reads the devices file, if any.
func (d *deviceSet) load() error {
	d.devices = map[string]*device{}
	d.links = map[string]pairLink{}
	if d.file == "" {
		return nil
	}
	b, err := os.ReadFile(d.file)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read the paired devices %s: %w", d.file, err)
	}
	var list []*device
	if err := json.Unmarshal(b, &list); err != nil {
		return fmt.Errorf("read the paired devices %s: %w (delete it to unpair every device)", d.file, err)
	}
	for _, v := range list {
		if len(v.Hash) != 64 || v.ID == "" {
			continue
		}
		v.revoked = make(chan struct{})
		d.devices[v.Hash] = v
	}
	return nil
}

// saveLocked writes the devices file (mode 0600: it names the devices and
// holds the hashes of their sessions), atomically.
func (d *deviceSet) saveLocked() error {
	if d.file == "" {
		return nil
	}
	list := make([]*device, 0, len(d.devices))
	for _, v := range d.devices {
		list = append(list, v)
	}
	sort.Slice(list, func(i, j int) bool { return list[i].FirstSeen.Before(list[j].FirstSeen) })
	b, err := json.MarshalIndent(list, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(d.file), ".devices-*")
	if err != nil {
		return fmt.Errorf("save the paired devices: %w", err)
	}
	defer os.Remove(tmp.Name())
	err = tmp.Chmod(0o600)
	if err == nil {
		_, err = tmp.Write(b)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), d.file)
	}
	if err != nil {
		return fmt.Errorf("save the paired devices: %w", err)
	}
	return nil
}

func (d *deviceSet) newLink(name string, now time.Time) (string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for c, l := range d.links {
		if !now.Before(l.expires) {
			delete(d.links, c)
		}
	}
	if len(d.links) >= maxPendingPairs {
		return "", &Error{Status: http.StatusTooManyRequests, Code: "too_many_links", Msg: fmt.Sprintf("%d pairing links are unused; wait until they expire (10 minutes) or use one", len(d.links))}
	}
	if len(d.devices) >= maxDevices {
		return "", &Error{Status: http.StatusConflict, Code: "too_many_devices", Msg: fmt.Sprintf("%d devices are paired; revoke one first (porchlight devices)", len(d.devices))}
	}
	if name == "" {
		d.named++
		name = fmt.Sprintf("Device %d", len(d.devices)+d.named)
	}
	code := randomHex()
	d.links[code] = pairLink{name: name, expires: now.Add(pairLinkTTL)}
	return code, nil
}

// linkName is the name of the pending link code, ok false when the code is
// unknown, used or expired. It uses nothing up.
func (d *deviceSet) linkName(code string, now time.Time) (string, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	l, ok := d.links[code]
	if !ok || !now.Before(l.expires) {
		return "", false
	}
	return l.name, true
}

// redeem uses up code and returns a new device session's secret, or ""
// if the code is unknown, used or expired.
func (d *deviceSet) redeem(code string, now time.Time) (string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	l, ok := d.links[code]
	delete(d.links, code)
	if !ok || !now.Before(l.expires) {
		return "", nil
	}
	secret := randomHex()
	dev := &device{Device: Device{ID: randomHex()[:16], Name: l.name, FirstSeen: now.UTC(), LastSeen: now.UTC()},
		Hash: hashHex(secret), revoked: make(chan struct{})}
	d.devices[dev.Hash] = dev
	if err := d.saveLocked(); err != nil {
		delete(d.devices, dev.Hash)
		return "", err
	}
	return secret, nil
}

// session is the device whose session secret is secret, and marks it
// seen; nil when there is none (never paired, revoked, or idle too long).
func (d *deviceSet) session(secret string, now time.Time) *device {
	d.mu.Lock()
	defer d.mu.Unlock()
	// The map is keyed by the hash: what a guesser's timing could learn
	// is about hashes, not secrets.
	dev := d.devices[hashHex(secret)]
	if dev == nil {
		return nil
	}
	if now.Sub(dev.LastSeen) > deviceIdle {
		d.revokeLocked(dev)
		_ = d.saveLocked()
		return nil
	}
	dev.LastSeen = now.UTC()
	return dev
}

func (d *deviceSet) revokeLocked(dev *device) {
	delete(d.devices, dev.Hash)
	close(dev.revoked)
}

// revoke ends the device with this ID's session; false if there is none.
func (d *deviceSet) revoke(id string) (bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, dev := range d.devices {
		if dev.ID == id {
			d.revokeLocked(dev)
			return true, d.saveLocked()
		}
	}
	return false, nil
}

func (d *deviceSet) list(current *device) []Device {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]Device, 0, len(d.devices))
	for _, dev := range d.devices {
		v := dev.Device
		v.Current = dev == current
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].FirstSeen.Equal(out[j].FirstSeen) {
			return out[i].FirstSeen.Before(out[j].FirstSeen)
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// lanServer is the LAN listener.
type lanServer struct {
	ln    net.Listener
	srv   *http.Server
	done  chan struct{}
	hosts map[string]bool
	first []string // Hosts in order, for links
	port  string
	fp    string
}

type lanKey struct{}

type deviceKey struct{}

// onLAN reports whether r came in on the LAN listener.
func onLAN(r *http.Request) bool { return r.Context().Value(lanKey{}) != nil }

// requestDevice is the paired device r came from (set by the guard), or nil.
func requestDevice(r *http.Request) *device {
	d, _ := r.Context().Value(deviceKey{}).(*device)
	return d
}

// ServeLAN starts serving the UI and API on the LAN with lan's certificate.
// It is safe to call again: a second call does nothing.
func (s *Server) ServeLAN(lan LAN) error {
	s.lanMu.Lock()
	defer s.lanMu.Unlock()
	if s.lan != nil {
		return nil
	}
	if lan.Addr == "" || len(lan.Certificate.Certificate) == 0 || len(lan.Hosts) == 0 {
		return errors.New("api: LAN needs Addr, Certificate and Hosts")
	}
	l := &lanServer{done: make(chan struct{}), hosts: map[string]bool{}, fp: Fingerprint(lan.Certificate.Certificate[0])}
	for _, h := range lan.Hosts {
		h = normHost(h)
		if h == "" || l.hosts[h] {
			continue
		}
		l.hosts[h] = true
		l.first = append(l.first, h)
	}
	ln, err := net.Listen("tcp", lan.Addr)
	if err != nil {
		return fmt.Errorf("api: listen on the LAN at %s (is the port taken? set lan_addr in config.toml): %w", lan.Addr, err)
	}
	_, l.port, _ = net.SplitHostPort(ln.Addr().String())
	l.ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{lan.Certificate}, MinVersion: tls.VersionTLS12})
	l.srv = &http.Server{
		Handler:           s.mux,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(s.cfg.Logger.Handler(), slog.LevelDebug),
		ConnContext:       func(ctx context.Context, _ net.Conn) context.Context { return context.WithValue(ctx, lanKey{}, true) },
	}
	go func() {
		defer close(l.done)
		if err := l.srv.Serve(l.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.cfg.Logger.Error("api LAN server stopped", "err", err)
		}
	}()
	s.lan = l
	s.cfg.Logger.Info("serving the UI on the LAN", "addr", ln.Addr().String(), "fingerprint", l.fp)
	return nil
}

// LANAddr is the LAN listener's address, nil when not serving the LAN.
func (s *Server) LANAddr() net.Addr {
	if l := s.lanState(); l != nil {
		return l.ln.Addr()
	}
	return nil
}

func (s *Server) lanState() *lanServer {
	s.lanMu.Lock()
	defer s.lanMu.Unlock()
	return s.lan
}

func (s *Server) closeLAN() error {
	l := s.lanState()
	if l == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := l.srv.Shutdown(ctx)
	<-l.done
	return err
}

// normHost lower-cases a host name and writes an address canonically.
func normHost(h string) string {
	h = strings.ToLower(strings.TrimSuffix(strings.TrimPrefix(h, "["), "]"))
	if ip := net.ParseIP(h); ip != nil {
		return ip.String()
	}
	return strings.TrimSuffix(h, ".")
}

// lanHostAllowed: the Host of a LAN request must be one of the LAN names
// and addresses, exactly (a rebinding page's requests carry its own name).
func (s *Server) lanHostAllowed(host string) bool {
	l := s.lanState()
	return l != nil && l.hosts[normHost(host)]
}

// lanSameOrigin: a mutation on the LAN must come from this very origin
// (scheme, host and port): another service of the same computer (a home
// automation UI on another port) is another origin.
func lanSameOrigin(origin string, r *http.Request) bool {
	u, err := url.Parse(origin)
	return err == nil && u.Scheme == "https" && strings.EqualFold(u.Host, r.Host) && u.Path == "" && u.User == nil
}

func linkURL(host, port string) string {
	if ip := net.ParseIP(host); ip != nil && ip.To4() == nil {
		host = "[" + host + "]"
	}
	return "https://" + host + ":" + port
}

var errHubOnly = &Error{Status: http.StatusForbidden, Code: "hub_only", Msg: "pair and revoke devices on the hub itself (`porchlight pair`, `porchlight devices revoke`, or the UI opened with `porchlight ui`), not from a paired device"}

// errHubOnlySettings refuses, from a paired device, the settings that
// decide whom the node believes and where it connects: trusted issuers
// (a stolen device cookie must not make fake agencies official), anchors
// and joining a neighborhood.
var errHubOnlySettings = &Error{Status: http.StatusForbidden, Code: "hub_only", Msg: "trusted issuers, anchors and joining a neighborhood are changed on the hub itself (the CLI, or the UI opened with `porchlight ui`), not from a paired device"}

func (s *Server) routesDevices() {
	s.handle("POST /api/v1/pair-links", s.createPairLink)
	s.handle("GET /api/v1/devices", s.getDevices)
	s.handle("DELETE /api/v1/devices/{id}", s.revokeDevice)
	s.handlePublic("GET /pair", s.pairPage)
	s.handlePublic("POST /pair", s.pair)
}

func (s *Server) createPairLink(w http.ResponseWriter, r *http.Request) error {
	if onLAN(r) {
		return errHubOnly
	}
	var in PairLinkRequest
	if r.ContentLength != 0 {
		if err := decodeJSON(r, &in); err != nil {
			return err
		}
	}
	in.Name = strings.TrimSpace(in.Name)
	if len(in.Name) > maxDeviceName || strings.ContainsFunc(in.Name, func(c rune) bool { return c < ' ' || c == 0x7f }) {
		return badRequest("a device name is at most %d bytes of printable text", maxDeviceName)
	}
	l := s.lanState()
	if l == nil && s.cfg.EnableLAN != nil {
		lan, err := s.cfg.EnableLAN()
		if err != nil {
			return fmt.Errorf("turn on serving the LAN: %w", err)
		}
		if err := s.ServeLAN(lan); err != nil {
			return err
		}
		l = s.lanState()
	}
	if l == nil {
		return &Error{Status: http.StatusConflict, Code: "lan_off", Msg: "this node does not serve the LAN: set lan = true in config.toml or run with --lan, then try again"}
	}
	now := s.now()
	code, err := s.devices.newLink(in.Name, now)
	if err != nil {
		return err
	}
	name, _ := s.devices.linkName(code, now)
	fp := strings.ReplaceAll(l.fp, ":", "")
	var urls []string
	for _, h := range l.first {
		urls = append(urls, linkURL(h, l.port)+"/pair?code="+code+"&fp="+fp)
	}
	svg, err := QRSVG(urls[0])
	if err != nil {
		return err
	}
	svg = strings.Replace(svg, `aria-label="QR code of the invite"`, `aria-label="QR code of the pairing link"`, 1)
	writeJSON(w, http.StatusCreated, PairLink{URL: urls[0], Alternatives: urls[1:], Fingerprint: l.fp, Name: name,
		Expires: now.Add(pairLinkTTL).UTC(), QRSVG: svg})
	return nil
}

func (s *Server) getDevices(w http.ResponseWriter, r *http.Request) error {
	out := Devices{Devices: s.devices.list(requestDevice(r))}
	if l := s.lanState(); l != nil {
		out.LAN = LANStatus{On: true, Fingerprint: l.fp}
		for _, h := range l.first {
			out.LAN.URLs = append(out.LAN.URLs, linkURL(h, l.port)+"/")
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) revokeDevice(w http.ResponseWriter, r *http.Request) error {
	if onLAN(r) {
		return errHubOnly
	}
	ok, err := s.devices.revoke(r.PathValue("id"))
	if err != nil {
		return err
	}
	if !ok {
		return &Error{Status: http.StatusNotFound, Code: "not_found", Msg: "no paired device with this ID; list them with `porchlight devices`"}
	}
	writeJSON(w, http.StatusOK, map[string]any{"revoked": r.PathValue("id")})
	return nil
}

var errNotLAN = &Error{Status: http.StatusNotFound, Code: "not_found", Msg: "pairing links are opened on the node's LAN address (https://...), as `porchlight pair` prints them"}

var errPairUsed = &Error{Status: http.StatusForbidden, Code: "link_used", Msg: "this pairing link was already used or has expired (links work once, for 10 minutes); ask for a new one on the hub: porchlight pair"}

func pageHeaders(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	w.Header().Set("X-Frame-Options", "DENY")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	// Not no-referrer: with it Chromium sends "Origin: null" with the
	// form's POST, which pair must refuse. same-origin sends the page's
	// address (with its code) only to this node.
	w.Header().Set("Referrer-Policy", "same-origin")
}

// pairPage shows a pairing link's page: a button that POSTs the code. A
// GET uses nothing up, so a link preview or a prefetch does not spend it.
func (s *Server) pairPage(w http.ResponseWriter, r *http.Request) error {
	if !onLAN(r) {
		return errNotLAN
	}
	code := r.URL.Query().Get("code")
	name, ok := s.devices.linkName(code, s.now())
	if !ok {
		return errPairUsed
	}
	pageHeaders(w)
	w.WriteHeader(http.StatusOK)
	_, err := fmt.Fprintf(w, `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>Porchlight: pair this browser</title></head>
<body><h1>Pair this browser with your Porchlight node</h1>
<p>This browser will be listed on the hub as <strong>%s</strong>; the hub can revoke it at any time.</p>
<p>Before you pair, check that this is your node: open the browser's certificate viewer (the icon left of the address) and compare its SHA-256 fingerprint with the one <code>porchlight pair</code> printed (the <code>fp=</code> part of the link). If they differ, do not pair.</p>
<form method="post" action="/pair"><input type="hidden" name="code" value="%s"><button id="pair" type="submit">Pair this browser</button></form>
</body></html>
`, html.EscapeString(name), html.EscapeString(code))
	return err
}

// pair redeems a pairing code POSTed by pairPage's form.
func (s *Server) pair(w http.ResponseWriter, r *http.Request) error {
	if !onLAN(r) {
		return errNotLAN
	}
	// A form from another site (login CSRF: pairing the victim's browser
	// to a node of the attacker's) carries that site's Origin.
	if !lanSameOrigin(r.Header.Get("Origin"), r) {
		return &Error{Status: http.StatusForbidden, Code: "foreign_origin", Msg: "pair from the page the pairing link opens"}
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/x-www-form-urlencoded" {
		return &Error{Status: http.StatusUnsupportedMediaType, Code: "unsupported_media_type", Msg: "send the code as a form (application/x-www-form-urlencoded)"}
	}
	r.Body = http.MaxBytesReader(w, r.Body, 1<<10)
	if err := r.ParseForm(); err != nil {
		return badRequest("read the pairing form: %v", err)
	}
	secret, err := s.devices.redeem(r.PostForm.Get("code"), s.now())
	if err != nil {
		return err
	}
	if secret == "" {
		return errPairUsed
	}
	http.SetCookie(w, &http.Cookie{
		Name: s.deviceCookieName(), Value: secret, Path: "/", MaxAge: int(400 * 24 * time.Hour / time.Second),
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: true,
	})
	pageHeaders(w)
	w.WriteHeader(http.StatusOK)
	_, err = io.WriteString(w, `<!doctype html><meta charset="utf-8"><meta http-equiv="refresh" content="0;url=/">`+
		`<title>Porchlight</title><p>Paired. <a href="/">Open Porchlight</a></p>
`)
	return err
}

// deviceCookieName is the device session cookie's name. It ends with the
// LAN port, as the login cookie's does with the API's. The __Host- prefix
// makes browsers take it only from a secure origin, for this host, path
// /: another (plain HTTP) service of the hub cannot plant its own value.
func (s *Server) deviceCookieName() string {
	port := ""
	if l := s.lanState(); l != nil {
		port = l.port
	}
	return "__Host-" + sessionCookie + "lan_" + port
}

// lanAuthorized is the device a LAN request's cookie names, or nil: on the
// LAN only device sessions count.
func (s *Server) lanAuthorized(r *http.Request) *device {
	c, err := r.Cookie(s.deviceCookieName())
	if err != nil || c.Value == "" {
		return nil
	}
	return s.devices.session(c.Value, s.now())
}
