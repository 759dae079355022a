package api_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/porchlight-mesh/porchlight/api"
	"github.com/porchlight-mesh/porchlight/store"
)

// fakeAnchors keeps anchors in memory, refusing addresses without /p2p/.
type fakeAnchors struct {
	mu   sync.Mutex
	list []api.AnchorStatus
}

func (f *fakeAnchors) List(ctx context.Context, probe bool) ([]api.AnchorStatus, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]api.AnchorStatus(nil), f.list...), nil
}

func (f *fakeAnchors) Add(addr string) (api.AnchorStatus, error) {
	_, id, ok := strings.Cut(addr, "/p2p/")
	if !ok {
		return api.AnchorStatus{}, &api.BadRequestError{Err: fmt.Errorf("anchor %q: want a multiaddr ending in /p2p/<peer ID>", addr)}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	a := api.AnchorStatus{PeerID: id, Addrs: []string{addr}, Configured: true}
	f.list = append(f.list, a)
	return a, nil
}

func (f *fakeAnchors) Remove(which string) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, a := range f.list {
		if a.PeerID == which {
			f.list = append(f.list[:i], f.list[i+1:]...)
			return a.Addrs, nil
		}
	}
	return nil, fmt.Errorf("%w: no configured anchor has peer ID %s", store.ErrNotFound, which)
}

// TestAnchorRoutes: add, list and remove through the API, with its
// errors: a malformed address is a 400, an unknown anchor a 404, and
// nothing passes without the token.
func TestAnchorRoutes(t *testing.T) {
	s := newServer(t)
	call := func(method, path, body string, auth bool) (int, string) {
		t.Helper()
		var req *http.Request
		var err error
		if body != "" {
			req, err = http.NewRequest(method, "http://"+s.Addr().String()+path, strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
		} else {
			req, err = http.NewRequest(method, "http://"+s.Addr().String()+path, nil)
		}
		if err != nil {
			t.Fatal(err)
		}
		if auth {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		code, b, _ := do(t, req)
		return code, b
	}
	const id = "12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA"
	addr := "/ip4/203.0.113.7/tcp/7781/p2p/" + id
	cases := []struct {
		name, method, path, body string
		auth                     bool
		want                     int
		contains                 string
	}{
		{"list without token", "GET", "/api/v1/anchors", "", false, 401, "unauthorized"},
		{"add without token", "POST", "/api/v1/anchors", `{"addr":"` + addr + `"}`, false, 401, "unauthorized"},
		{"remove without token", "DELETE", "/api/v1/anchors/" + id, "", false, 401, "unauthorized"},
		{"empty list", "GET", "/api/v1/anchors", "", true, 200, "[]"},
		{"add without peer ID", "POST", "/api/v1/anchors", `{"addr":"/ip4/203.0.113.7/tcp/7781"}`, true, 400, "/p2p/"},
		{"add without addr", "POST", "/api/v1/anchors", `{}`, true, 400, "addr"},
		{"add", "POST", "/api/v1/anchors", `{"addr":"` + addr + `"}`, true, 200, id},
		{"list with it", "GET", "/api/v1/anchors?probe=true", "", true, 200, addr},
		{"bad probe", "GET", "/api/v1/anchors?probe=maybe", "", true, 400, "probe"},
		{"remove", "DELETE", "/api/v1/anchors/" + id, "", true, 200, `"restart":true`},
		{"remove again", "DELETE", "/api/v1/anchors/" + id, "", true, 404, "no configured anchor"},
	}
	for _, c := range cases {
		code, body := call(c.method, c.path, c.body, c.auth)
		if code != c.want || !strings.Contains(body, c.contains) {
			t.Errorf("%s: %d %s, want %d containing %q", c.name, code, body, c.want, c.contains)
		}
	}
}
