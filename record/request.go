package record

import (
	"unicode/utf8"

	"github.com/porchlight-mesh/porchlight/record/pb"
)

// Text limits of requests for assistance, in characters.
const (
	MaxCaseNumber  = 64
	MaxIncident    = 100
	MaxContact     = 200
	MaxDescription = 2000
	MaxNote        = 2000
	MaxAgencyName  = 100
	MaxPolygon     = 64
)

// CheckRequest applies the request rules that need nothing but the record:
// required fields present, text sizes bounded, an area and a window given.
// Geometry, credential and time-window rules are the requests package's.
func CheckRequest(r *pb.Request) error {
	if r == nil {
		return invalid(ReasonMalformed, "empty request")
	}
	if len(r.GetCredential()) != len(ID{}) {
		return invalid(ReasonMissing, "request names no credential (want its 32-byte ID)")
	}
	fields := []struct {
		name     string
		v        string
		max      int
		required bool
	}{
		{"case number", r.GetCaseNumber(), MaxCaseNumber, true},
		{"incident", r.GetIncident(), MaxIncident, true},
		{"contact", r.GetContact(), MaxContact, true},
		{"description", r.GetDescription(), MaxDescription, false},
	}
	for _, f := range fields {
		if err := checkText(f.name, f.v, f.max, f.required); err != nil {
			return err
		}
	}
	if err := CheckArea(r.GetArea()); err != nil {
		return err
	}
	if r.GetFrom() <= 0 || r.GetTo() <= 0 {
		return invalid(ReasonMissing, "request has no time window (from and to)")
	}
	return nil
}

func checkUpdate(u *pb.RequestUpdate, seq uint64) error {
	if u == nil {
		return invalid(ReasonMalformed, "empty update")
	}
	if len(u.GetRequestId()) != len(ID{}) || u.GetRequestSeq() == 0 || u.GetRequestSeq() >= seq {
		return invalid(ReasonMissing, "an update names an earlier request of the same log by seq and 32-byte ID")
	}
	if err := checkText("note", u.GetNote(), MaxNote, false); err != nil {
		return err
	}
	if !u.GetClosed() && u.GetNote() == "" {
		return invalid(ReasonMissing, "an update closes the request or adds a note")
	}
	return nil
}

// CheckArea checks that an area has a shape with sane numbers; the requests
// package checks the geometry.
func CheckArea(a *pb.Area) error {
	switch s := a.GetShape().(type) {
	case *pb.Area_Circle:
		if s.Circle.GetCenter() == nil || s.Circle.GetRadiusM() == 0 {
			return invalid(ReasonArea, "circle needs a center and a radius")
		}
	case *pb.Area_Polygon:
		if n := len(s.Polygon.GetPoints()); n < 3 || n > MaxPolygon {
			return invalid(ReasonArea, "polygon needs 3 to %d points, has %d", MaxPolygon, n)
		}
	default:
		return invalid(ReasonMissing, "no area")
	}
	return nil
}

func checkText(name, v string, max int, required bool) error {
	if !utf8.ValidString(v) {
		return invalid(ReasonMalformed, "%s is not UTF-8", name)
	}
	if required && v == "" {
		return invalid(ReasonMissing, "%s is required", name)
	}
	if n := utf8.RuneCountInString(v); n > max {
		return invalid(ReasonTooLong, "%s is %d characters, limit %d", name, n, max)
	}
	return nil
}
