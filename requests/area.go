package requests

import (
	"math"

	"github.com/porchlight-mesh/porchlight/geo"
	"github.com/porchlight-mesh/porchlight/record/pb"
)

// AreaFromPB converts a wire area (micro-degrees, meters).
func AreaFromPB(a *pb.Area) Area {
	pt := func(l *pb.Location) geo.Point { return geo.FromE6(l.GetLatE6(), l.GetLonE6()) }
	switch s := a.GetShape().(type) {
	case *pb.Area_Circle:
		return Area{Center: pt(s.Circle.GetCenter()), Radius: float64(s.Circle.GetRadiusM())}
	case *pb.Area_Polygon:
		var out Area
		for _, p := range s.Polygon.GetPoints() {
			out.Polygon = append(out.Polygon, pt(p))
		}
		return out
	}
	return Area{}
}

// ToPB converts an area to its wire form: micro-degrees and whole meters.
func (a Area) ToPB() *pb.Area {
	loc := func(p geo.Point) *pb.Location {
		lat, lon := p.E6()
		return &pb.Location{LatE6: lat, LonE6: lon}
	}
	if len(a.Polygon) > 0 {
		poly := &pb.Polygon{}
		for _, p := range a.Polygon {
			poly.Points = append(poly.Points, loc(p))
		}
		return &pb.Area{Shape: &pb.Area_Polygon{Polygon: poly}}
	}
	return &pb.Area{Shape: &pb.Area_Circle{Circle: &pb.Circle{Center: loc(a.Center), RadiusM: uint32(math.Round(a.Radius))}}}
}
