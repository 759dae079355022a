// Package client is the typed client of a Porchlight node's local API, the
// one way the CLI, the demo, the bench and the tests talk to a node (as
// Tailscale's client/local is for tailscaled).
//
// A Client is made from a node's data directory ([FromDataDir]: it reads
// the API's address, token and, in remote mode, the certificate to pin,
// all written by the node) or from an explicit URL, token and certificate
// ([New]). Every method sends the token; an answer the API refused
// becomes an [*Error] carrying the HTTP status and the API's stable code,
// and errors.Is matches it against [ErrNotFound], [ErrUnauthorized] and
// the other sentinels. Clips stream both ways without being held in
// memory, with an optional [Progress] callback, and [Client.Events] reads
// the server-sent event stream.
//
// The API's routes and JSON types are package api's (api/doc.go,
// api/openapi.json); this package imports api for the types, never the
// other way round.
package client
