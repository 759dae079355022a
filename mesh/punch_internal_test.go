package mesh

import (
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// A failed hole punch is retried after punchBackoff, doubling up to
// punchMaxWait; a success resets the backoff.
func TestPunchBackoff(t *testing.T) {
	p := &puncher{
		m:     &Mesh{cfg: Config{Logger: slog.New(slog.DiscardHandler)}},
		since: map[peer.ID]time.Time{},
		next:  map[peer.ID]time.Time{},
		wait:  map[peer.ID]time.Duration{},
	}
	id := peer.ID("home")
	now := time.Unix(1_800_000_000, 0)
	want := punchBackoff
	for i := 0; i < 12; i++ {
		p.active = 1
		p.done(id, errors.New("all retries for hole punch failed"), now)
		if got := p.next[id].Sub(now); got != want {
			t.Fatalf("attempt %d: next try in %v, want %v", i+1, got, want)
		}
		if p.active != 0 {
			t.Fatalf("attempt %d: %d punches still counted active", i+1, p.active)
		}
		want = min(2*want, punchMaxWait)
	}
	if p.wait[id] != punchMaxWait {
		t.Fatalf("backoff %v after 12 failures, want the cap %v", p.wait[id], punchMaxWait)
	}
	p.active = 1
	p.done(id, nil, now)
	if _, ok := p.wait[id]; ok || p.next[id].Sub(now) != punchBackoff {
		t.Fatalf("after a success: wait %v, next in %v; want no backoff and %v", p.wait[id], p.next[id].Sub(now), punchBackoff)
	}
}

// Each neighbor's periodic pull has a fixed point in the interval, spread
// over it; short intervals are not spread.
func TestSyncSpreadOffset(t *testing.T) {
	s := &syncer{m: &Mesh{self: peer.ID("anchor"), cfg: Config{SyncInterval: 30 * time.Second}}}
	seen := map[time.Duration]bool{}
	for i := range 200 {
		p := peer.ID([]byte{byte(i), byte(i >> 8), 'h'})
		off := s.spreadOffset(p)
		if off < 0 || off >= 30*time.Second-followUpDelay {
			t.Fatalf("offset %v of peer %d outside [0, %v)", off, i, 30*time.Second-followUpDelay)
		}
		if again := s.spreadOffset(p); again != off {
			t.Fatalf("offset of peer %d changed: %v then %v", i, off, again)
		}
		seen[off/time.Second] = true
	}
	if len(seen) < 20 {
		t.Fatalf("200 neighbors fall in %d distinct seconds of the interval; want them spread", len(seen))
	}
	s.m.cfg.SyncInterval = time.Second
	if off := s.spreadOffset("x"); off != 0 {
		t.Fatalf("offset %v with a 1 s interval, want 0", off)
	}
}

// A record refused because its peer was no member yet makes the anchors
// be asked again once the roster grows, and only then.
func TestRosterGrowthAsksTheAnchorsAgain(t *testing.T) {
	b := &addrBook{m: &Mesh{}, meta: map[peer.ID]abMeta{}, asked: map[peer.ID]time.Time{"anchor": time.Now()}, anchorEvery: map[peer.ID]time.Duration{"anchor": peersAskEvery}}
	b.rosterGrew()
	if b.missing() || b.recheck {
		t.Fatal("the roster grew with nothing refused, yet the anchors are to be asked again")
	}
	b.refused = true
	b.rosterGrew()
	if !b.missing() {
		t.Fatal("a record was refused and the roster grew, yet nothing is missing")
	}
	if len(b.anchorEvery) != 0 || len(b.asked) != 0 {
		t.Fatalf("the anchors' ask intervals were kept (%v, %v); want them asked at once", b.anchorEvery, b.asked)
	}
}
