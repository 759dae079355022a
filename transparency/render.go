package transparency

import (
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
)

// CSVHeader is the CSV's first row.
var CSVHeader = []string{
	"agency_id", "agency_name", "issuer", "credential_status", "log_head", "equivocation", "month",
	"requests", "open", "closed", "area_hours", "clips", "homes", "yield_bytes", "video_seconds",
	"clips_per_request", "homes_per_request", "median_hours_to_close", "yield_omissions",
}

// WriteCSV writes one row per agency and month (RFC 4180, CRLF line
// ends, as encoding/csv writes them with UseCRLF): the same bytes on every
// node that holds the same records.
func (r *Report) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	cw.UseCRLF = true
	if err := cw.Write(CSVHeader); err != nil {
		return err
	}
	for _, a := range r.Agencies {
		for _, m := range a.Months {
			f := m.Figures
			row := []string{
				a.ID, a.Name, a.Issuer, a.CredentialStatus, strconv.FormatUint(a.LogHead, 10), strconv.FormatBool(a.Equivocation), m.Month,
				itoa(f.Requests), itoa(f.Open), itoa(f.Closed), num(f.AreaHours), itoa(f.Clips), itoa(f.Homes),
				strconv.FormatInt(f.Bytes, 10), num(f.VideoSeconds), num(f.ClipsPerRequest), num(f.HomesPerRequest),
				optNum(f.MedianHoursToClose), itoa(f.YieldOmissions),
			}
			if err := cw.Write(row); err != nil {
				return err
			}
		}
	}
	cw.Flush()
	return cw.Error()
}

// WriteText writes the report for a terminal.
func (r *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	scope := "every agency"
	if r.Agency != "" {
		scope = "agency " + r.Agency
	}
	fmt.Fprintf(&b, "Transparency report for %s, from the signed records this node holds", scope)
	if r.Since != "" {
		fmt.Fprintf(&b, ", requests made since %s", r.Since)
	}
	b.WriteString(".\nMonths are UTC months of each request's signed creation time.\n")
	if len(r.Agencies) == 0 {
		b.WriteString("\nNo agency is known to this node.\n")
	}
	for _, a := range r.Agencies {
		fmt.Fprintf(&b, "\n%s (%s)\n", a.Name, a.ID)
		fmt.Fprintf(&b, "  credential %s until %s, issuer %s; log held through seq %d\n",
			a.CredentialStatus, a.ValidUntil.Format("2006-01-02"), a.Issuer, a.LogHead)
		eq := "none"
		if a.Equivocation {
			eq = "YES: it signed two different histories (proof kept)"
		}
		fmt.Fprintf(&b, "  equivocation: %s; yield omissions proven: %d\n", eq, a.Total.YieldOmissions)
		if len(a.Months) == 0 {
			b.WriteString("  no requests in this period\n")
			continue
		}
		tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "  MONTH\tREQUESTS\tOPEN\tCLOSED\tAREA×HOURS\tCLIPS\tHOMES\tCLIPS/REQ\tHOMES/REQ\tMEDIAN h TO CLOSE\tOMISSIONS\t")
		row := func(label string, f Figures) {
			med := "-"
			if f.MedianHoursToClose != nil {
				med = num(*f.MedianHoursToClose)
			}
			fmt.Fprintf(tw, "  %s\t%d\t%d\t%d\t%.3f\t%d\t%d\t%s\t%s\t%s\t%d\t\n", label, f.Requests, f.Open, f.Closed,
				f.AreaHours, f.Clips, f.Homes, num(f.ClipsPerRequest), num(f.HomesPerRequest), med, f.YieldOmissions)
		}
		for _, m := range a.Months {
			row(m.Month, m.Figures)
		}
		row("total", a.Total)
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if len(r.Issuers) > 0 {
		b.WriteString("\nIssuers\n")
	}
	for _, is := range r.Issuers {
		fmt.Fprintf(&b, "  %s: certified %d agenc%s%s; revoked %d%s\n", is.ID,
			len(is.Certified), plural(len(is.Certified)), names(is.Certified, false),
			len(is.Revoked), names(is.Revoked, true))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func names(rs []AgencyRef, when bool) string {
	if len(rs) == 0 {
		return ""
	}
	var parts []string
	for _, r := range rs {
		p := r.Name
		if when && r.RevokedAt != nil {
			p += " from " + r.RevokedAt.Format("2006-01-02 15:04 UTC")
		}
		parts = append(parts, p)
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

func plural(n int) string {
	if n == 1 {
		return "y"
	}
	return "ies"
}

func itoa(n int) string { return strconv.Itoa(n) }

// num writes a rounded figure in its shortest form (2.5, 0.333, 12).
func num(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

func optNum(f *float64) string {
	if f == nil {
		return ""
	}
	return num(*f)
}
