package client

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/porchlight-mesh/porchlight/api"
)

// Status is GET /api/v1/status.
func (c *Client) Status(ctx context.Context) (api.Status, error) {
	var st api.Status
	return st, c.get(ctx, "/api/v1/status", &st)
}

// Peers lists the connected neighbors.
func (c *Client) Peers(ctx context.Context) ([]api.PeerJSON, error) {
	var out []api.PeerJSON
	return out, c.get(ctx, "/api/v1/peers", &out)
}

// Feed lists up to limit posts, newest first (0: the API's default).
func (c *Client) Feed(ctx context.Context, limit int) ([]api.PostJSON, error) {
	p, err := c.FeedPage(ctx, FeedQuery{Limit: limit})
	return p.Posts, err
}

// FeedQuery selects a page of the feed.
type FeedQuery struct {
	Limit int // posts, 1 to 1000 (0: the API's default, 100)
	// Before lists the posts older than this position: the Next of the
	// previous page. Empty: from the newest.
	Before string
}

// FeedPage is one page of the feed.
type FeedPage struct {
	Posts []api.PostJSON
	// Next is the Before of the following page; empty when this page is
	// the last.
	Next string
}

// FeedPage lists one page of the feed, newest first. A Before the node
// does not take for a cursor is a 400 *Error.
func (c *Client) FeedPage(ctx context.Context, q FeedQuery) (FeedPage, error) {
	v := url.Values{}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	if q.Before != "" {
		v.Set("before", q.Before)
	}
	path := "/api/v1/feed"
	if len(v) > 0 {
		path += "?" + v.Encode()
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := c.request(ctx, http.MethodGet, path, nil)
	if err != nil {
		return FeedPage{}, err
	}
	resp, err := c.send(req)
	if err != nil {
		return FeedPage{}, err
	}
	defer resp.Body.Close()
	var p FeedPage
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxAnswer)).Decode(&p.Posts); err != nil {
		return FeedPage{}, fmt.Errorf("GET %s: decode the answer: %w", path, err)
	}
	if next := nextLink(resp.Header.Get("Link")); next != "" {
		u, err := url.Parse(next)
		if err != nil {
			return FeedPage{}, fmt.Errorf("GET %s: the next page's link %q: %w", path, next, err)
		}
		p.Next = u.Query().Get("before")
	}
	return p, nil
}

// nextLink is the URL of a Link header's rel="next", or "".
func nextLink(h string) string {
	for _, l := range strings.Split(h, ",") {
		u, params, ok := strings.Cut(strings.TrimSpace(l), ";")
		if ok && strings.Contains(params, `rel="next"`) && strings.HasPrefix(u, "<") && strings.HasSuffix(u, ">") {
			return u[1 : len(u)-1]
		}
	}
	return ""
}

// Post signs and publishes a post.
func (c *Client) Post(ctx context.Context, p api.NewPostJSON) (api.PostJSON, error) {
	var out api.PostJSON
	return out, c.post(ctx, "/api/v1/posts", p, &out)
}

// CheckPost asks the node for the anti-profiling advice on a draft post
// (POST /api/v1/posts/check); nothing is posted.
func (c *Client) CheckPost(ctx context.Context, p api.NewPostJSON) (api.PostCheckJSON, error) {
	var out api.PostCheckJSON
	return out, c.post(ctx, "/api/v1/posts/check", p, &out)
}

// Retraction is the answer of Retract.
type Retraction struct {
	ID         string `json:"id"`         // the retracted post
	Retraction string `json:"retraction"` // the retraction record
}

// Retract retracts one of this home's posts (errors.Is ErrNotFound, or a
// "not_author" *Error for another home's post).
func (c *Client) Retract(ctx context.Context, postID string) (Retraction, error) {
	var out Retraction
	return out, c.Do(ctx, http.MethodDelete, "/api/v1/posts/"+url.PathEscape(postID), nil, &out)
}

// RequestsQuery selects requests for Requests. Zero values: the API's
// defaults.
type RequestsQuery struct {
	Agency string // only this agency's (peer ID)
	Limit  int
}

// Requests lists requests for assistance, newest first.
func (c *Client) Requests(ctx context.Context, q RequestsQuery) ([]api.RequestJSON, error) {
	v := url.Values{}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	if q.Agency != "" {
		v.Set("agency", q.Agency)
	}
	path := "/api/v1/requests"
	if len(v) > 0 {
		path += "?" + v.Encode()
	}
	var out []api.RequestJSON
	return out, c.get(ctx, path, &out)
}

// CreateRequest publishes a request for assistance (agency nodes) and
// returns its ID.
func (c *Client) CreateRequest(ctx context.Context, r api.NewRequestJSON) (string, error) {
	var out struct{ ID string }
	return out.ID, c.post(ctx, "/api/v1/requests", r, &out)
}

// CloseRequest closes one of this agency's requests with a public note,
// and returns the ID of the update record.
func (c *Client) CloseRequest(ctx context.Context, id, note string) (string, error) {
	var out struct{ Update string }
	return out.Update, c.post(ctx, "/api/v1/requests/"+url.PathEscape(id)+"/close", map[string]string{"note": note}, &out)
}

// AuditYield checks, on this home, whether the yield of a request counts
// each clip the home shared for it.
func (c *Client) AuditYield(ctx context.Context, id string) (api.YieldAuditJSON, error) {
	var out api.YieldAuditJSON
	return out, c.get(ctx, "/api/v1/requests/"+url.PathEscape(id)+"/audit-yield", &out)
}

// Agencies lists agencies with their credential status and history.
func (c *Client) Agencies(ctx context.Context) ([]api.AgencyJSON, error) {
	var out []api.AgencyJSON
	return out, c.get(ctx, "/api/v1/agencies", &out)
}

// Published is the answer of PublishDocument.
type Published struct {
	ID     string `json:"id"`
	Issuer string `json:"issuer"`
	Kind   string `json:"kind"` // credential or revocation
}

// PublishDocument publishes a credential or revocation file (its raw
// bytes) to the neighborhood.
func (c *Client) PublishDocument(ctx context.Context, raw []byte) (Published, error) {
	var out Published
	return out, c.post(ctx, "/api/v1/documents", api.DocumentJSON{Document: base64.StdEncoding.EncodeToString(raw)}, &out)
}

// TrustedIssuers lists the issuers this home trusts.
func (c *Client) TrustedIssuers(ctx context.Context) ([]string, error) {
	var out []string
	return out, c.get(ctx, "/api/v1/trust", &out)
}

// Trust adds a trusted issuer and returns the trusted issuers.
func (c *Client) Trust(ctx context.Context, issuer string) ([]string, error) {
	var out []string
	return out, c.post(ctx, "/api/v1/trust", map[string]string{"issuer": issuer}, &out)
}

// Limits are the request rules the node enforces.
func (c *Client) Limits(ctx context.Context) (api.LimitsJSON, error) {
	var out api.LimitsJSON
	return out, c.get(ctx, "/api/v1/limits", &out)
}

// Clips lists this node's clips.
func (c *Client) Clips(ctx context.Context) ([]api.ClipJSON, error) {
	var out []api.ClipJSON
	return out, c.get(ctx, "/api/v1/clips", &out)
}

// Share issues a grant of clips to a peer or a request's agency.
func (c *Client) Share(ctx context.Context, g api.NewGrantJSON) (api.GrantJSON, error) {
	var out api.GrantJSON
	return out, c.post(ctx, "/api/v1/grants", g, &out)
}

// Grants lists the grants this home issued or received, newest first.
func (c *Client) Grants(ctx context.Context) ([]api.GrantJSON, error) {
	var out []api.GrantJSON
	return out, c.get(ctx, "/api/v1/grants", &out)
}

// RevokeGrant revokes one of this home's grants (errors.Is ErrNotFound).
func (c *Client) RevokeGrant(ctx context.Context, id string) error {
	return c.post(ctx, "/api/v1/grants/"+url.PathEscape(id)+"/revoke", nil, nil)
}

// Audit is the access log, newest first.
func (c *Client) Audit(ctx context.Context) ([]api.AuditJSON, error) {
	var out []api.AuditJSON
	return out, c.get(ctx, "/api/v1/audit", &out)
}

// Fetch fetches a clip granted to this node from its owner (a peer ID)
// and stores it here, verified chunk by chunk; read it then with
// Download. Its progress is published as "fetch" events (Events).
func (c *Client) Fetch(ctx context.Context, owner, clip string) (api.ClipJSON, error) {
	var out api.ClipJSON
	// The node bounds the fetch (api.FetchTimeout) and says why it
	// failed; the client waits for that answer rather than its own
	// timeout.
	long := *c
	long.timeout = max(c.timeout, api.FetchTimeout+30*time.Second)
	return out, long.post(ctx, "/api/v1/clips/fetch", map[string]string{"from": owner, "clip": clip}, &out)
}

// Evidence lists clips received under grants, newest first.
func (c *Client) Evidence(ctx context.Context) ([]api.EvidenceJSON, error) {
	var out []api.EvidenceJSON
	return out, c.get(ctx, "/api/v1/evidence", &out)
}

// LoginLink is the answer of CreateLoginLink.
type LoginLink struct {
	URL     string    `json:"url"`   // the link with the code in its query: a secret, printed on request only
	Login   string    `json:"login"` // where the code is POSTed as a form
	Code    string    `json:"code"`  // the one-time code
	ID      string    `json:"id"`    // names the code for LoginLinkPending
	Expires time.Time `json:"expires"`
}

// CreateLoginLink makes a one-time login link for a browser.
func (c *Client) CreateLoginLink(ctx context.Context) (LoginLink, error) {
	var out LoginLink
	return out, c.post(ctx, "/api/v1/login-links", nil, &out)
}

// LoginLinkPending reports whether the link named id is still unused and
// unexpired.
func (c *Client) LoginLinkPending(ctx context.Context, id string) (bool, error) {
	err := c.get(ctx, "/api/v1/login-links/"+url.PathEscape(id), nil)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// Metrics is the node's /metrics text (Prometheus exposition format).
func (c *Client) Metrics(ctx context.Context) (string, error) {
	var b []byte
	err := c.get(ctx, "/metrics", &b)
	return string(b), err
}

// Anchors lists the anchors the node knows and how they answer. With
// probe, the node first dials the anchors not connected and pings each
// (a few seconds at most).
func (c *Client) Anchors(ctx context.Context, probe bool) ([]api.AnchorStatus, error) {
	path := "/api/v1/anchors"
	if probe {
		path += "?probe=true"
	}
	var out []api.AnchorStatus
	return out, c.get(ctx, path, &out)
}

// AddAnchor adds an anchor (a multiaddr ending in /p2p/<peer ID>) to the
// running node: saved in its config.toml and dialled. A malformed address
// is a "bad_request" *Error.
func (c *Client) AddAnchor(ctx context.Context, addr string) (api.AnchorStatus, error) {
	var out api.AnchorStatus
	return out, c.post(ctx, "/api/v1/anchors", api.NewAnchorJSON{Addr: addr}, &out)
}

// RemoveAnchor removes every configured address of the anchor with peer
// ID id from the node's config.toml (errors.Is ErrNotFound if none); the
// node uses it until it restarts.
func (c *Client) RemoveAnchor(ctx context.Context, id string) (api.AnchorRemoved, error) {
	var out api.AnchorRemoved
	return out, c.Do(ctx, http.MethodDelete, "/api/v1/anchors/"+url.PathEscape(id), nil, &out)
}
