package sharing

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/porchlight-mesh/porchlight/clips"
	"github.com/porchlight-mesh/porchlight/mesh"
)

// TestRelayCheck: only a clip over a relayed (limited) connection that is
// larger than the anchor relays is refused, with the exact words the CLI
// and the UI show.
func TestRelayCheck(t *testing.T) {
	const limit = mesh.RelayCircuitData
	maple := Reach{Name: "12 Maple St", NAT: mesh.NATEndpointIndependent}
	cases := []struct {
		name    string
		r       Reach
		size    int64
		limited bool
		want    string // "" = no error
	}{
		{"direct, large", maple, 40 << 20, false, ""},
		{"relayed, small", maple, 1 << 20, true, ""},
		{"relayed, exactly the limit", maple, limit, true, ""},
		{"relayed, one byte over", maple, limit + 1, true,
			"no direct path to 12 Maple St; its NAT lets no direct connection through (hole punching failed), only a connection relayed by an anchor: the clip is 16.0 MB and the anchor relays at most 16 MB per connection; forwarding TCP and UDP port 7781 on either home's router to its node makes a direct path"},
		{"relayed, large, symmetric here", Reach{Name: "12 Maple St", NAT: mesh.NATEndpointDependent}, 40 << 20, true,
			"no direct path to 12 Maple St; its NAT or this home's, which is endpoint-dependent (symmetric), lets no direct connection through, only a connection relayed by an anchor: the clip is 40 MB and the anchor relays at most 16 MB per connection; forwarding TCP and UDP port 7781 on either home's router to its node makes a direct path"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := relayCheck(c.r, c.size, limit, c.limited)
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("relayCheck = %v, want nil", err)
			case c.want != "" && (err == nil || err.Error() != c.want):
				t.Fatalf("relayCheck =\n%v\nwant\n%s", err, c.want)
			case c.want != "" && !errors.Is(err, ErrNoDirectPath):
				t.Fatalf("%v does not match ErrNoDirectPath", err)
			}
		})
	}
}

// TestRelayCut: a relayed transfer that fails is the relay's cut, said so;
// a refusal, a bad chunk, a caller that gave up or a direct connection
// keep their own error.
func TestRelayCut(t *testing.T) {
	maple := Reach{Name: "12 Maple St", NAT: mesh.NATUnknown}
	reset := errors.New("read chunk 57: stream reset")
	live := context.Background()
	gone, cancel := context.WithCancel(context.Background())
	cancel()
	cases := []struct {
		name    string
		ctx     context.Context
		limited bool
		err     error
		cut     bool
	}{
		{"relayed, reset", live, true, reset, true},
		{"direct, reset", live, false, reset, false},
		{"relayed, refused", live, true, fmt.Errorf("fetch: %w", clips.ErrRefused), false},
		{"relayed, bad chunk", live, true, fmt.Errorf("fetch: %w", clips.ErrChunkMismatch), false},
		{"relayed, caller gave up", gone, true, reset, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := relayCut(c.ctx, maple, 10<<20, mesh.RelayCircuitData, c.limited, c.err)
			if got := errors.Is(err, ErrNoDirectPath); got != c.cut {
				t.Fatalf("relayCut = %v; cut %v, want %v", err, got, c.cut)
			}
			if !errors.Is(err, c.err) {
				t.Fatalf("relayCut = %v lost the cause %v", err, c.err)
			}
		})
	}
	want := "no direct path to 12 Maple St; its NAT lets no direct connection through (hole punching failed), only a connection relayed by an anchor, and the transfer was cut there (read chunk 57: stream reset): the clip is 10 MB and the anchor relays at most 16 MB per connection, for at most 30 minutes; forwarding TCP and UDP port 7781 on either home's router to its node makes a direct path"
	if got := relayCut(live, maple, 10<<20, mesh.RelayCircuitData, true, reset).Error(); got != want {
		t.Fatalf("cut message\n%s\nwant\n%s", got, want)
	}
}
