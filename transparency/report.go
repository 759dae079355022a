package transparency

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/porchlight-mesh/porchlight/record"
	"github.com/porchlight-mesh/porchlight/requests"
)

// Source is what a report reads: *requests.Service.
type Source interface {
	// Agency returns one agency's public history; ok is false if no
	// trusted credential names it.
	Agency(a peer.ID, now time.Time) (requests.Agency, bool, error)
	// Agencies lists every agency with a credential from a trusted issuer.
	Agencies(now time.Time) ([]requests.Agency, error)
	// History returns every request of an agency, in log order.
	History(a peer.ID) ([]requests.Item, error)
	// IssuerDocuments returns the trusted issuers' stored credentials and
	// revocations.
	IssuerDocuments() ([]*record.Doc, error)
}

var _ Source = (*requests.Service)(nil)

// Options narrow a report. Zero values mean "everything, now".
type Options struct {
	// Agency limits the report to one agency.
	Agency peer.ID
	// Since limits it to requests created at or after this time.
	Since time.Time
	// Now is when credential status is judged. Default time.Now().
	Now time.Time
}

// Report is a transparency report. Its JSON is GET /api/v1/transparency.
type Report struct {
	// Agency and Since repeat the options ("" when not set; Since as
	// 2006-01-02T15:04:05Z).
	Agency   string   `json:"agency,omitempty"`
	Since    string   `json:"since,omitempty"`
	Agencies []Agency `json:"agencies"`
	Issuers  []Issuer `json:"issuers"`
}

// Agency is one agency's figures.
type Agency struct {
	ID               string    `json:"id"`
	Name             string    `json:"name"`
	Issuer           string    `json:"issuer"`
	CredentialStatus string    `json:"credential_status"`
	ValidUntil       time.Time `json:"valid_until"`
	// LogHead is the last seq of the agency's log held without a gap:
	// two nodes with the same head compute the same figures.
	LogHead      uint64  `json:"log_head"`
	Equivocation bool    `json:"equivocation"`
	Total        Figures `json:"total"`
	Months       []Month `json:"months"`
}

// Month is one agency's figures for one UTC month.
type Month struct {
	Month string `json:"month"` // 2006-01
	Figures
}

// Figures are counted over a set of requests (a month's, or all).
type Figures struct {
	Requests        int     `json:"requests"`
	Open            int     `json:"open"`
	Closed          int     `json:"closed"`
	AreaHours       float64 `json:"area_hours"`
	Clips           int     `json:"clips"`
	Homes           int     `json:"homes"`
	Bytes           int64   `json:"yield_bytes"`
	VideoSeconds    float64 `json:"video_seconds"`
	ClipsPerRequest float64 `json:"clips_per_request"`
	HomesPerRequest float64 `json:"homes_per_request"`
	// MedianHoursToClose is nil when no request of the set is closed.
	MedianHoursToClose *float64 `json:"median_hours_to_close"`
	YieldOmissions     int      `json:"yield_omissions"`
}

// Issuer is what one trusted issuer's documents say.
type Issuer struct {
	ID        string      `json:"id"`
	Certified []AgencyRef `json:"certified"`
	Revoked   []AgencyRef `json:"revoked"`
}

// AgencyRef names an agency in an issuer's documents.
type AgencyRef struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	// RevokedAt is the earliest revocation time (Revoked only).
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
}

// ParseSince reads a --since or ?since value: a date (2006-01-02, taken as
// UTC midnight), a month (2006-01) or an RFC 3339 time.
func ParseSince(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	for _, layout := range []string{"2006-01-02", "2006-01"} {
		if t, err := time.ParseInLocation(layout, s, time.UTC); err == nil {
			return t, nil
		}
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC(), nil
	}
	return time.Time{}, fmt.Errorf("since %q: want a date (2026-01-31), a month (2026-01) or an RFC 3339 time", s)
}

// Compute reads the records src holds and builds the report.
func Compute(src Source, o Options) (*Report, error) {
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	var ags []requests.Agency
	if o.Agency != "" {
		a, ok, err := src.Agency(o.Agency, o.Now)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, fmt.Errorf("agency %s: %w", o.Agency, requests.ErrUnknownAgency)
		}
		ags = []requests.Agency{a}
	} else {
		var err error
		if ags, err = src.Agencies(o.Now); err != nil {
			return nil, err
		}
	}
	in := Input{Agencies: ags, Histories: map[peer.ID][]requests.Item{}}
	for _, a := range ags {
		h, err := src.History(a.ID)
		if err != nil {
			return nil, fmt.Errorf("history of agency %s: %w", a.ID, err)
		}
		in.Histories[a.ID] = h
	}
	docs, err := src.IssuerDocuments()
	if err != nil {
		return nil, err
	}
	in.Documents = docs
	return Build(in, o), nil
}

// Input is what Build computes a report from.
type Input struct {
	Agencies  []requests.Agency
	Histories map[peer.ID][]requests.Item // per agency, in log order
	Documents []*record.Doc               // trusted issuers' credentials and revocations
}

// Build computes a report from loaded records; it reads no clock (only
// o.Since and o.Agency matter here: credential status is in the input).
func Build(in Input, o Options) *Report {
	r := &Report{Agencies: []Agency{}, Issuers: []Issuer{}}
	if o.Agency != "" {
		r.Agency = o.Agency.String()
	}
	if !o.Since.IsZero() {
		r.Since = o.Since.UTC().Format(time.RFC3339)
	}
	for _, a := range in.Agencies {
		if o.Agency != "" && a.ID != o.Agency {
			continue
		}
		r.Agencies = append(r.Agencies, agencyFigures(a, in.Histories[a.ID], o.Since))
	}
	sort.SliceStable(r.Agencies, func(i, j int) bool {
		x, y := r.Agencies[i], r.Agencies[j]
		return x.Name < y.Name || x.Name == y.Name && x.ID < y.ID
	})
	r.Issuers = issuers(in.Documents, func(a peer.ID) bool { return o.Agency == "" || a == o.Agency })
	return r
}

// agencyFigures counts one agency's requests created at or after since.
func agencyFigures(a requests.Agency, items []requests.Item, since time.Time) Agency {
	out := Agency{
		ID: a.ID.String(), Name: a.Name, Issuer: a.Issuer.String(), CredentialStatus: a.CredentialStatus,
		ValidUntil: a.ValidUntil.UTC(), LogHead: a.Head, Equivocation: a.Equivocation, Months: []Month{},
	}
	omitted := map[record.ID]int{}
	for _, om := range a.Omissions {
		omitted[om.Request]++
	}
	var kept []*requests.Item
	for i := range items {
		if it := &items[i]; since.IsZero() || !it.Created.Before(since) {
			kept = append(kept, it)
		}
	}
	if len(kept) == 0 {
		out.Total = tally(nil, omitted)
		return out
	}
	first, last := monthOf(kept[0].Created), monthOf(kept[0].Created)
	byMonth := map[time.Time][]*requests.Item{}
	for _, it := range kept {
		m := monthOf(it.Created)
		byMonth[m] = append(byMonth[m], it)
		if m.Before(first) {
			first = m
		}
		if m.After(last) {
			last = m
		}
	}
	if !since.IsZero() {
		first = monthOf(since)
	}
	for m := first; !m.After(last); m = m.AddDate(0, 1, 0) {
		out.Months = append(out.Months, Month{Month: m.Format("2006-01"), Figures: tally(byMonth[m], omitted)})
	}
	out.Total = tally(kept, omitted)
	return out
}

// monthOf is the first instant of t's UTC month.
func monthOf(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
}

// tally counts a set of requests, in the order given (log order, so that
// sums of floats come out the same on every node).
func tally(items []*requests.Item, omitted map[record.ID]int) Figures {
	var f Figures
	var toClose []float64
	var videoMS int64
	for _, it := range items {
		f.Requests++
		if it.Closed {
			f.Closed++
			toClose = append(toClose, it.ClosedAt.Sub(it.Created).Hours())
		} else {
			f.Open++
		}
		f.AreaHours += it.AreaHours()
		f.Clips += it.Yield.Clips
		f.Homes += it.Yield.Homes
		f.Bytes += it.Yield.Bytes
		videoMS += it.Yield.VideoMS
		f.YieldOmissions += omitted[it.ID]
	}
	f.AreaHours = round3(f.AreaHours)
	f.VideoSeconds = round3(float64(videoMS) / 1000)
	if f.Requests > 0 {
		f.ClipsPerRequest = round3(float64(f.Clips) / float64(f.Requests))
		f.HomesPerRequest = round3(float64(f.Homes) / float64(f.Requests))
	}
	if len(toClose) > 0 {
		m := round3(median(toClose))
		f.MedianHoursToClose = &m
	}
	return f
}

// median of xs (reordered); for an even count, the mean of the middle two.
func median(xs []float64) float64 {
	sort.Float64s(xs)
	n := len(xs)
	if n%2 == 1 {
		return xs[n/2]
	}
	return (xs[n/2-1] + xs[n/2]) / 2
}

func round3(f float64) float64 { return math.Round(f*1000) / 1000 }

// issuers reads who certified and revoked which agency (of those keep
// accepts) from the issuers' documents.
func issuers(docs []*record.Doc, keep func(peer.ID) bool) []Issuer {
	type cred struct {
		agency peer.ID
		name   string
		issuer peer.ID
	}
	creds := map[record.ID]cred{}
	for _, d := range docs {
		if c := d.Credential; c != nil {
			creds[d.ID] = cred{agency: peer.ID(c.GetAgency()), name: c.GetName(), issuer: d.Issuer}
		}
	}
	type acc struct {
		certified map[peer.ID]string
		revoked   map[peer.ID]time.Time
	}
	by := map[peer.ID]*acc{}
	get := func(id peer.ID) *acc {
		if by[id] == nil {
			by[id] = &acc{certified: map[peer.ID]string{}, revoked: map[peer.ID]time.Time{}}
		}
		return by[id]
	}
	names := map[peer.ID]string{}
	// Credentials in ID order: an agency's name is the one in the
	// credential with the least ID, the same on every node.
	for _, d := range docs {
		if c, ok := creds[d.ID]; ok && keep(c.agency) {
			if _, seen := names[c.agency]; !seen {
				names[c.agency] = c.name
			}
			get(c.issuer).certified[c.agency] = names[c.agency]
		}
	}
	for _, d := range docs {
		rv := d.Revocation
		if rv == nil {
			continue
		}
		var cid record.ID
		copy(cid[:], rv.GetCredential())
		c, ok := creds[cid]
		if !ok || c.issuer != d.Issuer || !keep(c.agency) {
			continue
		}
		at := time.UnixMilli(rv.GetRevokedAt()).UTC()
		a := get(d.Issuer)
		if prev, seen := a.revoked[c.agency]; !seen || at.Before(prev) {
			a.revoked[c.agency] = at
		}
	}
	out := make([]Issuer, 0, len(by))
	for id, a := range by {
		is := Issuer{ID: id.String(), Certified: []AgencyRef{}, Revoked: []AgencyRef{}}
		for ag, name := range a.certified {
			is.Certified = append(is.Certified, AgencyRef{ID: ag.String(), Name: name})
		}
		for ag, at := range a.revoked {
			at := at
			is.Revoked = append(is.Revoked, AgencyRef{ID: ag.String(), Name: names[ag], RevokedAt: &at})
		}
		sortRefs(is.Certified)
		sortRefs(is.Revoked)
		out = append(out, is)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

func sortRefs(rs []AgencyRef) {
	sort.Slice(rs, func(i, j int) bool {
		return rs[i].Name < rs[j].Name || rs[i].Name == rs[j].Name && rs[i].ID < rs[j].ID
	})
}
