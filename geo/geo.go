// Package geo holds the one geographic point type of a node: a home's
// location, a post's location, the vertices of a request's area. The
// geometry of areas is in package requests; this package only names the
// point, its JSON form and its fixed-point wire form.
//
// It imports nothing of the module, so any package may use it.
package geo

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Point is a position in decimal degrees. Its JSON form, {"lat":..,
// "lon":..}, is the local API's.
type Point struct {
	Lat float64 `json:"lat"`
	Lon float64 `json:"lon"`
}

// Valid reports whether p is on the globe: latitude within ±90 and
// longitude within ±180 (NaN is not).
func (p Point) Valid() bool {
	// Written so that NaN, which every comparison fails, is refused too.
	return p.Lat >= -90 && p.Lat <= 90 && p.Lon >= -180 && p.Lon <= 180
}

// E6 is p in millionths of a degree (about 11 cm), rounded: the signed
// records' form.
func (p Point) E6() (lat, lon int32) {
	return int32(math.Round(p.Lat * 1e6)), int32(math.Round(p.Lon * 1e6))
}

// FromE6 is the point of a signed record's millionths of a degree.
func FromE6(lat, lon int32) Point {
	return Point{Lat: float64(lat) / 1e6, Lon: float64(lon) / 1e6}
}

// Parse parses "lat,lon" in decimal degrees; "" (or blanks) is no point:
// nil and no error.
func Parse(s string) (*Point, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	la, lo, ok := strings.Cut(s, ",")
	lat, err1 := strconv.ParseFloat(strings.TrimSpace(la), 64)
	lon, err2 := strconv.ParseFloat(strings.TrimSpace(lo), 64)
	if !ok || err1 != nil || err2 != nil {
		return nil, fmt.Errorf("location %q: want LAT,LON in decimal degrees, e.g. 40.7128,-74.0060", s)
	}
	p := Point{Lat: lat, Lon: lon}
	if !p.Valid() {
		return nil, fmt.Errorf("location %q: latitude must be within ±90 and longitude within ±180", s)
	}
	return &p, nil
}
