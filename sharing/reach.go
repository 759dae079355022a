package sharing

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/porchlight-mesh/porchlight/clips"
	"github.com/porchlight-mesh/porchlight/mesh"
)

// ErrNoDirectPath matches a *NoDirectPathError.
var ErrNoDirectPath = errors.New("no direct path")

// Reach is how this home reaches a clip's owner, for the words of a
// *NoDirectPathError.
type Reach struct {
	// Name is the owner's name as neighbors see it ("": its peer ID is
	// used).
	Name string
	// NAT is this home's NAT kind (mesh.NATEndpointIndependent, ...).
	NAT string
}

// NoDirectPathError says that a clip cannot cross the only path to its
// owner, a connection relayed by an anchor: the clip is larger than the
// anchor relays per connection, or the relayed transfer was cut.
type NoDirectPathError struct {
	Name  string // the owner's name, or peer ID
	NAT   string // this home's NAT kind
	Size  int64  // the clip's size in bytes
	Limit int64  // bytes the anchor relays per connection
	// Cut: the transfer started and the relayed connection ended under it
	// (Err says how); otherwise it was not started.
	Cut bool
	Err error
}

func (e *NoDirectPathError) Error() string {
	why := "its NAT lets no direct connection through (hole punching failed)"
	if e.NAT == mesh.NATEndpointDependent {
		why = "its NAT or this home's, which is endpoint-dependent (symmetric), lets no direct connection through"
	}
	const fix = "; forwarding TCP and UDP port 7781 on either home's router to its node makes a direct path"
	if e.Cut {
		return fmt.Sprintf("no direct path to %s; %s, only a connection relayed by an anchor, and the transfer was cut there (%v): the clip is %s and the anchor relays at most %s per connection, for at most %s%s",
			e.Name, why, e.Err, megabytes(e.Size), megabytes(e.Limit), minutes(mesh.RelayCircuitDuration), fix)
	}
	return fmt.Sprintf("no direct path to %s; %s, only a connection relayed by an anchor: the clip is %s and the anchor relays at most %s per connection%s",
		e.Name, why, megabytes(e.Size), megabytes(e.Limit), fix)
}

func (e *NoDirectPathError) Is(target error) bool { return target == ErrNoDirectPath }

func (e *NoDirectPathError) Unwrap() error { return e.Err }

// megabytes is n bytes in MB (of 2^20 bytes), as a person reads it.
func megabytes(n int64) string {
	mb := float64(n) / (1 << 20)
	if mb == float64(int64(mb)) {
		return fmt.Sprintf("%d MB", int64(mb))
	}
	return fmt.Sprintf("%.1f MB", mb)
}

// minutes is d as a person reads it: "30 minutes".
func minutes(d time.Duration) string {
	if d%time.Minute != 0 || d < time.Minute {
		return d.String()
	}
	return fmt.Sprintf("%d minutes", int(d/time.Minute))
}

// relayCheck decides, once the owner's manifest has arrived, whether a clip
// of size bytes may cross the connection: only a limited (relayed) one
// whose anchor relays at most limit bytes refuses a larger clip.
func relayCheck(r Reach, size, limit int64, limited bool) error {
	if !limited || size <= limit {
		return nil
	}
	return &NoDirectPathError{Name: r.Name, NAT: r.NAT, Size: size, Limit: limit}
}

// relayCut says why a fetch over a limited (relayed) connection failed:
// a refusal, a clip that does not match its manifest, or a caller that
// gave up stay as they are; anything else is the relay's cut.
func relayCut(ctx context.Context, r Reach, size, limit int64, limited bool, err error) error {
	if err == nil || !limited || ctx.Err() != nil ||
		errors.Is(err, ErrNoDirectPath) || errors.Is(err, clips.ErrRefused) || errors.Is(err, clips.ErrChunkMismatch) {
		return err
	}
	return &NoDirectPathError{Name: r.Name, NAT: r.NAT, Size: size, Limit: limit, Cut: true, Err: err}
}

// reach is Config.Reach's answer for owner, named at least by its peer ID.
func (s *Service) reach(owner peer.ID) Reach {
	var r Reach
	if s.cfg.Reach != nil {
		r = s.cfg.Reach(owner)
	}
	if r.Name == "" {
		r.Name = owner.String()
	}
	return r
}

// fetchOverRelay runs fetch (a FetchAndStore) with the path check: a clip
// larger than an anchor relays is refused before its bytes move, and a
// relayed transfer that is cut says so, in a *NoDirectPathError.
func (s *Service) fetchOverRelay(ctx context.Context, owner peer.ID, fetch func(context.Context) (*clips.SignedManifest, error)) (*clips.SignedManifest, error) {
	reach := s.reach(owner)
	var limited bool
	var size int64
	ctx = clips.WithPathCheck(ctx, func(m *clips.SignedManifest, l bool) error {
		limited, size = l, m.Size()
		return relayCheck(reach, size, mesh.RelayCircuitData, limited)
	})
	m, err := fetch(ctx)
	if err != nil {
		err = relayCut(ctx, reach, size, mesh.RelayCircuitData, limited, err)
		if e := new(NoDirectPathError); errors.As(err, &e) {
			return nil, e // its words first, not "fetch clip ...: "
		}
		return nil, err
	}
	return m, nil
}
