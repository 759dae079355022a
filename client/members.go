package client

import (
	"context"
	"net/http"
	"net/url"

	"github.com/porchlight-mesh/porchlight/api"
)

// Sentinels of the membership routes; match them with errors.Is.
var (
	// ErrForbidden: the neighborhood's rules refuse it (only stewards
	// remove members, ...); the *Error's message says which rule.
	ErrForbidden = &Error{Code: "forbidden", Message: "refused by the neighborhood's rules"}
	// ErrNoMembership: the node is in an open neighborhood, which has no
	// members, invites or mutes.
	ErrNoMembership = &Error{Code: "no_membership", Message: "this node has no membership (open neighborhood)"}
	// ErrAlreadyMember: Join on a node that is a member already.
	ErrAlreadyMember = &Error{Code: "already_member", Message: "this node is already a member"}
)

// Members is the roster, removed members included and marked, sorted by
// joined.
func (c *Client) Members(ctx context.Context) ([]api.MemberInfo, error) {
	var out []api.MemberInfo
	return out, c.get(ctx, "/api/v1/members", &out)
}

// RemoveMember removes a member (a peer ID) with a reason every member
// sees; ErrForbidden unless this home is a steward.
func (c *Client) RemoveMember(ctx context.Context, peerID, reason string) error {
	return c.post(ctx, "/api/v1/members/"+url.PathEscape(peerID)+"/remove", api.RemoveJSON{Reason: reason}, nil)
}

// SetSteward names (on) or unnames a steward; ErrForbidden unless this
// home is a steward.
func (c *Client) SetSteward(ctx context.Context, peerID string, on bool) error {
	return c.post(ctx, "/api/v1/members/"+url.PathEscape(peerID)+"/steward", api.StewardJSON{Steward: on}, nil)
}

// CreateInvite signs an invite (zero values: the API's defaults, 72h and
// one use). The answer's Invite string is a secret until used.
func (c *Client) CreateInvite(ctx context.Context, in api.NewInviteJSON) (api.InviteCreated, error) {
	var out api.InviteCreated
	return out, c.post(ctx, "/api/v1/invites", in, &out)
}

// Invites lists this home's invites, newest first.
func (c *Client) Invites(ctx context.Context) ([]api.InviteInfo, error) {
	var out []api.InviteInfo
	return out, c.get(ctx, "/api/v1/invites", &out)
}

// RevokeInvite revokes one of this home's invites by its ID or a prefix
// of at least 8 characters (errors.Is ErrNotFound).
func (c *Client) RevokeInvite(ctx context.Context, id string) error {
	return c.post(ctx, "/api/v1/invites/"+url.PathEscape(id)+"/revoke", nil, nil)
}

// Mutes lists the peers muted on this home.
func (c *Client) Mutes(ctx context.Context) ([]string, error) {
	var out []string
	return out, c.get(ctx, "/api/v1/mutes", &out)
}

// Mute hides a peer's posts on this home only; nothing is sent.
func (c *Client) Mute(ctx context.Context, peerID string) error {
	return c.post(ctx, "/api/v1/mutes/"+url.PathEscape(peerID), nil, nil)
}

// Unmute shows a peer's posts again.
func (c *Client) Unmute(ctx context.Context, peerID string) error {
	return c.Do(ctx, http.MethodDelete, "/api/v1/mutes/"+url.PathEscape(peerID), nil, nil)
}

// Join hands a node that is not yet a member an invite string, and
// returns its status: member, or pending until it reaches a member. A
// refused invite is an ErrBadRequest with the reason.
func (c *Client) Join(ctx context.Context, invite string) (api.Status, error) {
	var out api.Status
	return out, c.post(ctx, "/api/v1/join", api.JoinJSON{Invite: invite}, &out)
}
