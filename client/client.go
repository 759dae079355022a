package client

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Files of a node's data directory that the client reads. They are the
// node's (node.AddrFile, node.TokenFile, node.CertFile); a test checks
// that they agree.
const (
	AddrFile  = "api.addr"  // the API's address: HOST:PORT, or https://HOST:PORT in remote mode
	TokenFile = "api.token" // the API token
	CertFile  = "api.crt"   // the API's TLS certificate (PEM), while it serves HTTPS
)

// DefaultTimeout bounds a call that is not a stream (uploads, downloads
// and event streams are bounded by their context only).
const DefaultTimeout = 30 * time.Second

// maxAnswer bounds a JSON answer.
const maxAnswer = 64 << 20

// Config configures New. Zero values mean the default.
type Config struct {
	// URL of the API: http://HOST:PORT or https://HOST:PORT; a bare
	// HOST:PORT means http. Required.
	URL string
	// Token is sent with every request. Empty: requests go without one
	// (the API refuses them; doctor checks that it does).
	Token string
	// Cert is the API's certificate (PEM or DER) to pin: with https, the
	// server must present exactly it (it may be self-signed and need not
	// name the address dialed). Nil with https: the system's roots.
	Cert []byte
	// CertFile names where Cert came from, for error messages.
	CertFile string
	// Timeout bounds each call that is not a stream. Default DefaultTimeout.
	Timeout time.Duration
	// Dir is the data directory the client was made from, for error
	// messages; set by FromDataDir.
	Dir string
}

// Client calls one node's API. It is safe for concurrent use.
type Client struct {
	base    string
	token   string
	dir     string
	timeout time.Duration
	hc      *http.Client
}

// New makes a client from cfg.
func New(cfg Config) (*Client, error) {
	if cfg.URL == "" {
		return nil, errors.New("client: URL is required")
	}
	base := strings.TrimRight(strings.TrimSpace(cfg.URL), "/")
	if !strings.HasPrefix(base, "http://") && !strings.HasPrefix(base, "https://") {
		base = "http://" + base
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if strings.HasPrefix(base, "https://") && cfg.Cert != nil {
		pin, err := pinned(cfg.Cert, cfg.CertFile)
		if err != nil {
			return nil, err
		}
		tr.TLSClientConfig = pin
	}
	return &Client{base: base, token: cfg.Token, dir: cfg.Dir, timeout: cfg.Timeout, hc: &http.Client{Transport: tr}}, nil
}

// FromDataDir makes a client for the node running on the data directory
// dir. With no node running there it returns an error matching ErrNoNode.
func FromDataDir(dir string) (*Client, error) {
	addr, err := readSmall(filepath.Join(dir, AddrFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, &NoNodeError{Dir: dir, Err: err}
	}
	if err != nil {
		return nil, err
	}
	tok, err := readSmall(filepath.Join(dir, TokenFile))
	if err != nil {
		return nil, fmt.Errorf("read API token: %w", err)
	}
	cfg := Config{URL: addr, Token: tok, Dir: dir}
	if strings.HasPrefix(addr, "https://") {
		cfg.CertFile = filepath.Join(dir, CertFile)
		cert, err := os.ReadFile(cfg.CertFile)
		if err != nil {
			return nil, fmt.Errorf("the node serves HTTPS but its certificate is unreadable: %w", err)
		}
		cfg.Cert = cert
	}
	return New(cfg)
}

func readSmall(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, 4<<10+1))
	if err != nil {
		return "", err
	}
	if len(b) > 4<<10 {
		return "", fmt.Errorf("%s: over 4 KiB, not a file the node wrote", path)
	}
	return strings.TrimSpace(string(b)), nil
}

// pinned is a TLS configuration that trusts exactly cert.
func pinned(cert []byte, file string) (*tls.Config, error) {
	if file == "" {
		file = "the pinned certificate"
	}
	want := cert
	if blk, _ := pem.Decode(cert); blk != nil {
		want = blk.Bytes
	} else if bytes.HasPrefix(bytes.TrimSpace(cert), []byte("-----")) {
		return nil, fmt.Errorf("%s: no PEM certificate", file)
	}
	return &tls.Config{
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: true, // replaced by the pin below
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 || !bytes.Equal(cs.PeerCertificates[0].Raw, want) {
				return errors.New("the API's certificate is not " + file)
			}
			return nil
		},
	}, nil
}

// URL is the API's base URL, such as http://127.0.0.1:7780.
func (c *Client) URL() string { return c.base }

// WithToken is a copy of c that sends tok instead (empty: no token).
func (c *Client) WithToken(tok string) *Client {
	cp := *c
	cp.token = tok
	return &cp
}

// Error is an answer of the API that is not a success: its HTTP status and
// the API's stable code and message (the API's error JSON,
// {"error": MESSAGE, "code": CODE}).
type Error struct {
	Status  int
	Code    string // "" when the answer carried no error JSON
	Message string
}

func (e *Error) Error() string { return e.Message }

// Is matches the sentinels by code: errors.Is(err, client.ErrNotFound).
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Status == 0 && t.Code != "" && t.Code == e.Code
}

// Sentinels for the codes callers test for; match them with errors.Is.
// The full list of codes is the API's (docs/api.md).
var (
	ErrUnauthorized  = &Error{Code: "unauthorized", Message: "missing or wrong API token"}
	ErrNotFound      = &Error{Code: "not_found", Message: "not found"}
	ErrBadRequest    = &Error{Code: "bad_request", Message: "bad request"}
	ErrRefused       = &Error{Code: "refused", Message: "refused"}
	ErrBadHost       = &Error{Code: "bad_host", Message: "Host header refused"}
	ErrForeignOrigin = &Error{Code: "foreign_origin", Message: "cross-origin request refused"}
	ErrStorageFailed = &Error{Code: "storage_failed", Message: "the node's storage failed; writes are refused"}
	// ErrNoDirectPath: a clip cannot cross the only path to its owner, a
	// connection relayed by an anchor; the message says why and what to do.
	ErrNoDirectPath = &Error{Code: "no_direct_path", Message: "no direct path to the clip's owner"}
)

// ErrNoNode matches the error of a client whose node is not running.
var ErrNoNode = errors.New("no node is running")

// NoNodeError says that no node runs for a data directory (no address
// file, or nothing answers at the address), and how to start one.
type NoNodeError struct {
	Dir string // the data directory, if the client was made from one
	URL string
	Err error
}

func (e *NoNodeError) Error() string {
	if e.Dir != "" {
		return fmt.Sprintf("no node is running for data directory %s; start one with: porchlight --data %s run", e.Dir, e.Dir)
	}
	return fmt.Sprintf("no node answers at %s: %v", e.URL, e.Err)
}

func (e *NoNodeError) Unwrap() error { return e.Err }

func (e *NoNodeError) Is(target error) bool { return target == ErrNoNode }

// NewRequest makes a request to path that carries the token, for what
// the typed methods do not cover (a browser's Range request, a request a
// test takes apart); send it with DoRequest.
func (c *Client) NewRequest(ctx context.Context, method, path string, body io.Reader) (*http.Request, error) {
	return c.request(ctx, method, path, body)
}

// DoRequest sends req through the client's transport (and pinned
// certificate). An answer of 300 or more becomes an *Error; otherwise the
// caller closes the answer's body.
func (c *Client) DoRequest(req *http.Request) (*http.Response, error) { return c.send(req) }

// request builds a request with the token.
func (c *Client) request(ctx context.Context, method, path string, body io.Reader) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return nil, err
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	return req, nil
}

// send sends req and turns a refusal into an *Error; the caller closes the
// body of the answer it gets.
func (c *Client) send(req *http.Request) (*http.Response, error) {
	resp, err := c.hc.Do(req)
	if err != nil {
		if errors.Is(err, syscall.ECONNREFUSED) {
			return nil, &NoNodeError{Dir: c.dir, URL: c.base, Err: err}
		}
		return nil, fmt.Errorf("talk to the node at %s: %w", c.base, err)
	}
	if resp.StatusCode >= 300 {
		defer resp.Body.Close()
		return nil, decodeError(resp)
	}
	return resp, nil
}

func decodeError(resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var e struct{ Error, Code string }
	if json.Unmarshal(b, &e) == nil && e.Error != "" {
		return &Error{Status: resp.StatusCode, Code: e.Code, Message: e.Error}
	}
	return &Error{Status: resp.StatusCode, Message: "node answered " + resp.Status}
}

// Do sends a request to path (which may carry a query): in, if not nil, as
// JSON; the JSON answer into out, if not nil. An out of type *[]byte
// receives the answer's bytes as they are. It is the generic form of the
// typed methods, for routes they do not cover.
func (c *Client) Do(ctx context.Context, method, path string, in, out any) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := c.request(ctx, method, path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.send(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return fmt.Errorf("%s %s: read the answer: %w", method, path, err)
	}
	switch o := out.(type) {
	case nil:
		return nil
	case *[]byte:
		*o = b
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("%s %s: decode the answer: %w", method, path, err)
	}
	return nil
}

func (c *Client) get(ctx context.Context, path string, out any) error {
	return c.Do(ctx, http.MethodGet, path, nil, out)
}

func (c *Client) post(ctx context.Context, path string, in, out any) error {
	if in == nil {
		in = struct{}{}
	}
	return c.Do(ctx, http.MethodPost, path, in, out)
}
