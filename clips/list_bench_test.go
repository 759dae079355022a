package clips_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/porchlight-mesh/porchlight/clips"
)

// BenchmarkListing measures listing a home's month of clips: perCamera
// clips a day (50) for 30 days from each of 1 or 3 cameras (1,500 or
// 4,500 clips). "first page" is the UI's first request (50 newest, every
// camera), "camera page" its camera filter, "day page" a day of one
// camera, "count overlapping" a request's matching count (a 2-hour
// window); "List" reads every manifest, as GET /api/v1/clips without
// parameters does (and GET /api/v1/requests did). Figures are in docs/benchmarks.md.
func BenchmarkListing(b *testing.B) {
	for _, cams := range [][]string{{"front-door"}, {"front-door", "driveway", "back-yard"}} {
		b.Run(fmt.Sprintf("clips=%d", 30*50*len(cams)), func(b *testing.B) {
			s := newStore(b, 1, clips.Config{})
			now := time.Now()
			homeClips(b, s, 30, 50*len(cams), now, cams...)
			day := now.Add(-10 * 24 * time.Hour).Truncate(24 * time.Hour)
			for _, q := range []struct {
				name string
				q    clips.Query
				want int
			}{
				{"first page", clips.Query{}, 50},
				{"camera page", clips.Query{Camera: "front-door"}, 50},
				{"day page", clips.Query{Camera: "front-door", Since: day, Until: day.Add(24 * time.Hour)}, 50},
			} {
				b.Run(q.name, func(b *testing.B) {
					for b.Loop() {
						p, err := s.Page(q.q)
						if err != nil || len(p.Clips) < q.want-1 {
							b.Fatalf("%d clips (%v)", len(p.Clips), err)
						}
					}
				})
			}
			b.Run("count overlapping", func(b *testing.B) {
				for b.Loop() {
					if n, err := s.CountOverlapping("", now.Add(-3*time.Hour), now.Add(-time.Hour)); err != nil || n == 0 {
						b.Fatalf("%d clips (%v)", n, err)
					}
				}
			})
			b.Run("List", func(b *testing.B) {
				for b.Loop() {
					if ms, err := s.List(); err != nil || len(ms) != 30*50*len(cams) {
						b.Fatalf("%d clips (%v)", len(ms), err)
					}
				}
			})
		})
	}
}
