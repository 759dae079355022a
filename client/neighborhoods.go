package client

import (
	"context"

	"github.com/porchlight-mesh/porchlight/api"
)

// Neighborhoods lists the node's own neighborhood, then those it serves
// for agency requests only, each with its connected neighbors.
func (c *Client) Neighborhoods(ctx context.Context) ([]api.NeighborhoodJSON, error) {
	var out []api.NeighborhoodJSON
	return out, c.get(ctx, "/api/v1/neighborhoods", &out)
}
