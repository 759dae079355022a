package requests_test

import (
	"fmt"
	"log"
	"math"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/porchlight-mesh/porchlight/geo"
	"github.com/porchlight-mesh/porchlight/requests"
)

// metersPerDegree is one degree of latitude (or of longitude on the equator)
// on the test's own copy of the Earth radius, so that an off-by-a-constant in
// the package shows up here.
const metersPerDegree = 6_371_008.8 * math.Pi / 180

func rad(deg float64) float64 { return deg * math.Pi / 180 }

// north is the point d meters due north of p.
func north(p geo.Point, d float64) geo.Point {
	return geo.Point{Lat: p.Lat + d/metersPerDegree, Lon: p.Lon}
}

// ngon is a regular polygon of n vertices, r degrees from (lat, lon).
func ngon(n int, lat, lon, r float64) []geo.Point {
	pts := make([]geo.Point, n)
	for i := range pts {
		a := 2 * math.Pi * float64(i) / float64(n)
		pts[i] = geo.Point{Lat: lat + r*math.Sin(a), Lon: lon + r*math.Cos(a)}
	}
	return pts
}

func polygonString(pts []geo.Point) string {
	var parts []string
	for _, p := range pts {
		parts = append(parts, strconv.FormatFloat(p.Lat, 'f', -1, 64)+","+strconv.FormatFloat(p.Lon, 'f', -1, 64))
	}
	return "polygon:" + strings.Join(parts, ";")
}

func poly(latLon ...float64) requests.Area {
	var pts []geo.Point
	for i := 0; i+1 < len(latLon); i += 2 {
		pts = append(pts, geo.Point{Lat: latLon[i], Lon: latLon[i+1]})
	}
	return requests.Area{Polygon: pts}
}

func circle(lat, lon, r float64) requests.Area {
	return requests.Area{Center: geo.Point{Lat: lat, Lon: lon}, Radius: r}
}

// Shapes shared by several tests. Points are (lat, lon).
var (
	// unitSquare is one degree on a side with a corner on (0, 0).
	unitSquare = poly(0, 0, 0, 1, 1, 1, 1, 0)
	// uShape is a 3x3 degree square with a 2-degree notch cut into its top,
	// between longitudes 1 and 2.
	uShape = poly(0, 0, 0, 3, 3, 3, 3, 2, 1, 2, 1, 1, 3, 1, 3, 0)
)

func TestParseArea(t *testing.T) {
	sixtyFour := ngon(requests.MaxPolygonPoints, 10, 20, 0.1)
	tests := []struct {
		name    string
		in      string
		want    requests.Area
		wantErr string // substring; "" means success
	}{
		{name: "circle", in: "circle:40.713,-74.0055,300", want: circle(40.713, -74.0055, 300)},
		{name: "circle with spaces", in: " \tcircle : 40.713 , -74.0055 ,300 \n", want: circle(40.713, -74.0055, 300)},
		{name: "circle with exponent and signs", in: "circle:+1.5,-.5,1e3", want: circle(1.5, -0.5, 1000)},
		{name: "circle at the limits", in: "circle:-90,180,1000000", want: circle(-90, 180, 1_000_000)},
		{name: "triangle", in: "polygon:0,0;0,1;1,0", want: poly(0, 0, 0, 1, 1, 0)},
		{name: "polygon with spaces", in: " polygon: 0 , 0 ;0,1 ; 1, 0\t", want: poly(0, 0, 0, 1, 1, 0)},
		{name: "polygon of the most vertices", in: polygonString(sixtyFour), want: requests.Area{Polygon: sixtyFour}},

		{name: "empty", in: "", wantErr: "empty; want circle:LAT,LON,RADIUS_M or polygon:LAT,LON;LAT,LON;LAT,LON[;...]"},
		{name: "blank", in: " \t\n", wantErr: "empty; want"},
		{name: "no kind", in: "40.713,-74.0055,300", wantErr: `"40.713,-74.0055,300" does not start with a kind; want circle:LAT,LON,RADIUS_M or polygon:`},
		{name: "unknown kind", in: "square:1,2,3", wantErr: `unknown kind "square"; want circle:`},
		{name: "kind is case sensitive", in: "Circle:1,2,3", wantErr: `unknown kind "Circle"`},
		{name: "circle without numbers", in: "circle: ", wantErr: "circle has no numbers; want circle:LAT,LON,RADIUS_M"},
		{name: "circle with two numbers", in: "circle:1,2", wantErr: "circle has 2 numbers, want 3: circle:LAT,LON,RADIUS_M"},
		{name: "circle with four numbers", in: "circle:1,2,3,4", wantErr: "circle has 4 numbers, want 3"},
		{name: "circle with empty radius", in: "circle:1,2, ", wantErr: "circle radius is missing; want circle:LAT,LON,RADIUS_M"},
		{name: "circle with a word", in: "circle:1,abc,3", wantErr: `circle longitude "abc" is not a decimal number; want circle:LAT,LON,RADIUS_M`},
		{name: "circle with a unit", in: "circle:1,2,300m", wantErr: `circle radius "300m" is not a decimal number`},
		{name: "NaN", in: "circle:NaN,0,3", wantErr: `circle latitude "NaN" is not a decimal number`},
		{name: "Inf", in: "circle:0,0,Inf", wantErr: `circle radius "Inf" is not a decimal number`},
		{name: "hexadecimal", in: "circle:0x1p3,0,3", wantErr: `"0x1p3" is not a decimal number`},
		{name: "underscore", in: "circle:1_0,0,3", wantErr: `"1_0" is not a decimal number`},
		{name: "bad exponent", in: "circle:1e,0,3", wantErr: `"1e" is not a decimal number`},
		{name: "two signs", in: "circle:--1,0,3", wantErr: `"--1" is not a decimal number`},
		{name: "overflow", in: "circle:0,0,1e999", wantErr: `circle radius "1e999" is out of range`},
		{name: "latitude out of range", in: "circle:91,0,100", wantErr: "circle center latitude 91 is outside [-90, 90]"},
		{name: "zero radius", in: "circle:0,0,0", wantErr: "circle radius 0 m must be greater than 0"},
		{name: "polygon without vertices", in: "polygon:", wantErr: "polygon has no vertices; want polygon:LAT,LON;LAT,LON;LAT,LON[;...]"},
		{name: "polygon of two vertices", in: "polygon:0,0;1,1", wantErr: "polygon has 2 vertices, want at least 3: polygon:LAT,LON;"},
		{name: "polygon of too many vertices", in: polygonString(ngon(65, 0, 0, 0.1)), wantErr: "polygon has 65 vertices, more than the limit of 64"},
		{name: "stray semicolon", in: "polygon:0,0;0,1;1,0;", wantErr: "polygon vertex 4 is empty (a stray ';'?); want polygon:"},
		{name: "vertex of one number", in: "polygon:0,0;5;1,0", wantErr: `polygon vertex 2 "5" is not LAT,LON; want polygon:`},
		{name: "vertex of three numbers", in: "polygon:0,0;0,1,2;1,0", wantErr: `polygon vertex 2 "0,1,2" is not LAT,LON`},
		{name: "vertex with a word", in: "polygon:0,0;x,1;1,0", wantErr: `polygon vertex 2 latitude "x" is not a decimal number; want polygon:`},
		{name: "vertex missing longitude", in: "polygon:0,0;0, ;1,0", wantErr: "polygon vertex 2 longitude is missing"},
		{name: "closed polygon", in: "polygon:0,0;0,1;1,0;0,0", wantErr: "last vertex repeats the first"},
		{name: "bowtie", in: "polygon:0,0;1,1;0,1;1,0", wantErr: "polygon edges 1-2 and 3-4 intersect"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := requests.ParseArea(tt.in)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("ParseArea(%q): %v", tt.in, err)
				}
				if !reflect.DeepEqual(got, tt.want) {
					t.Fatalf("ParseArea(%q) = %+v, want %+v", tt.in, got, tt.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("ParseArea(%q) = %+v, want an error containing %q", tt.in, got, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("ParseArea(%q) error = %q, want it to contain %q", tt.in, err, tt.wantErr)
			}
			if !reflect.DeepEqual(got, requests.Area{}) {
				t.Errorf("ParseArea(%q) returned %+v with its error, want the zero Area", tt.in, got)
			}
		})
	}
}

func TestParseAreaShortensHugeInput(t *testing.T) {
	for _, in := range []string{
		"square:" + strings.Repeat("x", 100_000),
		"circle:" + strings.Repeat("9", 100_000) + "x,0,1",
		strings.Repeat("x", 100_000),
	} {
		_, err := requests.ParseArea(in)
		if err == nil || len(err.Error()) > 200 {
			t.Errorf("ParseArea(%.20q...) error is %d bytes, want an error under 200: %v", in, len(fmt.Sprint(err)), err)
		}
	}
}

func TestString(t *testing.T) {
	tests := []struct {
		name string
		area requests.Area
		want string
	}{
		{name: "circle", area: circle(40.713, -74.0055, 300), want: "circle:40.713,-74.0055,300"},
		{name: "fractional radius", area: circle(0, 0, 0.25), want: "circle:0,0,0.25"},
		{name: "no exponent for tiny numbers", area: circle(1e-7, -1e-7, 1), want: "circle:0.0000001,-0.0000001,1"},
		{name: "shortest exact digits", area: circle(0.30000000000000004, 0, 1), want: "circle:0.30000000000000004,0,1"},
		{name: "polygon", area: poly(0, 0, 0, 1, 1, 0), want: "polygon:0,0;0,1;1,0"},
		{name: "polygon of long numbers", area: poly(40.7128, -74.006, 40.7138, -74.006, 40.7133, -74.0052), want: "polygon:40.7128,-74.006;40.7138,-74.006;40.7133,-74.0052"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.area.String(); got != tt.want {
				t.Fatalf("String() = %q, want %q", got, tt.want)
			}
			back, err := requests.ParseArea(tt.want)
			if err != nil {
				t.Fatalf("ParseArea(%q): %v", tt.want, err)
			}
			if !reflect.DeepEqual(back, tt.area) {
				t.Fatalf("ParseArea(%q) = %+v, want %+v", tt.want, back, tt.area)
			}
		})
	}
}

func TestCheck(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(1)
	tests := []struct {
		name    string
		area    requests.Area
		wantErr string // substring; "" means valid
	}{
		{name: "circle", area: circle(40.713, -74.0055, 300)},
		{name: "circle at the north pole and largest radius", area: circle(90, -180, 1_000_000)},
		{name: "circle at the south pole and tiny radius", area: circle(-90, 180, 0.001)},
		{name: "triangle", area: poly(0, 0, 0, 1, 1, 0)},
		{name: "concave polygon", area: uShape},
		{name: "polygon of the most vertices", area: requests.Area{Polygon: ngon(requests.MaxPolygonPoints, 0, 0, 1)}},
		{name: "polygon touching the antimeridian", area: poly(0, 179, 0, 180, 1, 180)},
		{name: "polygon of collinear but not overlapping vertices", area: poly(0, 0, 0, 1, 0, 2, 1, 1)},

		{name: "zero Area", area: requests.Area{}, wantErr: "circle radius 0 m must be greater than 0"},
		{name: "negative radius", area: circle(0, 0, -5), wantErr: "circle radius -5 m must be greater than 0"},
		{name: "radius too large", area: circle(0, 0, 1_000_001), wantErr: "circle radius 1000001 m is more than the limit of 1000000 m"},
		{name: "huge radius", area: circle(0, 0, 1e300), wantErr: "circle radius 1e+300 m is more than the limit of 1000000 m"},
		{name: "tiny negative radius", area: circle(0, 0, -1e-300), wantErr: "circle radius -1e-300 m must be greater than 0"},
		{name: "NaN radius", area: circle(0, 0, nan), wantErr: "circle radius NaN is not a finite number"},
		{name: "infinite radius", area: circle(0, 0, inf), wantErr: "circle radius +Inf is not a finite number"},
		{name: "NaN latitude", area: circle(nan, 0, 1), wantErr: "circle center latitude NaN is not a finite number"},
		{name: "infinite longitude", area: circle(0, -inf, 1), wantErr: "circle center longitude -Inf is not a finite number"},
		{name: "latitude too large", area: circle(90.0001, 0, 1), wantErr: "circle center latitude 90.0001 is outside [-90, 90]"},
		{name: "latitude too small", area: circle(-91, 0, 1), wantErr: "circle center latitude -91 is outside [-90, 90]"},
		{name: "longitude out of range", area: circle(0, -180.5, 1), wantErr: "circle center longitude -180.5 is outside [-180, 180]"},
		{name: "radius and polygon", area: requests.Area{Radius: 10, Polygon: unitSquare.Polygon}, wantErr: "area has both a radius (10 m) and a polygon"},
		{name: "empty polygon", area: requests.Area{Polygon: []geo.Point{}}, wantErr: "polygon has 0 vertices; want 3 to 64"},
		{name: "two vertices", area: poly(0, 0, 1, 1), wantErr: "polygon has 2 vertices; want 3 to 64"},
		{name: "too many vertices", area: requests.Area{Polygon: ngon(65, 0, 0, 1)}, wantErr: "polygon has 65 vertices; want 3 to 64"},
		{name: "vertex NaN", area: poly(0, 0, nan, 1, 1, 0), wantErr: "polygon vertex 2 latitude NaN is not a finite number"},
		{name: "vertex out of range", area: poly(0, 0, 0, 1, 1, 200), wantErr: "polygon vertex 3 longitude 200 is outside [-180, 180]"},
		{name: "closed ring", area: poly(0, 0, 0, 1, 1, 0, 0, 0), wantErr: "polygon's last vertex repeats the first; leave it out"},
		{name: "zero-length edge", area: poly(0, 0, 0, 1, 0, 1, 1, 0), wantErr: "polygon vertices 2 and 3 are the same point (a zero-length edge)"},
		{name: "repeated vertex", area: poly(0, 0, 0, 1, 1, 1, 0, 1, 1, 0), wantErr: "polygon vertices 2 and 4 are the same point; a simple polygon visits each point once"},
		{name: "bowtie", area: poly(0, 0, 1, 1, 0, 1, 1, 0), wantErr: "polygon edges 1-2 and 3-4 intersect"},
		{name: "vertex on a non-adjacent edge", area: poly(0, 0, 0, 4, 2, 4, 0, 2, 2, 0), wantErr: "polygon edges 1-2 and 3-4 intersect"},
		{name: "crossing the closing edge", area: poly(0, 0, 0, 1, 1, 0, 1, 1), wantErr: "polygon edges 2-3 and 4-1 intersect"},
		{name: "spike doubling back", area: poly(0, 0, 0, 2, 0, 1, 1, 1), wantErr: "polygon edges 1-2 and 2-3 overlap: the boundary doubles back at vertex 2"},
		{name: "collinear triangle", area: poly(0, 0, 0, 1, 0, 2), wantErr: "polygon edges 3-1 and 1-2 overlap: the boundary doubles back at vertex 1"},
		{name: "crossing the antimeridian", area: poly(0, 179.9, 0, -179.9, 0.1, -179.9), wantErr: "polygons that cross the antimeridian (±180) or enclose a pole are not supported"},
		{name: "too wide", area: poly(0, 0, 0, 20, 1, 10), wantErr: "polygon vertices 1 and 2 are 2224 km apart, more than the limit of 2000 km"},
		{name: "no area", area: poly(0, 0, 0, 1e-300, 1e-300, 0), wantErr: "polygon encloses no area"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.area.Check()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Check(%v): %v", tt.area, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Check(%v) = %v, want an error containing %q", tt.area, err, tt.wantErr)
			}
		})
	}
}

// square is a square of side meters centered on latitude lat, built from
// meters per degree the way a caller would.
func square(lat, lon, side float64) requests.Area {
	dLat := side / metersPerDegree
	dLon := side / (metersPerDegree * math.Cos(rad(lat)))
	s, w := lat-dLat/2, lon-dLon/2
	return poly(s, w, s+dLat, w, s+dLat, w+dLon, s, w+dLon)
}

func TestSquareMiles(t *testing.T) {
	halfSquareMileSide := math.Sqrt(0.5 * requests.SquareMeterPerSquareMile)

	// A latitude/longitude rectangle has an exact area on the sphere:
	// R² Δlon (sin lat2 - sin lat1).
	const R = 6_371_008.8
	lat1, lat2, lon1, lon2 := 60.0, 60+100_000/metersPerDegree, 10.0, 11.8
	rectangle := R * R * rad(lon2-lon1) * (math.Sin(rad(lat2)) - math.Sin(rad(lat1))) / requests.SquareMeterPerSquareMile
	// The same rectangle with 60 extra vertices along its northern edge.
	// Projecting around the vertices' mean latitude, which is near that
	// edge, would overstate the area by 1.3%.
	clustered := poly(lat1, lon1)
	for i := range 62 {
		clustered.Polygon = append(clustered.Polygon, geo.Point{Lat: lat2, Lon: lon1 + (lon2-lon1)*float64(i)/61})
	}
	clustered.Polygon = append(clustered.Polygon, geo.Point{Lat: lat1, Lon: lon2})

	tests := []struct {
		name   string
		area   requests.Area
		want   float64 // square miles
		within float64 // relative
	}{
		{name: "circle of 300 m", area: circle(40.713, -74.0055, 300), want: 0.1092, within: 5e-4},
		{name: "circle of 1 mile", area: circle(40.713, -74.0055, 1609.344), want: math.Pi, within: 1e-12},
		{name: "half square mile at the equator", area: square(0, 0, halfSquareMileSide), want: 0.5, within: 1e-6},
		{name: "half square mile in New York", area: square(40.713, -74.0055, halfSquareMileSide), want: 0.5, within: 1e-4},
		{name: "half square mile in Tromsø", area: square(69.65, 18.96, halfSquareMileSide), want: 0.5, within: 1e-4},
		{name: "clockwise and counterclockwise agree", area: poly(0, 0, 0, 1, 1, 1, 1, 0), want: poly(1, 0, 1, 1, 0, 1, 0, 0).SquareMiles(), within: 1e-12},
		{name: "right triangle", area: poly(0, 0, 0, 0.01, 0.01, 0), want: 0.5 * math.Pow(0.01*metersPerDegree, 2) / requests.SquareMeterPerSquareMile, within: 1e-4},
		{name: "100 km rectangle at 60 degrees north", area: poly(lat1, lon1, lat2, lon1, lat2, lon2, lat1, lon2), want: rectangle, within: 1e-9},
		{name: "vertices clustered on one side", area: clustered, want: rectangle, within: 1e-9},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.area.Check(); err != nil {
				t.Fatalf("Check: %v", err)
			}
			got := tt.area.SquareMiles()
			if math.Abs(got-tt.want) > tt.within*tt.want {
				t.Fatalf("SquareMiles() = %.9g, want %.9g within %g", got, tt.want, tt.within)
			}
			if m := tt.area.SquareMeters(); m/requests.SquareMeterPerSquareMile != got {
				t.Fatalf("SquareMeters() = %g, not SquareMiles() * SquareMeterPerSquareMile", m)
			}
		})
	}

	t.Run("bowtie is rejected", func(t *testing.T) {
		// The shoelace formula would report the difference of the lobes.
		if err := poly(0, 0, 1, 1, 0, 1, 1, 0).Check(); err == nil {
			t.Fatal("Check accepted a bowtie, whose area is meaningless")
		}
	})
}

func TestContains(t *testing.T) {
	nyc := geo.Point{Lat: 40.713, Lon: -74.0055}
	c := requests.Area{Center: nyc, Radius: 300}
	east := func(p geo.Point, d float64) geo.Point {
		return geo.Point{Lat: p.Lat, Lon: p.Lon + d/(metersPerDegree*math.Cos(rad(p.Lat)))}
	}
	tests := []struct {
		name string
		area requests.Area
		p    geo.Point
		want bool
	}{
		{name: "circle center", area: c, p: nyc, want: true},
		{name: "circle inside", area: c, p: north(nyc, 299), want: true},
		{name: "circle boundary", area: c, p: north(nyc, 300), want: true},
		{name: "circle rounding outside the boundary", area: c, p: north(nyc, 300.3), want: true},
		{name: "circle just outside", area: c, p: north(nyc, 301), want: false},
		{name: "circle inside to the east", area: c, p: east(nyc, 295), want: true},
		{name: "circle outside to the east", area: c, p: east(nyc, 305), want: false},
		{name: "circle far away", area: c, p: geo.Point{Lat: -40.713, Lon: 105.9945}, want: false},

		{name: "square inside", area: unitSquare, p: geo.Point{Lat: 0.5, Lon: 0.5}, want: true},
		{name: "square outside", area: unitSquare, p: geo.Point{Lat: 1.5, Lon: 0.5}, want: false},
		{name: "square outside in line with an edge", area: unitSquare, p: geo.Point{Lat: 0, Lon: 2}, want: false},
		{name: "square on an edge", area: unitSquare, p: geo.Point{Lat: 0, Lon: 0.5}, want: true},
		{name: "square on the east edge", area: unitSquare, p: geo.Point{Lat: 0.5, Lon: 1}, want: true},
		{name: "square on a vertex", area: unitSquare, p: geo.Point{Lat: 1, Lon: 1}, want: true},
		{name: "square 1 m inside", area: unitSquare, p: north(geo.Point{Lat: 0, Lon: 0.5}, 1), want: true},
		{name: "square rounding outside the boundary", area: unitSquare, p: north(geo.Point{Lat: 0, Lon: 0.5}, -0.3), want: true},
		{name: "square 1 m outside", area: unitSquare, p: north(geo.Point{Lat: 0, Lon: 0.5}, -1), want: false},

		{name: "U in an arm", area: uShape, p: geo.Point{Lat: 2, Lon: 0.5}, want: true},
		{name: "U in the base", area: uShape, p: geo.Point{Lat: 0.5, Lon: 1.5}, want: true},
		{name: "U in the notch", area: uShape, p: geo.Point{Lat: 2, Lon: 1.5}, want: false},
		{name: "U level with the notch floor", area: uShape, p: geo.Point{Lat: 1, Lon: 0.5}, want: true},
		{name: "U level with the top", area: uShape, p: geo.Point{Lat: 3, Lon: -0.5}, want: false},
		{name: "U across the notch mouth", area: uShape, p: geo.Point{Lat: 3, Lon: 1.5}, want: false},
		{name: "U on the notch floor", area: uShape, p: geo.Point{Lat: 1, Lon: 1.5}, want: true},

		{name: "Arctic triangle inside", area: poly(70, 20, 70.5, 20, 70, 21), p: geo.Point{Lat: 70.1, Lon: 20.1}, want: true},
		{name: "Arctic triangle outside", area: poly(70, 20, 70.5, 20, 70, 21), p: geo.Point{Lat: 70.4, Lon: 20.9}, want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.area.Contains(tt.p); got != tt.want {
				t.Fatalf("%v.Contains(%v) = %v, want %v", tt.area, tt.p, got, tt.want)
			}
		})
	}
}

func TestWithin(t *testing.T) {
	center := geo.Point{Lat: 40, Lon: -74}
	big := requests.Area{Center: center, Radius: 1000}
	at := func(p geo.Point, r float64) requests.Area { return requests.Area{Center: p, Radius: r} }

	// A diamond whose vertices lie exactly 50 km from (0, 0), along the
	// equator and the prime meridian where degrees are easy.
	d := 50_000 / metersPerDegree
	equatorCircle := circle(0, 0, 50_000)
	diamond := poly(d, 0, 0, d, -d, 0, 0, -d)
	bulgingDiamond := poly(d+2/metersPerDegree, 0, 0, d, -d, 0, 0, -d)

	// The unit square's west edge lies on the prime meridian, a great
	// circle, so a circle at (0.5, 0.5) touches it at this radius; the
	// others are farther.
	tangent := 6_371_008.8 * math.Asin(math.Sin(rad(0.5))*math.Cos(rad(0.5)))
	mid := geo.Point{Lat: 0.5, Lon: 0.5}

	tests := []struct {
		name     string
		a, outer requests.Area
		want     bool
	}{
		{name: "circle in concentric circle", a: at(center, 500), outer: big, want: true},
		{name: "circle in itself", a: big, outer: big, want: true},
		{name: "circle touching inside", a: at(north(center, 600), 400), outer: big, want: true},
		{name: "circle crossing", a: at(north(center, 700), 400), outer: big, want: false},
		{name: "circle outside", a: at(north(center, 5000), 400), outer: big, want: false},
		{name: "circle around its outer", a: at(center, 2000), outer: big, want: false},

		{name: "polygon in circle", a: square(0, 0, 10_000), outer: equatorCircle, want: true},
		{name: "polygon touching inside circle", a: diamond, outer: equatorCircle, want: true},
		{name: "polygon crossing circle", a: bulgingDiamond, outer: equatorCircle, want: false},
		{name: "polygon outside circle", a: square(2, 2, 10_000), outer: equatorCircle, want: false},
		{name: "polygon around circle", a: square(0, 0, 200_000), outer: equatorCircle, want: false},

		{name: "circle in polygon", a: at(mid, 10_000), outer: unitSquare, want: true},
		{name: "circle touching inside polygon", a: at(mid, tangent), outer: unitSquare, want: true},
		{name: "circle crossing polygon", a: at(mid, tangent+2), outer: unitSquare, want: false},
		{name: "circle outside polygon", a: circle(1.5, 0.5, 1000), outer: unitSquare, want: false},
		{name: "circle around polygon", a: at(mid, 500_000), outer: unitSquare, want: false},
		{name: "circle in U arm", a: circle(2, 0.5, 20_000), outer: uShape, want: true},
		{name: "circle in U arm reaching into the notch", a: circle(2, 0.5, 60_000), outer: uShape, want: false},
		{name: "circle in U notch", a: circle(2, 1.5, 20_000), outer: uShape, want: false},

		{name: "polygon in polygon", a: poly(0.2, 0.2, 0.2, 0.8, 0.8, 0.5), outer: unitSquare, want: true},
		{name: "polygon in itself", a: uShape, outer: uShape, want: true},
		{name: "polygon sharing an edge", a: poly(0, 0, 0, 0.5, 0.5, 0.5, 0.5, 0), outer: unitSquare, want: true},
		{name: "polygon in a corner", a: poly(0, 0, 0, 1, 1, 1), outer: unitSquare, want: true},
		{name: "polygon crossing", a: poly(0.5, 0.5, 0.5, 1.5, 0.8, 0.5), outer: unitSquare, want: false},
		{name: "polygon outside", a: poly(2, 2, 2, 3, 3, 2), outer: unitSquare, want: false},
		{name: "polygon around polygon", a: poly(-1, -1, -1, 2, 2, 2, 2, -1), outer: unitSquare, want: false},
		{name: "polygon with vertices in both U arms", a: poly(2, 0.5, 2, 2.5, 0.5, 1.5), outer: uShape, want: false},
		// Every vertex is on the boundary and no edges cross, yet the
		// notch is outside the U.
		{name: "polygon filling the U notch", a: poly(3, 1, 3, 2, 1, 2, 1, 1), outer: uShape, want: false},

		{name: "invalid area", a: circle(0, 0, -1), outer: big, want: false},
		{name: "invalid outer", a: at(center, 1), outer: poly(0, 0, 1, 1, 0, 1, 1, 0), want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.a.Within(tt.outer); got != tt.want {
				t.Fatalf("%v.Within(%v) = %v, want %v", tt.a, tt.outer, got, tt.want)
			}
		})
	}
}

func TestDistance(t *testing.T) {
	tests := []struct {
		name   string
		p, q   geo.Point
		want   float64 // meters
		within float64 // meters
	}{
		{name: "same point", p: geo.Point{Lat: 40, Lon: -74}, q: geo.Point{Lat: 40, Lon: -74}, want: 0, within: 0},
		{name: "one degree of latitude", p: geo.Point{}, q: geo.Point{Lat: 1}, want: 111_195.08, within: 0.01},
		{name: "one degree of longitude on the equator", p: geo.Point{Lon: 10}, q: geo.Point{Lon: 11}, want: 111_195.08, within: 0.01},
		{name: "one degree of longitude at 60 degrees", p: geo.Point{Lat: 60}, q: geo.Point{Lat: 60, Lon: 1}, want: 55_597.01, within: 0.01},
		{name: "New York to London", p: geo.Point{Lat: 40.7128, Lon: -74.006}, q: geo.Point{Lat: 51.5074, Lon: -0.1278}, want: 5_570_000, within: 1000},
		{name: "antipodes", p: geo.Point{Lat: 0, Lon: 0}, q: geo.Point{Lat: 0, Lon: 180}, want: math.Pi * 6_371_008.8, within: 1e-6},
		{name: "pole to pole", p: geo.Point{Lat: 90}, q: geo.Point{Lat: -90}, want: math.Pi * 6_371_008.8, within: 1e-6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := requests.Distance(tt.p, tt.q)
			if math.Abs(got-tt.want) > tt.within {
				t.Fatalf("Distance(%v, %v) = %.3f m, want %.3f ± %g", tt.p, tt.q, got, tt.want, tt.within)
			}
			if back := requests.Distance(tt.q, tt.p); back != got {
				t.Fatalf("Distance is not symmetric: %v one way, %v the other", got, back)
			}
		})
	}
}

func ExampleArea_SquareMiles() {
	a, err := requests.ParseArea("circle:40.7130,-74.0055,300")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s covers %.4f sq mi\n", a, a.SquareMiles())
	// Output: circle:40.713,-74.0055,300 covers 0.1092 sq mi
}

func ExampleArea_Within() {
	district, _ := requests.ParseArea("polygon:40.70,-74.02;40.70,-73.99;40.73,-73.99;40.73,-74.02")
	request, _ := requests.ParseArea("circle:40.7130,-74.0055,300")
	fmt.Println(request.Within(district))
	fmt.Println(district.Contains(geo.Point{Lat: 40.75, Lon: -74}))
	// Output:
	// true
	// false
}

func ExampleParseArea_error() {
	_, err := requests.ParseArea("circle:40.7130,-74.0055")
	fmt.Println(err)
	// Output: circle has 2 numbers, want 3: circle:LAT,LON,RADIUS_M
}

// FuzzParseArea: ParseArea never panics, and an area it accepts passes
// Check, prints back to itself, has a finite positive surface, contains its
// own center or first vertex, and is within itself.
func FuzzParseArea(f *testing.F) {
	for _, s := range []string{
		"circle:40.7130,-74.0055,300",
		" circle : -90 , 180 , 1000000 ",
		"circle:0,0,0",
		"circle:1e-320,0,1e-3",
		"circle:NaN,0,1",
		"circle:0,0,1e999",
		"polygon:0,0;0,1;1,0",
		"polygon:0,0;0,3;3,3;3,2;1,2;1,1;3,1;3,0",
		"polygon:0,0;1,1;0,1;1,0",
		"polygon:0,0;0,1;1,0;0,0",
		"polygon:0,0;0,1e-300;1e-300,0",
		"polygon:89.9,0;89.9,90;89.99,45",
		"polygon:0,179.9;0,-179.9;0.1,-179.9",
		"polygon:0,0;0,1;1,0;",
		polygonString(ngon(requests.MaxPolygonPoints, 45, 45, 0.5)),
		"square:1,2,3",
		"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := requests.ParseArea(s)
		if err != nil {
			return
		}
		if err := a.Check(); err != nil {
			t.Fatalf("ParseArea(%q) returned an area that fails Check: %v", s, err)
		}
		back, err := requests.ParseArea(a.String())
		if err != nil {
			t.Fatalf("ParseArea(%q).String() = %q, which does not parse: %v", s, a.String(), err)
		}
		if !reflect.DeepEqual(back, a) {
			t.Fatalf("ParseArea(%q) = %+v, but its String %q parses to %+v", s, a, a.String(), back)
		}
		if m := a.SquareMeters(); !(m > 0) || math.IsInf(m, 0) {
			t.Fatalf("ParseArea(%q).SquareMeters() = %v, want finite and > 0", s, m)
		}
		p := a.Center
		if a.Polygon != nil {
			p = a.Polygon[0]
		}
		if !a.Contains(p) {
			t.Fatalf("ParseArea(%q) does not contain %v", s, p)
		}
		if !a.Within(a) {
			t.Fatalf("ParseArea(%q) is not within itself", s)
		}
	})
}

// BenchmarkWithin measures the worst case: the largest polygon in the
// largest polygon, as a node checks a request against a jurisdiction.
func BenchmarkWithin(b *testing.B) {
	outer := requests.Area{Polygon: ngon(requests.MaxPolygonPoints, 40.7, -74, 0.2)}
	inner := requests.Area{Polygon: ngon(requests.MaxPolygonPoints, 40.7, -74, 0.01)}
	disk := circle(40.7, -74, 1000)
	b.Run("polygon in polygon", func(b *testing.B) {
		for b.Loop() {
			inner.Within(outer)
		}
	})
	b.Run("circle in polygon", func(b *testing.B) {
		for b.Loop() {
			disk.Within(outer)
		}
	})
	b.Run("polygon in circle", func(b *testing.B) {
		for b.Loop() {
			inner.Within(disk)
		}
	})
}
