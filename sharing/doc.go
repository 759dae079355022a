// Package sharing is a node's consent and evidence workflow, as one
// service (Service, built by New from a Config) that the node assembles and
// the local API is handed:
//
//   - an owner shares clips: Share issues a signed grant (package clips),
//     holds the clips and delivers the grant over /porchlight/share/1; a
//     grantee that cannot be reached gets it later from the share outbox,
//     while the grant is valid;
//   - the owner's node serves the clips over /porchlight/clip/1 to
//     grantees only, and writes every attempt to the access log (Audit);
//   - a grantee fetches a clip by hand (FetchClip); an agency's node
//     fetches on its own the clips of grants that answer its own open
//     requests (clips.Intake), signs a transfer record for each, holds it
//     for good, and exports evidence bundles (Evidence, ExportEvidence);
//   - RevokeGrant revokes a grant; its clips go back to normal retention
//     once no other grant covers them.
//
// # State
//
// Everything lives in the node's records database, under the keys listed
// in keys.go: the access log, the grants, the share outbox (grants to
// deliver), the inbox (delivered grants whose clips an agency still has
// to fetch: a fetch that fails, because the owner is offline or the node
// restarts, is tried again until the grant expires) and the hold index
// (why each clip is held). The clips themselves are in the clip database
// (clips.Store).
//
// A clip is held while a hold of the index keeps it: one per live grant of
// this home that names it, one for good per clip received as evidence. A
// hold is written to the index before the clip is held, so one that fails
// or is interrupted is retried by the keeper (every Config.HoldCheck)
// rather than forgotten: evidence must not silently expire. The keeper also
// ends the holds of grants that expired and releases a clip once no live
// hold covers it. A data directory from before the index gets it built on
// first open (buildHoldIndex).
//
// # Shutdown
//
// Close stops the inbound protocols first (no grant arrives and no clip is
// served after), then ends the service's context (the outbox, the keeper
// and the operations in progress stop), waits for them, and closes the
// intake last. Share, RevokeGrant and FetchClip are the operations it
// waits for (it cuts their contexts short); called after Close has begun,
// they return ErrClosed.
//
// Package sharing does not import the local API (package api imports it):
// events go out through Config.OnEvent, with the names of package events.
package sharing
