package transparency_test

import (
	"fmt"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/porchlight-mesh/porchlight/geo"
	"github.com/porchlight-mesh/porchlight/requests"
	"github.com/porchlight-mesh/porchlight/transparency"
)

// A report over two requests of one agency, one closed after 90 minutes,
// written as the CSV a journalist loads.
func ExampleReport_WriteCSV() {
	agency, _ := peer.Decode("12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA")
	made := time.Date(2026, 1, 10, 18, 0, 0, 0, time.UTC)
	area := requests.Area{Center: geo.Point{Lat: 40.7128, Lon: -74.0060}, Radius: 300}
	in := transparency.Input{
		Agencies: []requests.Agency{{ID: agency, Name: "Springfield PD", Issuer: agency, CredentialStatus: requests.StatusValid, Head: 3}},
		Histories: map[peer.ID][]requests.Item{agency: {
			{Area: area, From: made.Add(-2 * time.Hour), To: made, Created: made, Closed: true, ClosedAt: made.Add(90 * time.Minute),
				Yield: requests.Yield{Clips: 3, Homes: 2}},
			{Area: area, From: made.Add(22 * time.Hour), To: made.Add(24 * time.Hour), Created: made.Add(24 * time.Hour)},
		}},
	}
	r := transparency.Build(in, transparency.Options{})
	var b strings.Builder
	r.WriteCSV(&b)
	fmt.Print(strings.ReplaceAll(b.String(), "\r\n", "\n")) // the CSV's line ends are CRLF
	// Output:
	// agency_id,agency_name,issuer,credential_status,log_head,equivocation,month,requests,open,closed,area_hours,clips,homes,yield_bytes,video_seconds,clips_per_request,homes_per_request,median_hours_to_close,yield_omissions
	// 12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA,Springfield PD,12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA,valid,3,false,2026-01,2,1,1,0.437,3,2,0,0,1.5,1,1.5,0
}
