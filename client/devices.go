package client

import (
	"context"
	"net/http"
	"net/url"

	"github.com/porchlight-mesh/porchlight/api"
)

// CreatePairLink asks the node for a one-time pairing link for a browser
// on another device of the home network, named name ("" for the node's
// default). The node starts serving the LAN if it did not.
func (c *Client) CreatePairLink(ctx context.Context, name string) (api.PairLink, error) {
	var out api.PairLink
	return out, c.post(ctx, "/api/v1/pair-links", api.PairLinkRequest{Name: name}, &out)
}

// Devices lists the paired devices and the LAN listener.
func (c *Client) Devices(ctx context.Context) (api.Devices, error) {
	var out api.Devices
	return out, c.get(ctx, "/api/v1/devices", &out)
}

// RevokeDevice ends the paired device id's session (errors.Is ErrNotFound
// if there is none).
func (c *Client) RevokeDevice(ctx context.Context, id string) error {
	return c.Do(ctx, http.MethodDelete, "/api/v1/devices/"+url.PathEscape(id), nil, nil)
}
