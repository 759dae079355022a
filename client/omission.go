package client

import (
	"context"
	"net/url"

	"github.com/porchlight-mesh/porchlight/api"
)

// OmissionChecks judges each clip this home shared for a request against
// the agency's yield (GET /api/v1/requests/{id}/omissions).
func (c *Client) OmissionChecks(ctx context.Context, request string) ([]api.OmissionCheckJSON, error) {
	var out []api.OmissionCheckJSON
	return out, c.get(ctx, "/api/v1/requests/"+url.PathEscape(request)+"/omissions", &out)
}

// PublishedOmissions is the answer of PublishOmission.
type PublishedOmissions struct {
	Records []string `json:"records"`
	// Error, when set, says why the clips after those published were not.
	Error string `json:"error,omitempty"`
}

// PublishOmission publishes, in this home's public log, a proof for each
// clip of this home proven missing from the request's yield. Only call it
// once the user has read api.OmissionReveals and agreed.
func (c *Client) PublishOmission(ctx context.Context, request string) (PublishedOmissions, error) {
	var out PublishedOmissions
	return out, c.post(ctx, "/api/v1/requests/"+url.PathEscape(request)+"/omissions", api.PublishOmissionJSON{Confirm: true}, &out)
}
