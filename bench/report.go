package main

import (
	"fmt"
	"math"
	"os"
	"slices"
	"strings"
	"time"
)

// section is one benchmark's share of the report: rows for the summary
// table and a Markdown body with the details.
type section struct {
	title string
	rows  []row
	body  strings.Builder
}

// row is one line of the summary table.
type row struct {
	metric, result, baseline, ratio, target string
	met                                     *bool // nil: no target
}

func (s *section) add(r row) { s.rows = append(s.rows, r) }

func (s *section) printf(format string, args ...any) { fmt.Fprintf(&s.body, format, args...) }

func met(ok bool) *bool { return &ok }

func report(e *env, sections []*section, total time.Duration) string {
	var b strings.Builder
	fmt.Fprintf(&b, "## Run of %s\n\n", time.Now().UTC().Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(&b, "Command (from the repository root):\n\n    %s\n\n", strings.TrimSpace("go run ./bench "+strings.Join(os.Args[1:], " ")))
	for _, l := range machine() {
		fmt.Fprintf(&b, "- %s\n", l)
	}
	fmt.Fprintf(&b, "- Total run time: %.0f s\n\n", total.Seconds())
	b.WriteString("| Benchmark | Metric | Porchlight | Baseline | Ratio | Target | Met |\n")
	b.WriteString("|---|---|---|---|---|---|---|\n")
	for _, s := range sections {
		for _, r := range s.rows {
			m := ""
			if r.met != nil {
				m = "no"
				if *r.met {
					m = "yes"
				}
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s |\n", s.title, r.metric, r.result, or(r.baseline), or(r.ratio), or(r.target), or(m))
		}
	}
	b.WriteString("\n")
	for _, s := range sections {
		fmt.Fprintf(&b, "### %s\n\n%s", s.title, s.body.String())
	}
	return b.String()
}

func or(s string) string {
	if s == "" {
		return "–"
	}
	return s
}

// dist summarizes a set of latencies.
type dist struct {
	n                          int
	min, median, p90, p99, max time.Duration
	mean                       time.Duration
}

// summarize computes nearest-rank percentiles: pX is the smallest sample
// that at least X% of samples do not exceed (p99 of 200 is the 198th).
func summarize(ds []time.Duration) dist {
	if len(ds) == 0 {
		return dist{}
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	rank := func(p float64) time.Duration {
		i := int(math.Ceil(p*float64(len(s)))) - 1
		return s[max(i, 0)]
	}
	var sum time.Duration
	for _, d := range s {
		sum += d
	}
	return dist{
		n: len(s), min: s[0], median: rank(0.50), p90: rank(0.90), p99: rank(0.99), max: s[len(s)-1],
		mean: sum / time.Duration(len(s)),
	}
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond)) }

func ratio(a, b float64) string {
	if b == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f×", a/b)
}

func distTable(b *strings.Builder, cols []string, ds []dist) {
	b.WriteString("| |")
	for _, c := range cols {
		fmt.Fprintf(b, " %s |", c)
	}
	b.WriteString("\n|---|")
	for range cols {
		b.WriteString("---:|")
	}
	b.WriteString("\n")
	line := func(name string, f func(dist) string) {
		fmt.Fprintf(b, "| %s |", name)
		for _, d := range ds {
			fmt.Fprintf(b, " %s |", f(d))
		}
		b.WriteString("\n")
	}
	line("samples", func(d dist) string { return fmt.Sprint(d.n) })
	line("min", func(d dist) string { return ms(d.min) })
	line("median", func(d dist) string { return ms(d.median) })
	line("mean", func(d dist) string { return ms(d.mean) })
	line("p90", func(d dist) string { return ms(d.p90) })
	line("p99", func(d dist) string { return ms(d.p99) })
	line("max", func(d dist) string { return ms(d.max) })
	b.WriteString("\n")
}
