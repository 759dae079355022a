package api

import (
	"fmt"
	"strings"

	qrcode "github.com/skip2/go-qrcode"
)

// QRSVG draws s as a QR code: a self-contained SVG document of <rect>s
// (one per run of dark modules in a row) on a white square with the
// standard quiet zone, scaled by the viewer. The browser needs no
// library and fetches nothing to show it.
func QRSVG(s string) (string, error) {
	q, err := qrcode.New(s, qrcode.Medium)
	if err != nil {
		// Long content fits at a lower error-correction level.
		if q, err = qrcode.New(s, qrcode.Low); err != nil {
			return "", fmt.Errorf("draw the QR code of %d bytes: %w", len(s), err)
		}
	}
	bm := q.Bitmap() // with the 4-module quiet zone
	n := len(bm)
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" width="%d" height="%d" shape-rendering="crispEdges" role="img" aria-label="QR code of the invite">`, n, n, 4*n, 4*n)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="#fff"/><g fill="#000">`, n, n)
	for y, row := range bm {
		for x := 0; x < len(row); {
			if !row[x] {
				x++
				continue
			}
			start := x
			for x < len(row) && row[x] {
				x++
			}
			fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="1"/>`, start, y, x-start)
		}
	}
	b.WriteString(`</g></svg>`)
	return b.String(), nil
}
