package client

import (
	"context"
	"net/url"

	"github.com/porchlight-mesh/porchlight/transparency"
)

// TransparencyQuery narrows a transparency report; zero fields mean all.
type TransparencyQuery struct {
	Agency string // an agency's peer ID
	Since  string // a date (2026-01-31), a month (2026-01) or an RFC 3339 time
}

func (q TransparencyQuery) path(format string) string {
	v := url.Values{}
	if q.Agency != "" {
		v.Set("agency", q.Agency)
	}
	if q.Since != "" {
		v.Set("since", q.Since)
	}
	if format != "" {
		v.Set("format", format)
	}
	if len(v) == 0 {
		return "/api/v1/transparency"
	}
	return "/api/v1/transparency?" + v.Encode()
}

// Transparency is the node's transparency report, computed from the
// signed records it holds.
func (c *Client) Transparency(ctx context.Context, q TransparencyQuery) (*transparency.Report, error) {
	var out transparency.Report
	if err := c.get(ctx, q.path(""), &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// TransparencyCSV is the report as the node writes its CSV: the bytes the
// web UI's download link gives.
func (c *Client) TransparencyCSV(ctx context.Context, q TransparencyQuery) ([]byte, error) {
	var b []byte
	return b, c.get(ctx, q.path("csv"), &b)
}
