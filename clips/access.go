package clips

import (
	"errors"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/porchlight-mesh/porchlight/record"
)

// Reasons CanFetch refuses. Every refusal wraps exactly one of them, so
// the owner's access log can say why a fetch was refused.
var (
	// ErrNoGrant: no grant was presented, or it is not this owner's.
	ErrNoGrant = errors.New("no grant from this clip's owner")
	// ErrNotGrantee: the grant names another peer.
	ErrNotGrantee = errors.New("grant is for another peer")
	// ErrClipNotGranted: the grant does not name the clip.
	ErrClipNotGranted = errors.New("grant does not cover this clip")
	// ErrGrantExpired: the grant is outside its validity period.
	ErrGrantExpired = errors.New("grant is not valid at this time")
	// ErrGrantRevoked: the owner revoked the grant.
	ErrGrantRevoked = errors.New("grant was revoked by its owner")
)

// MaxGrantSkew is how far ahead of the serving node's clock a grant's issue
// time may be: the owner signs grants with its own clock and serves them
// with the same, so only a clock step between the two needs room.
const MaxGrantSkew = record.MaxClockSkew

// CanFetch reports whether requester may fetch clip, owned by owner, on the
// strength of grant g at time now; revoked says whether the owner revoked g.
// It returns nil, or an error wrapping one of ErrNoGrant, ErrNotGrantee,
// ErrClipNotGranted, ErrGrantExpired and ErrGrantRevoked.
//
// It consults nothing but its arguments, and assumes nothing about them: g
// may be nil, another owner's, or a grant for the whole neighborhood.
func CanFetch(g *SignedGrant, revoked bool, requester, owner peer.ID, clip record.ID, now time.Time) error {
	switch {
	case g == nil || g.G == nil:
		return ErrNoGrant
	case owner == "" || g.Owner != owner || peer.ID(g.G.GetOwner()) != owner:
		// The last test catches a SignedGrant assembled by hand whose
		// fields disagree: only OpenGrant ties Owner to the signature.
		return fmt.Errorf("%w: grant %s is signed by %s", ErrNoGrant, g.GrantID(), g.Owner)
	case revoked:
		return fmt.Errorf("%w: grant %s", ErrGrantRevoked, g.GrantID())
	}
	if issued := g.Issued(); now.Add(MaxGrantSkew).Before(issued) {
		return fmt.Errorf("%w: grant %s is issued %s, in the future", ErrGrantExpired, g.GrantID(), issued.UTC().Format(time.RFC3339))
	}
	if exp := g.Expires(); !now.Before(exp) {
		return fmt.Errorf("%w: grant %s expired %s", ErrGrantExpired, g.GrantID(), exp.UTC().Format(time.RFC3339))
	}
	if requester == "" {
		return fmt.Errorf("%w: the requester is unknown", ErrNotGrantee)
	}
	if ge := g.Grantee(); ge != "" && ge != requester {
		return fmt.Errorf("%w: grant %s is for %s, not %s", ErrNotGrantee, g.GrantID(), ge, requester)
	}
	if clip.IsZero() || !g.Covers(clip) {
		return fmt.Errorf("%w: grant %s does not name clip %s", ErrClipNotGranted, g.GrantID(), clip)
	}
	return nil
}
