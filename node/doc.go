// Package node assembles a Porchlight node from its data directory: the
// identity, the two databases, the mesh, the services (requests, and
// sharing: grants, the clip and share protocols, evidence) and the local
// API; Start runs it and Close stops everything Start started. Each
// workflow belongs to its own package; node only wires them.
//
// # Data directory
//
//	identity.key   Ed25519 libp2p private key (0600)
//	identity.new   written by init with a brand-new key, removed once the
//	               home's log has a record; without it, a key with an empty
//	               database is taken as restored (see NewKeyFile)
//	config.toml    settings (see Config; LoadConfig parses it into Settings)
//	api.token      bearer token of the local API (0600)
//	api.addr       address the running node's API listens on (while running)
//	api.crt        the API's TLS certificate, which the CLI pins (while the
//	               API serves HTTPS)
//	db/            the record database: logs, requests, grants, the access
//	               log (see package store)
//	clips/         the clips' own Badger database (see clips.OpenDB)
package node
