// Package requests implements agency requests for assistance: issuers and
// their credentials, the rules every node enforces on requests and their
// updates, each agency's public history, and the local, private match
// against this home's location.
//
// # Records
//
// A Request and its RequestUpdates (close, note) are records in the
// agency's own append-only log (package record), gossiped on
// porchlight/<neighborhood>/requests/1. Nothing is ever deleted: a request
// is only closed by a later update of the same log, and a second record for
// one (agency, seq) is equivocation, kept as proof and flagged everywhere.
//
// Credentials and revocations are issuer documents: standalone envelopes
// signed by an issuer's offline key (record.OpenDoc). Nodes trust the
// issuers listed in their config; sync carries documents to late joiners,
// before records that depend on them.
//
// # Rules (CheckEntry)
//
// A request is accepted only if, at its created time: the credential it
// names is known (else the request is held: ignored, and the sender synced
// with), signed by a trusted issuer, names the request's author, is valid
// and not revoked; the area is a circle or a simple polygon of 0.025 to 0.5
// square miles lying inside the jurisdiction, whose diameter and perimeter
// are at most twice those of a circle of the maximum area (ExtentFactor);
// the window lasts 15 minutes to 12 hours and ends at most 1 hour after the
// request was made; the agency has fewer than 10 open requests in the log
// before it. An update must name a request of the same log. A Yield (the
// clips an agency received for one of its requests, yield.go) must be in
// an agency's log, name a request of that log, count no commitment a
// Yield of the request already counted, and keep each share's bytes and
// seconds within bounds. A neighborhood
// may tighten these limits; a looser limit needs Limits.AllowLooser and is
// logged.
//
// The created time is the agency's own claim, so it is pinned two ways. A
// request may not be dated before any earlier record of its log. And a
// revocation may name valid_through_seq, the last position of the agency's
// log the credential covers: a request at a later position is refused
// whatever time it claims (RevokeThrough; `porchlight issuer revoke
// --through-seq`). Without a position, a revoked or lapsed agency can still
// date a new request between its last record and the revocation or expiry
// time; see docs/threat-model.md.
//
// Credentials of issuers this node does not trust are held only in memory
// (UntrustedDocs, Collectors), never relayed or offered in sync; issuer
// documents with unknown protobuf fields are refused.
//
// All checks depend only on the record, the documents and the agency's log
// before it, so every node reaches the same verdict whatever order things
// arrive in (a revocation that arrives after a request it invalidates marks
// the request as made under a revoked credential; it is never deleted).
//
// # Tables (in the node's records database, declared in store/keys.go)
//
//	D I        issuer document (credential or revocation) of a trusted
//	           issuer, by ID
//	G A I      agency A holds credential I
//	V I        the earliest revocation of credential I (its ID)
//	W I        the least valid_through_seq any revocation of I names (8)
//
// Databases written before December 2026 also stored the documents of
// untrusted issuers; the records database's migration to schema version 2
// removes them (store/migrate.go).
//
// Matching is local: whether this home lies in a request's area is computed
// here and shown only to its owner. Declining is doing nothing: no message
// is ever sent in response to a request.
package requests
