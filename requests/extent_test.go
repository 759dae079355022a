package requests_test

import (
	"math"
	"testing"

	"github.com/porchlight-mesh/porchlight/record"
	"github.com/porchlight-mesh/porchlight/requests"
)

// ruleComb is a comb of teeth teeth, each tall meters high and wide meters
// wide, spread over width meters along a spine 10 m deep, with one extra
// vertex in the middle of the spine's straight south edge: 4*teeth+5
// vertices.
func ruleComb(teeth int, width, tall, wide float64) requests.Area {
	const spine = 10.0
	ne := []float64{0, 0, 0, width / 2, 0, width, spine, width}
	step := (width - 100 - wide) / float64(teeth-1)
	for i := teeth - 1; i >= 0; i-- {
		x := 50 + float64(i)*step
		ne = append(ne, spine, x+wide, tall, x+wide, tall, x, spine, x)
	}
	return rulePolygon(ne...)
}

// ruleRhombus has its two far vertices length meters apart on one meridian
// and is 60 m wide: its diameter is length.
func ruleRhombus(length float64) requests.Area {
	return rulePolygon(0, 0, length/2, 30, length, 0, length/2, -30)
}

// TestRequestShapeExtent: the area rule alone lets a comb or a sliver of
// legal size reach across a town. A request's shape must also fit the
// extent of the largest allowed circle, with room for ordinary blocks: its
// diameter at most twice that circle's (2,568 m at 0.5 sq mi) and its
// perimeter at most twice that circle's (8,068 m).
func TestRequestShapeExtent(t *testing.T) {
	// Computed here, not by the package: 4 radii of a circle of 0.5 sq mi.
	maxDiameter := 4 * math.Sqrt(0.5*2_589_988.110336/math.Pi) // 2568.4 m
	tight := requests.DefaultLimits
	tight.MaxArea = 0.25 // diameter bound 1816 m
	wide := requests.Area{Center: ruleCenter, Radius: 20_000}

	tests := []struct {
		name   string
		area   requests.Area
		limits requests.Limits
		want   record.Reason
	}{
		{name: "comb: 61 vertices, 0.47 sq mi, 8 km x 4.5 km, 142 km of edge", area: ruleComb(14, 8000, 4500, 18), want: record.ReasonAreaSize},
		{name: "comb folded into 1.8 x 1.7 km: diameter fits, 51 km of edge", area: ruleComb(14, 1800, 1700, 29), want: record.ReasonAreaSize},
		{name: "thin sliver 3 km x 25 m (0.029 sq mi)", area: rulePolygon(0, 0, 0, 3000, 25, 3000, 25, 0), want: record.ReasonAreaSize},
		{name: "street strip 2.4 km x 30 m (0.028 sq mi)", area: rulePolygon(0, 0, 0, 2400, 30, 2400, 30, 0)},
		{name: "convex block 1 km square (0.386 sq mi)", area: ruleSquare(-500, -500, 1000)},
		{name: "block 2.2 km x 560 m at the maximum area (0.476 sq mi)", area: rulePolygon(0, 0, 0, 2200, 560, 2200, 560, 0)},
		{name: "concave L 1.2 km a side, arms 400 m (0.309 sq mi)", area: rulePolygon(0, 0, 0, 1200, 400, 1200, 400, 400, 1200, 400, 1200, 0)},
		{name: "circle of the maximum area (642 m)", area: ruleCircle(0, 0, 642)},
		{name: "rhombus exactly at the diameter bound", area: ruleRhombus(maxDiameter)},
		{name: "rhombus 1 m over the diameter bound", area: ruleRhombus(maxDiameter + 1), want: record.ReasonAreaSize},
		{name: "strip 1.9 km x 60 m under a tightened maximum area", area: rulePolygon(0, 0, 0, 1900, 60, 1900, 60, 0), limits: tight, want: record.ReasonAreaSize},
		{name: "the same strip under the default limits", area: rulePolygon(0, 0, 0, 1900, 60, 1900, 60, 0)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := tt.limits
			if l.MaxArea == 0 {
				l = requests.DefaultLimits
			}
			if err := tt.area.Check(); err != nil {
				t.Fatalf("test shape: %v", err)
			}
			t.Logf("%.3f sq mi, diameter %.0f m, perimeter %.0f m", tt.area.SquareMiles(), tt.area.Diameter(), tt.area.Perimeter())
			err := requests.CheckShape(tt.area.ToPB(), wide.ToPB(), l)
			ruleVerdict(t, "CheckShape", err, tt.want, false)
		})
	}
}
