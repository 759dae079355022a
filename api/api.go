package api

import (
	"context"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/porchlight-mesh/porchlight/clips"
	"github.com/porchlight-mesh/porchlight/feed"
	"github.com/porchlight-mesh/porchlight/geo"
	"github.com/porchlight-mesh/porchlight/mesh"
	"github.com/porchlight-mesh/porchlight/record"
	"github.com/porchlight-mesh/porchlight/requests"
	"github.com/porchlight-mesh/porchlight/sharing"
	"github.com/porchlight-mesh/porchlight/store"
)

// maxBody bounds a request body.
const maxBody = 64 << 10

// Status is GET /api/v1/status.
type Status struct {
	PeerID       string         `json:"peer_id"`
	Name         string         `json:"name"`
	Neighborhood string         `json:"neighborhood"`
	API          string         `json:"api"`
	Peers        int            `json:"peers"`
	Addrs        []string       `json:"addrs"`
	Location     *geo.Point     `json:"location,omitempty"`
	Storage      *StorageStatus `json:"storage,omitempty"`

	// NeighborhoodName is the name people know the neighborhood by (the
	// charter's, or Neighborhood itself when open).
	NeighborhoodName string `json:"neighborhood_name"`
	// Policy is "invite" (a charter: members let each other in) or
	// "open" (anyone on the LAN who knows the name).
	Policy string `json:"policy"`
	// Steward: this home may remove members and name stewards.
	Steward bool `json:"steward"`
	// Member: this home is a current member (false when open).
	Member bool `json:"member"`
	// Charter is the hex ID of the neighborhood's charter ("" when open):
	// what an agency's node names to be let in for requests.
	Charter string `json:"charter,omitempty"`
	// Membership is "member", "pending: <reason>" (not admitted yet, or
	// removed) or "open".
	Membership string `json:"membership"`

	// Reachability is "public", "private" or "unknown": whether other
	// homes can dial this one from the internet (AutoNAT).
	Reachability string `json:"reachability"`
	// NAT is "endpoint-independent" (hole punching works),
	// "endpoint-dependent" (symmetric: relayed paths only) or "unknown".
	NAT string `json:"nat"`
	// Anchor: this node serves its neighborhood as an anchor.
	Anchor bool `json:"anchor"`
	// Addresses are how this node is reached.
	Addresses AddressesStatus `json:"addresses"`
	// Anchors are the anchors this node knows and how they answer.
	Anchors []AnchorStatus `json:"anchors"`
	// MQTT is the connection to the MQTT broker (Home Assistant).
	MQTT *MQTTStatus `json:"mqtt,omitempty"`
	// Frigate is the import of Frigate's clips.
	Frigate *FrigateStatus `json:"frigate,omitempty"`
	// Agency: a trusted issuer's credential names this node an agency
	// (valid, expired or revoked): the UI shows the agency menus (New
	// request, Evidence) only then. Set by the API from Config.Requests.
	Agency bool `json:"agency"`
}

// FrigateStatus is the node's import of Frigate's clips.
type FrigateStatus struct {
	Configured bool   `json:"configured"`
	URL        string `json:"url,omitempty"` // Frigate's API
	Connected  bool   `json:"connected"`     // following Frigate's events on the broker
	Reachable  bool   `json:"reachable"`     // Frigate's API answered the last request
	Pending    int    `json:"pending"`       // events whose clips are still to import
	Imported   int    `json:"imported"`      // clips imported since the node started
	LastError  string `json:"last_error,omitempty"`
}

// MQTTStatus is the node's connection to its MQTT broker.
type MQTTStatus struct {
	Configured bool   `json:"configured"`
	Connected  bool   `json:"connected"`
	Broker     string `json:"broker,omitempty"` // the broker's URL (never a password)
	LastError  string `json:"last_error,omitempty"`
}

// AddressesStatus lists a node's addresses by kind.
type AddressesStatus struct {
	Listen   []string `json:"listen"`   // what the host listens on
	Observed []string `json:"observed"` // public, as others see it or a router mapped it
	Relay    []string `json:"relay"`    // /p2p-circuit through anchors with a reservation
}

// AnchorStatus is one anchor a node knows.
type AnchorStatus struct {
	PeerID      string   `json:"peer_id"`
	Addrs       []string `json:"addrs"`
	Configured  bool     `json:"configured"` // from config or `anchor add`
	Connected   bool     `json:"connected"`
	Reservation bool     `json:"reservation"` // this node holds a relay reservation there
	RTTMillis   float64  `json:"rtt_ms"`
}

// StorageStatus is the state of the disk under the node's databases.
type StorageStatus struct {
	OK        bool   `json:"ok"`              // false: writes are refused
	Error     string `json:"error,omitempty"` // what failed and what to check
	FreeBytes uint64 `json:"free_bytes"`
}

// Config configures Listen. Zero values mean the default.
type Config struct {
	// Addr to listen on; must be a loopback address unless AllowRemote.
	// Required.
	Addr string
	// AllowRemote permits a non-loopback Addr. It requires TLSCert and
	// TLSKey: the token and session cookie must not cross a network in
	// clear. Host and Origin must then name loopback or a name or address
	// the certificate covers.
	AllowRemote bool
	// TLSCert and TLSKey are PEM files; when set the API serves HTTPS only.
	TLSCert, TLSKey string
	// Token every request must carry. Required.
	Token string
	// Mesh serves the peers and takes issuer documents. Required.
	Mesh *mesh.Mesh
	// Feed serves the feed: posts and retractions. Required.
	Feed *feed.Service
	// OnFeedRead is called after the feed was listed (the UI or the CLI
	// showed it: its posts are read); nil: nothing.
	OnFeedRead func()
	// Status describes the node. Required.
	Status func() Status
	// Storage reports whether the disk under the databases works: while it
	// returns an error, requests that write are refused with 503 and that
	// error (reads go on). Nil: always works.
	Storage func() error
	// Requests serves requests and agencies. Required.
	Requests *requests.Service
	// Trust adds a trusted issuer (and persists it). Required.
	Trust func(peer.ID) error
	// TrustedIssuers lists the trusted issuers. Required.
	TrustedIssuers func() []string
	// Events feeds /api/v1/events; nil: the route answers 501.
	Events *Hub
	// Metrics is served at /metrics (behind the same guard); nil: 404.
	Metrics http.Handler
	// Clips serves this home's clips; nil: no clip routes.
	Clips *clips.Store
	// Sharing serves grants, the access log and fetching; nil: no routes.
	Sharing Sharing
	// Omissions are this home's grants and the receipts agencies handed
	// back, for yield omission proofs; nil: those routes answer 501.
	Omissions requests.OmissionSource
	// Members serves the roster, invites, removals, stewards, mutes and
	// joining; nil (an open neighborhood): those routes answer 404.
	Members Members
	// Anchors lists, adds and removes the anchors the node knows; nil: no
	// anchor routes.
	Anchors Anchors
	// LAN, when set, serves the UI and API to paired devices of the home
	// network too (see ServeLAN); nil: only when EnableLAN turns it on.
	LAN *LAN
	// EnableLAN is called when a pairing link is asked for while the LAN
	// is not served: it returns the LAN to serve (and may remember the
	// choice); nil: pairing then asks the user to turn the LAN on.
	EnableLAN func() (LAN, error)
	// DevicesFile keeps the paired devices across restarts; "": in memory.
	DevicesFile string
	// Now is the clock of pairing links and device sessions. Default
	// time.Now.
	Now func() time.Time
	// Logger. Default slog.Default().
	Logger *slog.Logger
}

// Server is a running API.
type Server struct {
	cfg      Config
	ln       net.Listener
	srv      *http.Server
	mux      *http.ServeMux
	routes   []string
	public   []string // routes that need no token (still Host-checked)
	sessions sessions
	tls      bool
	hosts    map[string]bool // names and addresses, besides loopback, the Host header may carry
	cert     []byte          // the certificate (DER) when serving TLS
	done     chan struct{}
	closing  chan struct{} // closed by Close: ends event streams
	devices  deviceSet     // pairing links and paired devices
	peerIDs  idStrings     // text forms of the feed's authors

	lanMu sync.Mutex
	lan   *lanServer // the LAN listener; nil until ServeLAN

	closeOnce sync.Once
	closeErr  error
}

// Listen checks cfg, listens and starts serving.
func Listen(cfg Config) (*Server, error) {
	if cfg.Token == "" || cfg.Mesh == nil || cfg.Feed == nil || cfg.Status == nil || cfg.Requests == nil || cfg.Trust == nil || cfg.TrustedIssuers == nil {
		return nil, errors.New("api: Token, Mesh, Feed, Status, Requests, Trust and TrustedIssuers are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	host, _, err := net.SplitHostPort(cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("api address %q: want HOST:PORT, e.g. %s", cfg.Addr, "127.0.0.1:7780")
	}
	if !loopbackHost(host) && !cfg.AllowRemote {
		return nil, fmt.Errorf("api address %q is not a loopback address: the local API only listens on 127.0.0.1, ::1 or localhost (to serve other computers, see --api-allow-remote in docs/operations.md)", cfg.Addr)
	}
	if (cfg.TLSCert == "") != (cfg.TLSKey == "") {
		return nil, errors.New("api: give both a TLS certificate and its key, or neither")
	}
	if !loopbackHost(host) && cfg.TLSCert == "" {
		return nil, fmt.Errorf("api address %q is not loopback: serving other computers needs TLS (--api-tls-cert and --api-tls-key), or the token would cross the network in clear", cfg.Addr)
	}
	s := &Server{cfg: cfg, mux: http.NewServeMux(), done: make(chan struct{}), closing: make(chan struct{}), hosts: map[string]bool{}}
	var tlsCfg *tls.Config
	if cfg.TLSCert != "" {
		pair, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
		if err != nil {
			return nil, fmt.Errorf("api: load TLS certificate %s and key %s: %w", cfg.TLSCert, cfg.TLSKey, err)
		}
		leaf, err := x509.ParseCertificate(pair.Certificate[0])
		if err != nil {
			return nil, fmt.Errorf("api: parse TLS certificate %s: %w", cfg.TLSCert, err)
		}
		tlsCfg = &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}
		s.tls, s.cert = true, pair.Certificate[0]
		if cfg.AllowRemote {
			for _, n := range leaf.DNSNames {
				s.hosts[strings.ToLower(n)] = true
			}
			for _, ip := range leaf.IPAddresses {
				s.hosts[ip.String()] = true
			}
			if ip := net.ParseIP(host); ip != nil && !ip.IsUnspecified() {
				s.hosts[ip.String()] = true
			}
		}
	}
	s.devices.file = cfg.DevicesFile
	if err := s.devices.load(); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("api: listen on %s (is another node running with that API address? set api in config.toml or use --api): %w", cfg.Addr, err)
	}
	if tlsCfg != nil {
		ln = tls.NewListener(ln, tlsCfg)
	}
	s.ln = ln
	s.routesV1()
	s.routesRequests()
	s.routesTransparency()
	s.routesClips()
	s.routesSharing()
	s.routesMembers()
	s.routesAnchors()
	s.routesNeighborhoods()
	s.handle("GET /api/v1/events", s.getEvents)
	s.handle("POST /api/v1/login-links", s.createLoginLink)
	s.handle("GET /api/v1/login-links/{id}", s.getLoginLink)
	s.handlePublic("GET /login", s.login)
	s.handlePublic("POST /login", s.loginForm)
	s.routesDevices()
	s.routesUI()
	s.handle("GET /api/v1/openapi.json", s.getOpenAPI)
	if cfg.Metrics != nil {
		s.handle("GET /metrics", func(w http.ResponseWriter, r *http.Request) error {
			cfg.Metrics.ServeHTTP(w, r)
			return nil
		})
	}
	s.srv = &http.Server{
		Handler:           s.mux,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelDebug),
	}
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			cfg.Logger.Error("api server stopped", "err", err)
		}
	}()
	if cfg.LAN != nil {
		if err := s.ServeLAN(*cfg.LAN); err != nil {
			_ = s.Close()
			return nil, err
		}
	}
	return s, nil
}

// Addr is the listening address.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Routes lists the registered route patterns, for tests that check every
// route is guarded.
func (s *Server) Routes() []string { return append([]string(nil), s.routes...) }

// PublicRoutes lists the routes that need no token (only the login link
// and its form).
func (s *Server) PublicRoutes() []string { return append([]string(nil), s.public...) }

// Close stops the server, letting requests in flight finish for a moment.
// It is safe to call more than once.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		close(s.closing)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.closeErr = s.srv.Shutdown(ctx)
		<-s.done
		if err := s.closeLAN(); s.closeErr == nil {
			s.closeErr = err
		}
	})
	return s.closeErr
}

// body says what a guarded route's request body must be.
type body int

const (
	jsonBody body = iota // JSON (Content-Type application/json), up to maxBody
	// clipBody is a clip's raw bytes (video/*, image/* or
	// application/octet-stream), up to maxUpload, with the uploadHeader,
	// which a cross-site form cannot send; no read deadline.
	clipBody
)

// handle registers a guarded route taking a JSON body (if any). With
// handleUpload it is the only way token-guarded routes are added.
func (s *Server) handle(pattern string, h func(w http.ResponseWriter, r *http.Request) error) {
	s.handleBody(pattern, jsonBody, h)
}

// handleUpload registers a guarded route whose body is a clip's bytes.
func (s *Server) handleUpload(pattern string, h func(w http.ResponseWriter, r *http.Request) error) {
	s.handleBody(pattern, clipBody, h)
}

func (s *Server) handleBody(pattern string, b body, h func(w http.ResponseWriter, r *http.Request) error) {
	s.routes = append(s.routes, pattern)
	s.mux.Handle(pattern, s.guard(b, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			s.writeError(w, r, err)
		}
	})))
}

// handlePublic registers a route that needs no token: only the one-time
// login link, which is how a browser gets its session.
func (s *Server) handlePublic(pattern string, h func(w http.ResponseWriter, r *http.Request) error) {
	s.public = append(s.public, pattern)
	s.mux.Handle(pattern, s.hostOnly(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			s.writeError(w, r, err)
		}
	})))
}

func (s *Server) hostOnly(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.loopbackRequest(w, r) {
			return
		}
		next.ServeHTTP(w, r)
	})
}

// loopbackRequest refuses (and answers) a request whose Host is not a
// loopback name: a DNS-rebinding page's requests carry its own host name.
func (s *Server) loopbackRequest(w http.ResponseWriter, r *http.Request) bool {
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if onLAN(r) {
		if !s.lanHostAllowed(host) {
			s.writeError(w, r, &Error{Status: http.StatusForbidden, Code: "bad_host", Msg: "Host header must name one of this node's LAN names or addresses, as `porchlight pair` prints them"})
			return false
		}
		return true
	}
	if !s.allowedHost(host) {
		s.writeError(w, r, &Error{Status: http.StatusForbidden, Code: "bad_host", Msg: "Host header must name a loopback address (localhost, 127.0.0.1 or [::1]), or a name the API's TLS certificate covers"})
		return false
	}
	return true
}

// allowedHost: loopback, or (with AllowRemote) a name or address the
// certificate covers, matched exactly.
func (s *Server) allowedHost(h string) bool {
	if loopbackHost(h) {
		return true
	}
	h = strings.ToLower(strings.TrimSuffix(strings.TrimPrefix(h, "["), "]"))
	if ip := net.ParseIP(h); ip != nil {
		h = ip.String()
	}
	return s.hosts[h]
}

// TLS reports whether the API serves HTTPS.
func (s *Server) TLS() bool { return s.tls }

// Certificate is the API's TLS certificate (DER), nil without TLS.
func (s *Server) Certificate() []byte { return s.cert }

func loopbackHost(h string) bool {
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// guard enforces, on every token-guarded route: the Host, the token (or
// session), and for mutations the Origin, a working disk and the body's
// type (b); then it bounds the body.
func (s *Server) guard(b body, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.loopbackRequest(w, r) {
			return
		}
		if onLAN(r) {
			dev := s.lanAuthorized(r)
			if dev == nil {
				s.writeError(w, r, &Error{Status: http.StatusUnauthorized, Code: "unauthorized", Msg: "this browser is not paired with the node, or was unpaired: ask for a pairing link on the hub (porchlight pair)"})
				return
			}
			r = r.WithContext(context.WithValue(r.Context(), deviceKey{}, dev))
			if r.Method != http.MethodGet && r.Method != http.MethodHead && !lanSameOrigin(r.Header.Get("Origin"), r) {
				s.writeError(w, r, &Error{Status: http.StatusForbidden, Code: "foreign_origin", Msg: "requests that change anything must come from the node's own page (same origin)"})
				return
			}
		} else if !s.authorized(r) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="porchlight"`)
			s.writeError(w, r, &Error{Status: http.StatusUnauthorized, Code: "unauthorized", Msg: "missing or wrong API token: send Authorization: Bearer <contents of DATA/api.token>, or open a link from `porchlight ui`"})
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			if o := r.Header.Get("Origin"); o != "" && !onLAN(r) && !s.sameOrigin(o, r) {
				s.writeError(w, r, &Error{Status: http.StatusForbidden, Code: "foreign_origin", Msg: "cross-origin requests are refused"})
				return
			}
			if !s.writable(w, r) {
				return
			}
			if err := bodyType(b, r); err != nil {
				s.writeError(w, r, err)
				return
			}
		}
		limit := int64(maxBody)
		if b == clipBody {
			limit = maxUpload
			_ = http.NewResponseController(w).SetReadDeadline(time.Time{}) // long uploads
		}
		r.Body = http.MaxBytesReader(w, r.Body, limit)
		next.ServeHTTP(w, r)
	})
}

// bodyType refuses a POST or PUT whose body is not of the route's type: a
// cross-site form can send neither JSON nor the upload header.
func bodyType(b body, r *http.Request) error {
	if r.Method != http.MethodPost && r.Method != http.MethodPut {
		return nil
	}
	ct := r.Header.Get("Content-Type")
	if b == clipBody {
		if r.Header.Get(uploadHeader) != "1" {
			return &Error{Status: http.StatusUnsupportedMediaType, Code: "unsupported_media_type",
				Msg: fmt.Sprintf("an upload needs the header %s: 1 and the clip's bytes as the body", uploadHeader)}
		}
		if !strings.HasPrefix(ct, "video/") && !strings.HasPrefix(ct, "image/") && ct != "application/octet-stream" {
			return &Error{Status: http.StatusUnsupportedMediaType, Code: "unsupported_media_type", Msg: "send the clip as video/*, image/* or application/octet-stream"}
		}
		return nil
	}
	if mt, _, _ := mime.ParseMediaType(ct); mt != "application/json" {
		return &Error{Status: http.StatusUnsupportedMediaType, Code: "unsupported_media_type", Msg: "send the body as Content-Type: application/json"}
	}
	return nil
}

// writable refuses (and answers) a request that would write while the
// disk has failed: an acknowledged write must be on disk. A login link
// writes nothing, and is how the user gets to see the failure in the UI.
func (s *Server) writable(w http.ResponseWriter, r *http.Request) bool {
	if s.cfg.Storage == nil || r.URL.Path == "/api/v1/login-links" {
		return true
	}
	if err := s.cfg.Storage(); err != nil {
		s.writeError(w, r, err)
		return false
	}
	return true
}

func (s *Server) authorized(r *http.Request) bool {
	if tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		return subtle.ConstantTimeCompare([]byte(strings.TrimSpace(tok)), []byte(s.cfg.Token)) == 1
	}
	c, err := r.Cookie(s.cookieName())
	return err == nil && s.sessions.valid(c.Value, s.now())
}

// now is the API's clock (Config.Now).
func (s *Server) now() time.Time { return s.cfg.Now() }

// sameOrigin: a mutation's Origin, when sent, must be this API's own
// origin: an allowed host and the port the request came to. Another
// service of the same computer (a dev server on localhost:3000) is another
// origin, although the browser sends it the same cookies.
func (s *Server) sameOrigin(origin string, r *http.Request) bool {
	u, err := url.Parse(origin)
	if err != nil || u.Scheme != s.scheme() || u.User != nil || u.Path != "" || !s.allowedHost(u.Hostname()) {
		return false
	}
	return effectivePort(u.Port(), u.Scheme) == effectivePort(requestPort(r.Host), s.scheme())
}

// requestPort is the port of a Host header, "" without one.
func requestPort(host string) string {
	if _, port, err := net.SplitHostPort(host); err == nil {
		return port
	}
	return ""
}

func effectivePort(port, scheme string) string {
	switch {
	case port != "":
		return port
	case scheme == "https":
		return "443"
	}
	return "80"
}

func (s *Server) scheme() string {
	if s.tls {
		return "https"
	}
	return "http"
}

// Error is an API error with its HTTP status and stable code.
type Error struct {
	Status int
	Code   string
	Msg    string
}

func (e *Error) Error() string { return e.Msg }

func badRequest(format string, args ...any) error {
	return &Error{Status: http.StatusBadRequest, Code: "bad_request", Msg: fmt.Sprintf(format, args...)}
}

// writeError is the one place errors become HTTP statuses.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var apiErr *Error
	var inv *record.Invalid
	var tooBig *http.MaxBytesError
	var forbidden *ForbiddenError
	var wrong *BadRequestError
	switch {
	case errors.As(err, &apiErr):
	case errors.Is(err, sharing.ErrNoDirectPath):
		// Its words are what to tell the user (the UI shows them).
		apiErr = &Error{Status: http.StatusBadGateway, Code: "no_direct_path", Msg: err.Error()}
	case errors.Is(err, clips.ErrUnreachable):
		// The owner is offline or no path to it answers: the words say
		// so (sharing.UnreachableError names it) and to try again later.
		apiErr = &Error{Status: http.StatusBadGateway, Code: "unreachable", Msg: err.Error()}
	case errors.As(err, &forbidden):
		apiErr = &Error{Status: http.StatusForbidden, Code: "forbidden", Msg: err.Error()}
	case errors.As(err, &wrong):
		apiErr = &Error{Status: http.StatusBadRequest, Code: "bad_request", Msg: err.Error()}
	case errors.As(err, &inv) && (inv.Reason == record.ReasonRate || inv.Reason == record.ReasonSize):
		// This home's own post would break the per-author limits its
		// neighbors enforce: try again later (the message says when).
		apiErr = &Error{Status: http.StatusTooManyRequests, Code: string(inv.Reason), Msg: inv.Detail}
	case errors.As(err, &inv):
		apiErr = &Error{Status: http.StatusBadRequest, Code: string(inv.Reason), Msg: inv.Detail}
	case errors.As(err, &tooBig):
		apiErr = &Error{Status: http.StatusRequestEntityTooLarge, Code: "too_large", Msg: fmt.Sprintf("request body over %d bytes", maxBody)}
	case errors.Is(err, store.ErrStorage):
		apiErr = &Error{Status: http.StatusServiceUnavailable, Code: "storage_failed", Msg: err.Error()}
	case errors.Is(err, store.ErrNotFound):
		apiErr = &Error{Status: http.StatusNotFound, Code: "not_found", Msg: err.Error()}
	case errors.Is(err, feed.ErrNotOwnPost):
		apiErr = &Error{Status: http.StatusForbidden, Code: "not_author", Msg: err.Error()}
	case errors.Is(err, feed.ErrCannotShare):
		apiErr = &Error{Status: http.StatusBadRequest, Code: "bad_request", Msg: err.Error()}
	case errors.Is(err, clips.ErrNotFound):
		apiErr = &Error{Status: http.StatusNotFound, Code: "not_found", Msg: err.Error()}
	case errors.Is(err, clips.ErrGrantNotFound):
		apiErr = &Error{Status: http.StatusNotFound, Code: "not_found", Msg: err.Error()}
	case errors.Is(err, clips.ErrRefused), errors.Is(err, clips.ErrNoGrant):
		apiErr = &Error{Status: http.StatusForbidden, Code: "refused", Msg: err.Error()}
	case errors.Is(err, clips.ErrChunkMismatch):
		apiErr = &Error{Status: http.StatusBadGateway, Code: "chunk_mismatch", Msg: err.Error()}
	case errors.Is(err, clips.ErrEmpty):
		apiErr = &Error{Status: http.StatusBadRequest, Code: "empty_clip", Msg: err.Error()}
	case errors.Is(err, requests.ErrNoCredential):
		apiErr = &Error{Status: http.StatusConflict, Code: "no_credential", Msg: err.Error()}
	case errors.Is(err, requests.ErrUnknownAgency):
		apiErr = &Error{Status: http.StatusNotFound, Code: "unknown_agency", Msg: err.Error()}
	case errors.Is(err, mesh.ErrAwaitingLog):
		apiErr = &Error{Status: http.StatusServiceUnavailable, Code: "awaiting_log", Msg: err.Error()}
	case errors.Is(err, mesh.ErrHeld):
		apiErr = &Error{Status: http.StatusConflict, Code: "held", Msg: err.Error()}
	default:
		s.cfg.Logger.Error("api request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		apiErr = &Error{Status: http.StatusInternalServerError, Code: "internal", Msg: "internal error; see the node's log"}
	}
	writeJSON(w, apiErr.Status, map[string]string{"error": apiErr.Msg, "code": apiErr.Code})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	// Compact: lists can be long, and the CLI pretty-prints what it shows.
	_ = json.NewEncoder(w).Encode(v)
}

func decodeJSON(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return err
		}
		return badRequest("request body: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return badRequest("request body: trailing data after the JSON object")
	}
	return nil
}

func queryInt(r *http.Request, name string, def, max int) (int, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > max {
		return 0, badRequest("%s must be a whole number from 1 to %d", name, max)
	}
	return n, nil
}
