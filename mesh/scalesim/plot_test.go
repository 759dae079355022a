package scalesim_test

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The plot of latency against homes (docs/scalesim-latency.svg) is drawn
// from the rows in testdata/scalesim.csv, which runs append to when
// SCALESIM_CSV names the file:
//
//	PORCHLIGHT_LONG=1 SCALESIM_CSV=$PWD/mesh/scalesim/testdata/scalesim.csv go test -count=1 -timeout 90m -v -run 'TestHundredHomes|TestThreeHundredHomes|TestThousandHomesFormed' ./mesh/scalesim/
//	SCALESIM_PLOT=$PWD/docs/scalesim-latency.svg go test -count=1 -run TestPlot ./mesh/scalesim/
//
// Without SCALESIM_PLOT, TestPlot draws into memory only (the plot code
// keeps working). Where the file holds several rows of one size, the last
// is drawn.

// csvHeader names the columns of testdata/scalesim.csv.
var csvHeader = []string{"homes", "degree", "posts", "ratio", "p50_ms", "p99_ms", "max_ms", "record_bytes",
	"bytes_ratio", "idle_bytes_per_s", "heap_settled_mib_per_home", "heap_posted_mib_per_home", "peak_rss_mib_per_home",
	"goroutines_per_home", "cpu_us_per_delivery", "idle_cpu_us_per_home_per_s", "real_s", "cpu_s", "load1", "date"}

func appendCSV(t *testing.T, file string, r result) {
	t.Helper()
	_, err := os.Stat(file)
	fresh := errors.Is(err, os.ErrNotExist)
	f, err := os.OpenFile(file, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := csv.NewWriter(f)
	if fresh {
		w.Write(csvHeader)
	}
	ms := func(d time.Duration) string {
		return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 1, 64)
	}
	mib := func(b float64) string { return strconv.FormatFloat(b/(1<<20), 'f', 2, 64) }
	us := func(d time.Duration) string {
		return strconv.FormatFloat(float64(d)/float64(time.Microsecond), 'f', 0, 64)
	}
	w.Write([]string{
		strconv.Itoa(r.homes), strconv.FormatFloat(r.degree, 'f', 1, 64), strconv.Itoa(r.posts),
		strconv.FormatFloat(r.ratio, 'f', 4, 64), ms(r.p50), ms(r.p99), ms(r.max),
		strconv.FormatFloat(r.recordBytes, 'f', 0, 64), strconv.FormatFloat(r.bytesPerDelivery/r.recordBytes, 'f', 1, 64),
		strconv.FormatFloat(r.idleBytesPerSecond, 'f', 0, 64), mib(r.heapPerHome), mib(r.heapPostedPerHome), mib(r.rssPerHome),
		strconv.FormatFloat(r.goroutinesPerHome, 'f', 0, 64), us(r.cpuPerDelivery), us(r.idleCPUPerHome),
		strconv.FormatFloat(r.realTime.Seconds(), 'f', 0, 64), strconv.FormatFloat(r.cpu.Seconds(), 'f', 0, 64),
		strings.Fields(loadAvg())[0], realNow().UTC().Format(time.RFC3339),
	})
	w.Flush()
	if err := w.Error(); err != nil {
		t.Fatal(err)
	}
}

// plotRow is one size's point on the plot.
type plotRow struct {
	homes             int
	p50, p99, maxLat  float64 // ms
	bytesRatio, ratio float64
}

func readRows(r io.Reader) ([]plotRow, error) {
	recs, err := csv.NewReader(r).ReadAll()
	if err != nil {
		return nil, err
	}
	if len(recs) < 2 {
		return nil, errors.New("no rows")
	}
	col := map[string]int{}
	for i, h := range recs[0] {
		col[h] = i
	}
	for _, h := range []string{"homes", "p50_ms", "p99_ms", "max_ms", "bytes_ratio", "ratio"} {
		if _, ok := col[h]; !ok {
			return nil, fmt.Errorf("no column %s", h)
		}
	}
	bySize := map[int]plotRow{}
	for _, rec := range recs[1:] {
		num := func(h string) float64 {
			v, _ := strconv.ParseFloat(rec[col[h]], 64)
			return v
		}
		row := plotRow{homes: int(num("homes")), p50: num("p50_ms"), p99: num("p99_ms"), maxLat: num("max_ms"),
			bytesRatio: num("bytes_ratio"), ratio: num("ratio")}
		bySize[row.homes] = row // the last row of a size wins
	}
	var rows []plotRow
	for _, r := range bySize {
		rows = append(rows, r)
	}
	slices.SortFunc(rows, func(a, b plotRow) int { return a.homes - b.homes })
	return rows, nil
}

// plotSVG draws p50, p99 and the slowest delivery (left axis, ms) and the
// wire bytes per delivered post per home as a multiple of the record
// (right axis) against the homes (log scale).
func plotSVG(w io.Writer, rows []plotRow) error {
	const (
		width, height            = 640, 420
		left, right, top, bottom = 70, 70, 50, 80
		pw, ph                   = width - left - right, height - top - bottom
	)
	if len(rows) == 0 {
		return errors.New("no rows to plot")
	}
	minH, maxH := float64(rows[0].homes), float64(rows[len(rows)-1].homes)
	lo, hi := math.Log10(minH)-0.1, math.Log10(maxH)+0.1
	x := func(homes int) float64 { return left + (math.Log10(float64(homes))-lo)/(hi-lo)*pw }
	maxMs, maxBytes := 0.0, 0.0
	for _, r := range rows {
		maxMs = max(maxMs, r.maxLat, r.p99)
		maxBytes = max(maxBytes, r.bytesRatio)
	}
	msTop := niceCeil(maxMs * 1.1)
	bytesTop := niceCeil(max(maxBytes*1.1, 3.5))
	yMs := func(v float64) float64 { return top + ph - v/msTop*ph }
	yB := func(v float64) float64 { return top + ph - v/bytesTop*ph }

	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", width, height, width, height)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", width, height)
	fmt.Fprintf(&b, `<text x="%d" y="22" font-size="14" text-anchor="middle">Post latency and wire bytes against homes (simulated, 20 ms links)</text>`+"\n", width/2)
	// Axes and grid.
	fmt.Fprintf(&b, `<g stroke="#999" fill="none"><rect x="%d" y="%d" width="%d" height="%d"/></g>`+"\n", left, top, pw, ph)
	for i := 0; i <= 5; i++ {
		v := msTop * float64(i) / 5
		y := yMs(v)
		fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#eee"/>`+"\n", left, y, left+pw, y)
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end">%g</text>`+"\n", left-6, y+4, v)
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" fill="#b35900">%g×</text>`+"\n", left+pw+6, yB(bytesTop*float64(i)/5)+4, bytesTop*float64(i)/5)
	}
	for _, r := range rows {
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle">%d</text>`+"\n", x(r.homes), top+ph+18, r.homes)
	}
	fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle">homes (log scale)</text>`+"\n", left+pw/2, top+ph+36)
	fmt.Fprintf(&b, `<text transform="translate(18 %d) rotate(-90)" text-anchor="middle">publish to arrival, ms (simulated)</text>`+"\n", top+ph/2)
	fmt.Fprintf(&b, `<text transform="translate(%d %d) rotate(90)" text-anchor="middle" font-size="11" fill="#b35900">wire bytes per delivered post per home ÷ record size</text>`+"\n", width-14, top+ph/2)
	// The bytes goal (≤ 3×).
	fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#b35900" stroke-dasharray="2 4"/>`+"\n", left, yB(3), left+pw, yB(3))
	fmt.Fprintf(&b, `<text x="%d" y="%.1f" fill="#b35900">bytes goal 3×</text>`+"\n", left+4, yB(3)-4)

	series := []struct {
		name, color, dash string
		y                 func(plotRow) float64
	}{
		{"p50", "#1f77b4", "", func(r plotRow) float64 { return yMs(r.p50) }},
		{"p99", "#d62728", "", func(r plotRow) float64 { return yMs(r.p99) }},
		{"slowest", "#7f7f7f", "4 3", func(r plotRow) float64 { return yMs(r.maxLat) }},
		{"bytes ÷ record", "#b35900", "8 4", func(r plotRow) float64 { return yB(r.bytesRatio) }},
	}
	for k, s := range series {
		var pts []string
		for _, r := range rows {
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(r.homes), s.y(r)))
		}
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="2" stroke-dasharray="%s" points="%s"/>`+"\n", s.color, s.dash, strings.Join(pts, " "))
		for _, r := range rows {
			fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="3" fill="%s"/>`+"\n", x(r.homes), s.y(r), s.color)
		}
		ly := top + 14 + 16*k
		fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="2" stroke-dasharray="%s"/>`+"\n", left+10, ly, left+34, ly, s.color, s.dash)
		fmt.Fprintf(&b, `<text x="%d" y="%d">%s</text>`+"\n", left+40, ly+4, s.name)
	}
	var ratios []string
	for _, r := range rows {
		ratios = append(ratios, fmt.Sprintf("%d: %.4f", r.homes, r.ratio))
	}
	fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="11" fill="#555">delivery ratio %s</text>`+"\n", left, height-20, strings.Join(ratios, ", "))
	fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="11" fill="#555">goal at 1,000 homes: p99 ≤ 1,160 ms (8 links of 20 ms + 1 heartbeat), bytes ≤ 3× the record</text>`+"\n", left, height-6)
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten.
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}

func TestPlot(t *testing.T) {
	f, err := os.Open("testdata/scalesim.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := readRows(f)
	if err != nil {
		t.Fatalf("testdata/scalesim.csv: %v", err)
	}
	var out strings.Builder
	if err := plotSVG(&out, rows); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "<polyline") {
		t.Fatal("no lines drawn")
	}
	if file := os.Getenv("SCALESIM_PLOT"); file != "" {
		if err := os.WriteFile(file, []byte(out.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s from %d sizes", file, len(rows))
	}
}
