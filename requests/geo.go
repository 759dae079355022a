// Geometry of the areas that requests for assistance cover: parsing,
// validation, surface area, containment and nesting. Pure math on degrees,
// on a spherical Earth, with no dependencies.

package requests

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/porchlight-mesh/porchlight/geo"
)

// Area is a circle (Radius > 0, Polygon nil) or a simple polygon (Radius 0,
// 3..MaxPolygonPoints vertices, not closed: the last vertex is not a repeat
// of the first).
//
// A polygon's edges run straight in latitude and longitude (along a parallel,
// along a meridian, or straight across a plate carrée map between the two).
// That keeps every test exact and cheap, and stays close to the great circle:
// a 100 km edge at 45° latitude strays from it by under 200 m.
// Center is ignored for polygons. Polygons may not cross the antimeridian or
// enclose a pole.
type Area struct {
	Center  geo.Point // circle center
	Radius  float64   // meters
	Polygon []geo.Point
}

// MaxPolygonPoints is the most vertices a polygon may have.
const MaxPolygonPoints = 64

// SquareMeterPerSquareMile converts square meters to square miles.
const SquareMeterPerSquareMile = 2_589_988.110336

const (
	earthRadius     = 6_371_008.8 // meters, the IUGG mean radius
	metersPerDegree = earthRadius * math.Pi / 180
	maxRadius       = 1_000_000 // meters
	// maxPolygonSpan matches the widest circle, so neither shape can
	// describe a larger area than the other.
	maxPolygonSpan = 2 * maxRadius
	// tolerance absorbs rounding: a point this close to the boundary is on
	// it, and an area touching its outer area from inside is within it.
	tolerance = 0.5 // meters

	circleForm  = "circle:LAT,LON,RADIUS_M"
	polygonForm = "polygon:LAT,LON;LAT,LON;LAT,LON[;...]"
)

// ParseArea parses "circle:LAT,LON,RADIUS_M" or
// "polygon:LAT,LON;LAT,LON;LAT,LON[;...]": decimal degrees and meters,
// with spaces allowed around each part. It also runs Check, so a nil error
// means the area is usable. Errors say what was wrong and show the expected
// form.
func ParseArea(s string) (Area, error) {
	a, err := parseArea(s)
	if err == nil {
		err = a.Check()
	}
	if err != nil {
		// Unwrapped: the messages name the part that was wrong, and
		// callers add their own context ("area: ...").
		return Area{}, err
	}
	return a, nil
}

func parseArea(s string) (Area, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Area{}, fmt.Errorf("empty; want %s or %s", circleForm, polygonForm)
	}
	kind, rest, ok := strings.Cut(s, ":")
	if !ok {
		return Area{}, fmt.Errorf("%s does not start with a kind; want %s or %s", quote(s), circleForm, polygonForm)
	}
	switch strings.TrimSpace(kind) {
	case "circle":
		return parseCircle(rest)
	case "polygon":
		return parsePolygon(rest)
	}
	return Area{}, fmt.Errorf("unknown kind %s; want %s or %s", quote(kind), circleForm, polygonForm)
}

func parseCircle(s string) (Area, error) {
	if strings.TrimSpace(s) == "" {
		return Area{}, fmt.Errorf("circle has no numbers; want %s", circleForm)
	}
	if n := strings.Count(s, ",") + 1; n != 3 {
		return Area{}, fmt.Errorf("circle has %d numbers, want 3: %s", n, circleForm)
	}
	f := strings.Split(s, ",")
	var a Area
	var err error
	if a.Center.Lat, err = parseNumber("circle latitude", f[0], circleForm); err != nil {
		return Area{}, err
	}
	if a.Center.Lon, err = parseNumber("circle longitude", f[1], circleForm); err != nil {
		return Area{}, err
	}
	if a.Radius, err = parseNumber("circle radius", f[2], circleForm); err != nil {
		return Area{}, err
	}
	return a, nil
}

func parsePolygon(s string) (Area, error) {
	if strings.TrimSpace(s) == "" {
		return Area{}, fmt.Errorf("polygon has no vertices; want %s", polygonForm)
	}
	// Count before splitting so that a huge input costs no allocation.
	n := strings.Count(s, ";") + 1
	if n > MaxPolygonPoints {
		return Area{}, fmt.Errorf("polygon has %d vertices, more than the limit of %d", n, MaxPolygonPoints)
	}
	if n < 3 {
		return Area{}, fmt.Errorf("polygon has %d vertices, want at least 3: %s", n, polygonForm)
	}
	pts := make([]geo.Point, 0, n)
	for i, v := range strings.Split(s, ";") {
		what := fmt.Sprintf("polygon vertex %d", i+1)
		if strings.TrimSpace(v) == "" {
			return Area{}, fmt.Errorf("%s is empty (a stray ';'?); want %s", what, polygonForm)
		}
		lat, lon, ok := strings.Cut(v, ",")
		if !ok || strings.Contains(lon, ",") {
			return Area{}, fmt.Errorf("%s %s is not LAT,LON; want %s", what, quote(strings.TrimSpace(v)), polygonForm)
		}
		var p geo.Point
		var err error
		if p.Lat, err = parseNumber(what+" latitude", lat, polygonForm); err != nil {
			return Area{}, err
		}
		if p.Lon, err = parseNumber(what+" longitude", lon, polygonForm); err != nil {
			return Area{}, err
		}
		pts = append(pts, p)
	}
	return Area{Polygon: pts}, nil
}

// parseNumber accepts plain decimal numbers only: strconv.ParseFloat would
// also take "Inf", "NaN", hexadecimal and underscores, none of which belongs
// in a coordinate.
func parseNumber(what, s, form string) (float64, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, fmt.Errorf("%s is missing; want %s", what, form)
	}
	notDecimal := strings.ContainsFunc(s, func(r rune) bool {
		return !strings.ContainsRune("0123456789.+-eE", r)
	})
	if notDecimal {
		return 0, fmt.Errorf("%s %s is not a decimal number; want %s", what, quote(s), form)
	}
	x, err := strconv.ParseFloat(s, 64)
	if errors.Is(err, strconv.ErrRange) {
		return 0, fmt.Errorf("%s %s is out of range; want %s", what, quote(s), form)
	}
	if err != nil {
		return 0, fmt.Errorf("%s %s is not a decimal number; want %s", what, quote(s), form)
	}
	return x, nil
}

// quote quotes user input for an error message, shortening it so that a
// hostile input cannot make the message huge.
func quote(s string) string {
	const max = 40
	if len(s) > max {
		return strconv.Quote(s[:max]) + "..."
	}
	return strconv.Quote(s)
}

// String is the inverse of ParseArea. The String of an area that fails Check
// may not parse.
func (a Area) String() string {
	var b []byte
	if a.Polygon == nil {
		b = append(b, "circle:"...)
		b = appendPoint(b, a.Center)
		b = append(b, ',')
		b = strconv.AppendFloat(b, a.Radius, 'f', -1, 64)
		return string(b)
	}
	b = append(b, "polygon:"...)
	for i, p := range a.Polygon {
		if i > 0 {
			b = append(b, ';')
		}
		b = appendPoint(b, p)
	}
	return string(b)
}

func appendPoint(b []byte, p geo.Point) []byte {
	b = strconv.AppendFloat(b, p.Lat, 'f', -1, 64)
	b = append(b, ',')
	return strconv.AppendFloat(b, p.Lon, 'f', -1, 64)
}

// Check validates the shape: finite numbers, latitude in [-90, 90], longitude
// in [-180, 180], circle radius in (0, 1,000,000] m, and a polygon of
// 3..MaxPolygonPoints distinct vertices that is simple (no two non-adjacent
// edges meet, no zero-length edges, no edge doubling back over the previous
// one), encloses a non-zero area, spans at most 2,000 km and does not cross
// the antimeridian.
func (a Area) Check() error {
	if a.Polygon == nil {
		return a.checkCircle()
	}
	if a.Radius != 0 {
		return fmt.Errorf("area has both a radius (%s m) and a polygon; a circle has only a radius, a polygon only vertices", num(a.Radius))
	}
	return checkPolygon(a.Polygon)
}

func (a Area) checkCircle() error {
	if err := checkPoint("circle center", a.Center); err != nil {
		return err
	}
	switch r := a.Radius; {
	case math.IsNaN(r) || math.IsInf(r, 0):
		return fmt.Errorf("circle radius %s is not a finite number", num(r))
	case r <= 0:
		return fmt.Errorf("circle radius %s m must be greater than 0", num(r))
	case r > maxRadius:
		return fmt.Errorf("circle radius %s m is more than the limit of %d m; use a smaller circle", num(r), maxRadius)
	}
	return nil
}

func checkPoint(what string, p geo.Point) error {
	switch {
	case math.IsNaN(p.Lat) || math.IsInf(p.Lat, 0):
		return fmt.Errorf("%s latitude %s is not a finite number", what, num(p.Lat))
	case math.IsNaN(p.Lon) || math.IsInf(p.Lon, 0):
		return fmt.Errorf("%s longitude %s is not a finite number", what, num(p.Lon))
	case p.Lat < -90 || p.Lat > 90:
		return fmt.Errorf("%s latitude %s is outside [-90, 90]", what, num(p.Lat))
	case p.Lon < -180 || p.Lon > 180:
		return fmt.Errorf("%s longitude %s is outside [-180, 180]", what, num(p.Lon))
	}
	return nil
}

func checkPolygon(pts []geo.Point) error {
	n := len(pts)
	if n < 3 || n > MaxPolygonPoints {
		return fmt.Errorf("polygon has %d vertices; want 3 to %d", n, MaxPolygonPoints)
	}
	for i, p := range pts {
		if err := checkPoint(fmt.Sprintf("polygon vertex %d", i+1), p); err != nil {
			return err
		}
	}
	for i := range n {
		for j := i + 1; j < n; j++ {
			if pts[i] != pts[j] {
				continue
			}
			switch {
			case i == 0 && j == n-1:
				return fmt.Errorf("polygon's last vertex repeats the first; leave it out, the closing edge is implied")
			case j == i+1:
				return fmt.Errorf("polygon vertices %d and %d are the same point (a zero-length edge)", i+1, j+1)
			default:
				return fmt.Errorf("polygon vertices %d and %d are the same point; a simple polygon visits each point once", i+1, j+1)
			}
		}
	}

	minLon, maxLon := pts[0].Lon, pts[0].Lon
	for _, p := range pts {
		minLon, maxLon = min(minLon, p.Lon), max(maxLon, p.Lon)
	}
	if maxLon-minLon > 180 {
		return fmt.Errorf("polygon spans %s degrees of longitude: polygons that cross the antimeridian (±180) or enclose a pole are not supported; split it in two or use a circle", num(maxLon-minLon))
	}
	for i := range n {
		for j := i + 1; j < n; j++ {
			if d := Distance(pts[i], pts[j]); d > maxPolygonSpan {
				return fmt.Errorf("polygon vertices %d and %d are %.0f km apart, more than the limit of %d km", i+1, j+1, d/1000, maxPolygonSpan/1000)
			}
		}
	}

	// Edges are straight in degrees, so degrees are the plane in which to
	// test them; any affine map of it would give the same answers.
	v := make([]vec, n)
	for i, p := range pts {
		v[i] = vec{p.Lon - pts[0].Lon, p.Lat - pts[0].Lat}
	}
	for i := range n {
		prev, next := v[(i+n-1)%n].sub(v[i]), v[(i+1)%n].sub(v[i])
		if cross(prev, next) == 0 && dot(prev, next) > 0 {
			return fmt.Errorf("polygon edges %s and %s overlap: the boundary doubles back at vertex %d", edgeName(i-1+n, n), edgeName(i, n), i+1)
		}
	}
	for i := range n {
		for j := i + 2; j < n; j++ {
			if i == 0 && j == n-1 {
				continue // adjacent through the closing edge
			}
			if segmentsMeet(v[i], v[i+1], v[j], v[(j+1)%n]) {
				return fmt.Errorf("polygon edges %s and %s intersect; list the vertices in order around the boundary so that edges meet only at shared vertices", edgeName(i, n), edgeName(j, n))
			}
		}
	}
	if m := polygonArea(pts); !(m > 0) {
		return fmt.Errorf("polygon encloses no area")
	}
	return nil
}

// edgeName names edge i (vertex i to vertex i+1) with 1-based vertices.
func edgeName(i, n int) string {
	return fmt.Sprintf("%d-%d", i%n+1, (i+1)%n+1)
}

// num formats a number for an error message, as typed where that is short.
func num(x float64) string {
	if abs := math.Abs(x); abs >= 1e15 || abs != 0 && abs < 1e-6 {
		return strconv.FormatFloat(x, 'g', -1, 64)
	}
	return strconv.FormatFloat(x, 'f', -1, 64)
}

// SquareMeters is the area's surface area. For a circle it is pi r^2. For a
// polygon it is the area on the sphere of the region its edges enclose,
// found by Green's theorem with each edge integrated exactly; unlike a
// shoelace on one flat projection, its accuracy does not depend on where
// the vertices cluster. The result for an area that fails Check is
// meaningless.
func (a Area) SquareMeters() float64 {
	if a.Polygon == nil {
		return math.Pi * a.Radius * a.Radius
	}
	return polygonArea(a.Polygon)
}

// polygonArea integrates R² sin(lat) d(lon) around the boundary. Along an
// edge straight in degrees the integral is Δlon·sin(mid lat)·sinc(Δlat/2).
// Subtracting sin of a reference latitude from every term changes nothing
// (the Δlon of a closed ring sum to zero) but keeps the terms as small as the
// polygon, so rounding stays small next to its area.
func polygonArea(pts []geo.Point) float64 {
	if len(pts) < 3 {
		return 0
	}
	ref := math.Sin(rad(pts[0].Lat))
	var sum float64
	for i, p := range pts {
		q := pts[(i+1)%len(pts)]
		half := rad(q.Lat-p.Lat) / 2
		mid := rad(p.Lat) + half
		sum += rad(q.Lon-p.Lon) * (math.Sin(mid)*sinc(half) - ref)
	}
	return math.Abs(sum) * earthRadius * earthRadius
}

func sinc(x float64) float64 {
	if math.Abs(x) < 1e-4 {
		return 1 - x*x/6
	}
	return math.Sin(x) / x
}

// Diameter is the greatest distance in meters between two points of the
// area: twice the radius of a circle, the farthest pair of vertices of a
// polygon. The result for an area that fails Check is meaningless.
func (a Area) Diameter() float64 {
	if a.Polygon == nil {
		return 2 * a.Radius
	}
	var d float64
	for i, p := range a.Polygon {
		for _, q := range a.Polygon[i+1:] {
			d = max(d, Distance(p, q))
		}
	}
	return d
}

// Perimeter is the length in meters of the area's boundary. The result for
// an area that fails Check is meaningless.
func (a Area) Perimeter() float64 {
	if a.Polygon == nil {
		return 2 * math.Pi * a.Radius
	}
	var sum float64
	for i, p := range a.Polygon {
		sum += Distance(p, a.Polygon[(i+1)%len(a.Polygon)])
	}
	return sum
}

// SquareMiles is SquareMeters / SquareMeterPerSquareMile.
func (a Area) SquareMiles() float64 {
	return a.SquareMeters() / SquareMeterPerSquareMile
}

// Contains reports whether p lies inside the area: for a circle, within
// Radius of Center along the great circle; for a polygon, by ray casting.
// Points on the boundary, or within 0.5 m of it, count as inside. The
// result for an area that fails Check is meaningless.
func (a Area) Contains(p geo.Point) bool {
	if a.Polygon == nil {
		return Distance(a.Center, p) <= a.Radius+tolerance
	}
	return polygonContains(a.Polygon, p)
}

func polygonContains(pts []geo.Point, p geo.Point) bool {
	pl := newPlane(p) // p is the origin
	inside := false
	for i := range pts {
		u, w := pl.project(pts[i]), pl.project(pts[(i+1)%len(pts)])
		if originToSegment(u, w) <= tolerance {
			return true
		}
		if (u.y > 0) != (w.y > 0) && u.x+(w.x-u.x)*(-u.y)/(w.y-u.y) > 0 {
			inside = !inside
		}
	}
	return inside
}

// Within reports whether area a lies entirely inside area outer: whether
// outer Contains every point of a. An area touching outer's boundary from
// inside (to within 0.5 m) is within it. Within is false if either area
// fails Check.
func (a Area) Within(outer Area) bool {
	if a.Check() != nil || outer.Check() != nil {
		return false
	}
	switch {
	case a.Polygon == nil && outer.Polygon == nil:
		return Distance(a.Center, outer.Center)+a.Radius <= outer.Radius+tolerance
	case outer.Polygon == nil:
		// A circle is convex, so checking the vertices would almost do; the
		// edges are searched too because they are not great circles.
		for i, p := range a.Polygon {
			q := a.Polygon[(i+1)%len(a.Polygon)]
			if edgeDistance(outer.Center, p, q, true) > outer.Radius+tolerance {
				return false
			}
		}
		return true
	case a.Polygon == nil:
		if !outer.Contains(a.Center) {
			return false
		}
		for i, p := range outer.Polygon {
			q := outer.Polygon[(i+1)%len(outer.Polygon)]
			if edgeDistance(a.Center, p, q, false) < a.Radius-tolerance {
				return false
			}
		}
		return true
	default:
		return polygonWithin(a.Polygon, outer.Polygon)
	}
}

// polygonWithin cuts each edge of inner wherever it may pass between inside
// and outside outer, then checks a point of every piece. Checking only that
// vertices are inside and no edges cross would miss an edge that leaves
// through outer's vertices or along one of its edges.
func polygonWithin(inner, outer []geo.Point) bool {
	var cuts []float64
	for i, p := range inner {
		q := inner[(i+1)%len(inner)]
		r := vec{q.Lon - p.Lon, q.Lat - p.Lat}
		cuts = append(cuts[:0], 0, 1)
		for j, c := range outer {
			d := outer[(j+1)%len(outer)]
			c0 := vec{c.Lon - p.Lon, c.Lat - p.Lat}
			s := vec{d.Lon - c.Lon, d.Lat - c.Lat}
			if den := cross(r, s); den != 0 {
				t, u := cross(c0, s)/den, cross(c0, r)/den
				if t > 0 && t < 1 && u >= 0 && u <= 1 {
					cuts = append(cuts, t)
				}
			}
			// Where the edges overlap, the overlap ends at a vertex of outer.
			// Cutting at every vertex's projection covers that without a
			// fragile collinearity test; extra cuts only add samples.
			if rr := dot(r, r); rr > 0 {
				if t := dot(c0, r) / rr; t > 0 && t < 1 {
					cuts = append(cuts, t)
				}
			}
		}
		slices.Sort(cuts)
		cuts = slices.Compact(cuts)
		for k, t := range cuts {
			if !polygonContains(outer, lerp(p, q, t)) {
				return false
			}
			if k+1 < len(cuts) && !polygonContains(outer, lerp(p, q, (t+cuts[k+1])/2)) {
				return false
			}
		}
	}
	return true
}

// edgeDistance returns the least (or, if farthest, the greatest) great-circle
// distance from c to a point of the edge a-b. The distance along an edge is
// smooth with a single extreme inside, if any, so sampling finds the right
// neighborhood and a golden-section search refines it.
func edgeDistance(c, a, b geo.Point, farthest bool) float64 {
	sign := 1.0
	if farthest {
		sign = -1
	}
	f := func(t float64) float64 { return sign * Distance(c, lerp(a, b, t)) }

	const samples = 16
	best, bestT := math.Inf(1), 0.0
	for i := range samples + 1 {
		t := float64(i) / samples
		if v := f(t); v < best {
			best, bestT = v, t
		}
	}
	lo, hi := max(0, bestT-1.0/samples), min(1, bestT+1.0/samples)
	const g = 0.6180339887498949 // 1/φ
	x1, x2 := hi-g*(hi-lo), lo+g*(hi-lo)
	f1, f2 := f(x1), f(x2)
	for range 40 {
		if f1 < f2 {
			hi, x2, f2 = x2, x1, f1
			x1 = hi - g*(hi-lo)
			f1 = f(x1)
		} else {
			lo, x1, f1 = x1, x2, f2
			x2 = lo + g*(hi-lo)
			f2 = f(x2)
		}
	}
	return sign * min(best, f1, f2)
}

// Distance returns the great-circle distance in meters between p and q
// (haversine, Earth radius 6,371,008.8 m).
func Distance(p, q geo.Point) float64 {
	sLat := math.Sin(rad(q.Lat-p.Lat) / 2)
	sLon := math.Sin(rad(q.Lon-p.Lon) / 2)
	h := sLat*sLat + math.Cos(rad(p.Lat))*math.Cos(rad(q.Lat))*sLon*sLon
	return 2 * earthRadius * math.Asin(math.Sqrt(min(h, 1)))
}

func rad(deg float64) float64 { return deg * (math.Pi / 180) }

// lerp is the point a fraction t of the way along the edge a-b.
func lerp(a, b geo.Point, t float64) geo.Point {
	return geo.Point{Lat: a.Lat + t*(b.Lat-a.Lat), Lon: a.Lon + t*(b.Lon-a.Lon)}
}

type vec struct{ x, y float64 }

func (v vec) sub(w vec) vec { return vec{v.x - w.x, v.y - w.y} }

func cross(v, w vec) float64 { return v.x*w.y - v.y*w.x }
func dot(v, w vec) float64   { return v.x*w.x + v.y*w.y }

// segmentsMeet reports whether segments p1-p2 and q1-q2 share any point.
func segmentsMeet(p1, p2, q1, q2 vec) bool {
	d1 := cross(q2.sub(q1), p1.sub(q1))
	d2 := cross(q2.sub(q1), p2.sub(q1))
	d3 := cross(p2.sub(p1), q1.sub(p1))
	d4 := cross(p2.sub(p1), q2.sub(p1))
	if (d1 > 0 && d2 < 0 || d1 < 0 && d2 > 0) && (d3 > 0 && d4 < 0 || d3 < 0 && d4 > 0) {
		return true
	}
	return d1 == 0 && inBox(q1, q2, p1) || d2 == 0 && inBox(q1, q2, p2) ||
		d3 == 0 && inBox(p1, p2, q1) || d4 == 0 && inBox(p1, p2, q2)
}

// inBox reports whether p, known to be on the line a-b, is on the segment.
func inBox(a, b, p vec) bool {
	return min(a.x, b.x) <= p.x && p.x <= max(a.x, b.x) &&
		min(a.y, b.y) <= p.y && p.y <= max(a.y, b.y)
}

// plane is an equirectangular projection to meters around an origin: true to
// scale near the origin, which is where Contains measures distances.
type plane struct {
	origin geo.Point
	kx     float64 // meters per degree of longitude at the origin
}

func newPlane(origin geo.Point) plane {
	return plane{origin, metersPerDegree * math.Cos(rad(origin.Lat))}
}

func (pl plane) project(p geo.Point) vec {
	return vec{(p.Lon - pl.origin.Lon) * pl.kx, (p.Lat - pl.origin.Lat) * metersPerDegree}
}

// originToSegment returns the distance from the origin to the segment a-b.
func originToSegment(a, b vec) float64 {
	d := b.sub(a)
	t := 0.0
	if dd := dot(d, d); dd > 0 {
		t = min(1, max(0, -dot(a, d)/dd))
	}
	return math.Hypot(a.x+t*d.x, a.y+t*d.y)
}
