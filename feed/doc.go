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
package feed
