// Package api is the node's local HTTP API, on 127.0.0.1 only (unless
// Config.AllowRemote, which requires TLS). Its clients are the web UI and
// package client (github.com/porchlight-mesh/porchlight/client), which the
// CLI, the demo, the bench and the tests use.
//
// Every route passes through guard: the bearer token (Authorization:
// Bearer) or a session cookie, a Host header that names a loopback host,
// or with AllowRemote a name the TLS certificate covers (against DNS
// rebinding), and for mutating methods no foreign Origin, a disk that
// takes writes, and a JSON body (against CSRF) or, for the clip upload
// alone, the clip's bytes with the X-Porchlight-Upload header, which a
// cross-site form cannot send either. No CORS headers are sent. Errors are JSON objects
// {"error": "...", "code": "..."}, mapped from Go errors in writeError only.
// The membership routes answer 404 "no_membership" in an open
// neighborhood (Config.Members nil). A clip fetch that cannot cross the
// only path to the owner, a connection relayed by an anchor, answers 502
// "no_direct_path" with the words to show the user; one whose owner cannot
// be reached at all (offline, or no path, direct or relayed, answers)
// answers 502 "unreachable", naming the owner.
//
// Routes (v1):
//
//	GET    /api/v1/status        this node: peer_id, name, neighborhood, api, peers, addrs,
//	                             reachability, nat, anchor, addresses {listen, observed, relay}, anchors,
//	                             mqtt {configured, connected, broker, last_error},
//	                             agency (a trusted credential names this node: the UI's agency menus)
//	GET    /api/v1/peers         connected neighbors: peer_id, name, addrs, since, equivocated, path, rtt_ms
//	GET    /api/v1/anchors       the anchors this node knows and whether they answer (?probe=true dials and pings)
//	POST   /api/v1/anchors       add an anchor {addr}: saved in config.toml and dialled now
//	DELETE /api/v1/anchors/{peer}  forget an anchor (config.toml; in use until the node restarts)
//	GET    /api/v1/feed          posts, newest first (?limit=, default 100, max 1000; ?before= the
//	                             Link header's next page of a full page: rel="next")
//	POST   /api/v1/posts         write a post {kind, text, location?, reply_to?}
//	DELETE /api/v1/posts/{id}    retract an own post
//	POST   /api/v1/posts/check   anti-profiling advice on a post before it is written {kind, text}: prompt, why, suggest
//	GET    /api/v1/requests      requests for assistance, newest first (?agency=, ?limit= default 100), with covers_home
//	POST   /api/v1/requests      make a request (agency nodes) {case, incident, description, contact, area, from, to}
//	POST   /api/v1/requests/{id}/close   close one of this agency's requests {note}
//	GET    /api/v1/agencies      each agency's credential status and public history
//	GET    /api/v1/neighborhoods this node's neighborhood and those it serves for agency requests, with peers
//	POST   /api/v1/documents     store and publish a credential or revocation {document: base64}
//	GET    /api/v1/trust         trusted issuer IDs
//	POST   /api/v1/trust         trust an issuer {issuer}
//	GET    /api/v1/events        server-sent events (names in package events)
//	POST   /api/v1/login-links   a one-time browser login link (porchlight ui)
//	GET    /login?code=          redeem it: HttpOnly SameSite=Strict session cookie; no token, works once
//	POST   /api/v1/pair-links    a one-time pairing link for a browser on the LAN {name} (porchlight pair; see devices.go)
//	GET    /pair?code=, POST /pair   on the LAN listener only: the pairing page, and redeeming its code (device session)
//	GET    /api/v1/devices       paired devices (name, first and last seen) and the LAN listener; DELETE /api/v1/devices/{id} revokes one
//	GET    /                     the web UI page (api/ui/index.html)
//	GET    /ui/{file}            the UI's script and style (api/ui/*.js, *.css), embedded
//	GET    /api/v1/limits        the request rules in force, for the request form
//	GET    /api/v1/members       the roster of an invite-only neighborhood (removed members marked)
//	POST   /api/v1/members/{peer}/remove   remove a member {reason} (stewards only: 403 forbidden)
//	POST   /api/v1/members/{peer}/steward  name or unname a steward {steward} (stewards only)
//	POST   /api/v1/invites       sign an invite {expires, uses}: the string and its QR code (qr_svg)
//	GET    /api/v1/invites       this home's invites; POST /api/v1/invites/{id}/revoke revokes one
//	GET    /api/v1/mutes         muted peers; POST and DELETE /api/v1/mutes/{peer} mute and unmute (this home only)
//	POST   /api/v1/join          a node not yet a member joins with an invite {invite}
//	GET    /api/v1/clips (all, or a page: limit, cursor, camera, since, until, owner; Link rel="next"),
//	       GET /api/v1/clips/cameras, POST /api/v1/clips, GET /api/v1/clips/{id}/video, grants, audit, evidence: see openapi.json
//	GET    /api/v1/openapi.json  the OpenAPI 3 document (kept equal to the routes by a test)
//	GET    /metrics              Prometheus metrics
//
// A request is authorized by the bearer token or by a session cookie from
// a login link. The cookie's name ends with the API's port: browsers share
// cookies across the ports of a host.
//
// The web UI (api/ui) is plain HTML, CSS and JavaScript with no build
// step; its Content-Security-Policy allows scripts, styles, media and
// connections from this origin only. ui/browsertest drives it in Chromium.
package api
