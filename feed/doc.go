// Package feed is a neighborhood's feed: the posts homes write (kinds,
// text, an optional coarse location, replies) and retract, listed newest
// first, and the clips a post shares with the whole neighborhood.
//
// A post is a record of its author's signed log (record.CheckPost states
// its rules; package mesh carries logs). A post that attaches clips
// carries a grant the author signed for the whole neighborhood (no
// grantee) for ClipGrantPeriod: SharedGrant is the one rule for which
// grant a post shares, used by the listing, by the clip fetch of a
// neighbor (Service.PostGrant) and by Retract, which revokes the grant
// before it withdraws the post.
//
// Posting with clips is one operation: the grant is issued and the clips
// held (by the Sharer) before the post is written, and if the post then
// fails, the grant is revoked and the holds released.
//
// # Per-author limits
//
// Every node refuses the feed records (profiles, posts, retractions, and
// yield omissions: a home's records, though never shown as posts) of
// an author past the neighborhood's Limits (DefaultLimits, which a
// charter may only tighten): a Limiter judges each one before it is
// stored. To reach the same verdict on every node, whatever order records
// arrive in and whether they came by gossip or sync, a record is judged
// from its own signed created time and size and from the records before
// it in its author's log (seq below its own), never from arrival times:
//
//   - Rated records (posts, profiles and yield omissions) are taken in log order, each at
//     its created time clamped to be no earlier than the rated record
//     before it (so a backdated record gains nothing). A record is
//     refused (record.ReasonRate) when PostsPerHour rated records lie in
//     the rolling hour that ends at its time, or when it runs ahead of a
//     GCRA bucket of Burst records refilled at PostsPerHour per hour.
//     A retracted post, whose content (and time) every node has purged,
//     counts at the time of the rated record before it (with none, of the
//     next rated record or retraction): retracting does not give back the
//     rate.
//   - Retractions are not rate-limited.
//   - The envelopes of the author's feed records that are not retracted,
//     with this one, may take at most MaxBytes (record.ReasonSize); a
//     retraction counts after its effect, so retracting a post frees its
//     bytes.
//
// A post or profile is judged only once every earlier record of its log
// is held; until then the Limiter says it is held (mesh.ErrHeld), and
// sync brings the log in order. A retraction whose target is missing (a
// node catching up receives a retracted post as a stub, which it accepts
// only after the retraction) is judged from the records held.
//
// Service.Post checks the limits before it writes, and says how long to
// wait instead of writing a post the neighbors would refuse.
//
// # Mute
//
// Muting is local to a home: nothing is sent. The muted authors are the
// keys of store.Mutes (table 'U' of the records database):
//
//	U P     (empty): this home muted author P (peer ID bytes)
//
// List leaves out their posts and replies unless IncludeMuted is given.
package feed
