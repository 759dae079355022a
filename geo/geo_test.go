package geo_test

import (
	"encoding/json"
	"math"
	"testing"

	"github.com/porchlight-mesh/porchlight/geo"
)

func TestParse(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want *geo.Point
		ok   bool
	}{
		{"", nil, true},
		{"  ", nil, true},
		{"40.7128,-74.0060", &geo.Point{Lat: 40.7128, Lon: -74.006}, true},
		{" 40.7128 , -74.0060 ", &geo.Point{Lat: 40.7128, Lon: -74.006}, true},
		{"90,180", &geo.Point{Lat: 90, Lon: 180}, true},
		{"91,0", nil, false},
		{"0,-181", nil, false},
		{"NaN,0", nil, false},
		{"40.7", nil, false},
		{"north,west", nil, false},
	} {
		got, err := geo.Parse(tt.in)
		if (err == nil) != tt.ok {
			t.Errorf("Parse(%q) error = %v, want ok=%v", tt.in, err, tt.ok)
			continue
		}
		if (got == nil) != (tt.want == nil) || got != nil && *got != *tt.want {
			t.Errorf("Parse(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestValidRefusesNaN(t *testing.T) {
	if (geo.Point{Lat: math.NaN()}).Valid() {
		t.Fatal("a NaN latitude is valid")
	}
}

func TestE6RoundTrip(t *testing.T) {
	p := geo.Point{Lat: 40.712776, Lon: -74.005974}
	if got := geo.FromE6(p.E6()); math.Abs(got.Lat-p.Lat) > 1e-6 || math.Abs(got.Lon-p.Lon) > 1e-6 {
		t.Fatalf("FromE6(E6(%v)) = %v", p, got)
	}
}

// The local API's JSON form of a point; changing it breaks clients.
func TestJSON(t *testing.T) {
	b, err := json.Marshal(geo.Point{Lat: 1.5, Lon: -2})
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != `{"lat":1.5,"lon":-2}` {
		t.Fatalf("JSON = %s", b)
	}
}
