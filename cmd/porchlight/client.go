package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
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

	"github.com/spf13/cobra"

	"github.com/porchlight-mesh/porchlight/node"
)

// client talks to the running node's local API.
type client struct {
	base  string
	token string
	data  string
	http  *http.Client
	// stream has no overall timeout: uploads, downloads, event streams.
	stream *http.Client
}

// errNoNode says, in one line, that no node runs and how to start one.
type errNoNode struct{ data string }

func (e errNoNode) Error() string {
	return fmt.Sprintf("no node is running for data directory %s; start one with: porchlight --data %s run", e.data, e.data)
}

func (g *globals) client() (*client, error) {
	addr, err := os.ReadFile(filepath.Join(g.dataDir, node.AddrFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, errNoNode{g.dataDir}
	}
	if err != nil {
		return nil, err
	}
	tok, err := node.LoadToken(g.dataDir)
	if err != nil {
		return nil, fmt.Errorf("read API token: %w", err)
	}
	base := strings.TrimSpace(string(addr))
	tr := http.DefaultTransport
	if strings.HasPrefix(base, "https://") {
		if tr, err = pinnedTransport(filepath.Join(g.dataDir, node.CertFile)); err != nil {
			return nil, err
		}
	} else {
		base = "http://" + base
	}
	return &client{
		base: base, token: tok, data: g.dataDir,
		http:   &http.Client{Timeout: 30 * time.Second, Transport: tr},
		stream: &http.Client{Transport: tr},
	}, nil
}

// pinnedTransport trusts exactly the certificate the node wrote (it may be
// self-signed, and need not name the address dialed).
func pinnedTransport(certFile string) (http.RoundTripper, error) {
	b, err := os.ReadFile(certFile)
	if err != nil {
		return nil, fmt.Errorf("the node serves HTTPS but its certificate is unreadable: %w", err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, fmt.Errorf("%s: no PEM certificate", certFile)
	}
	want := blk.Bytes
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: true, // replaced by the pin below
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			if len(raw) == 0 || !bytes.Equal(raw[0], want) {
				return errors.New("the API's certificate is not the one the node wrote to " + certFile)
			}
			return nil
		},
	}
	return tr, nil
}

// do sends a request; in (if non-nil) is sent as JSON, out (if non-nil)
// receives the JSON answer.
func (c *client) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if errors.Is(err, syscall.ECONNREFUSED) {
			return errNoNode{c.data}
		}
		return fmt.Errorf("talk to the node at %s: %w", c.base, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode >= 300 {
		var e struct{ Error, Code string }
		if json.Unmarshal(b, &e) == nil && e.Error != "" {
			if resp.StatusCode == http.StatusBadRequest {
				return usagef("%s", e.Error)
			}
			return &apiError{Status: resp.StatusCode, Msg: e.Error}
		}
		return &apiError{Status: resp.StatusCode, Msg: "node answered " + resp.Status}
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(b, out)
}

// apiError is an error the node answered, with its HTTP status.
type apiError struct {
	Status int
	Msg    string
}

func (e *apiError) Error() string { return e.Msg }

// getJSON fetches path from the running node into out.
func (g *globals) getJSON(c *cobra.Command, path string, out any) error {
	cl, err := g.client()
	if err != nil {
		return err
	}
	return cl.do(c.Context(), "GET", path, nil, out)
}
