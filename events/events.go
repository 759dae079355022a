// Package events names the events a node publishes on its local API's
// event stream (GET /api/v1/events, server-sent events). Every package
// that publishes one, and the web UI's listener, uses these names; a test
// in package api checks that the UI listens for every event published
// and that every event it listens for is published.
//
// It imports nothing, so any package of the node may use it.
package events

// The event types. An event's data is a small JSON object, listed in
// docs/protocol.md ("Local API events"). The web UI redraws on each,
// except Fetch: a fetch's progress is for the client that started it
// (the CLI's progress bar), and the UI's evidence screen polls instead.
const (
	Post       = "post"       // a post was stored (own or a neighbor's)
	Retraction = "retraction" // a post was retracted
	Request    = "request"    // an agency's request for assistance was stored
	Update     = "update"     // a request was updated or closed
	Document   = "document"   // a trusted issuer's credential or revocation was stored
	Clip       = "clip"       // a clip was imported from the watched folder
	Grant      = "grant"      // a grant was delivered to this node
	Share      = "share"      // this home issued a grant
	Revoke     = "revoke"     // this home revoked a grant
	Access     = "access"     // a peer asked for one of this home's clips
	Evidence   = "evidence"   // an agency's node received and holds a clip
	Fetch      = "fetch"      // progress of a clip being fetched here
	Peers      = "peers"      // the set of connected neighbors changed
	Members    = "members"    // the roster changed (an admission, a removal, a steward)
)
