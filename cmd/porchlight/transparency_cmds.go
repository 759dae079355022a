package main

import (
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/spf13/cobra"

	"github.com/porchlight-mesh/porchlight/client"
	"github.com/porchlight-mesh/porchlight/transparency"
)

func newTransparencyCmd(g *globals) *cobra.Command {
	var q client.TransparencyQuery
	var format string
	c := &cobra.Command{
		Use:   "transparency",
		Short: "Transparency report: per agency and month, what it asked for and received, from the signed records this node holds",
		Long: `Print a transparency report computed only from the signed records this node
holds: per agency and per UTC month (of each request's signed creation time),
requests made, open and closed, area × hours asked, clips and homes received
and per request, the median time to close, proven yield omissions,
equivocation and credential status; per trusted issuer, the agencies it
certified and revoked.

Any member holding the same records computes the same figures; each agency
names the last position of its log the figures cover (log_head). The CSV has
one row per agency and month, and is exactly what the web UI's Transparency
page downloads.`,
		Example: `  porchlight transparency
  porchlight transparency --since 2026-01 --format csv > report.csv
  porchlight transparency --agency 12D3KooW... --format json`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if q.Agency != "" {
				if _, err := peer.Decode(q.Agency); err != nil {
					return usagef("--agency %q is not a peer ID (see `porchlight agencies`)", q.Agency)
				}
			}
			if q.Since != "" {
				if _, err := transparency.ParseSince(q.Since); err != nil {
					return usagef("--%v", err)
				}
			}
			if format != "text" && format != "json" && format != "csv" {
				return usagef("--format %q: want text, json or csv", format)
			}
			cl, err := g.client()
			if err != nil {
				return err
			}
			if format == "csv" {
				b, err := cl.TransparencyCSV(c.Context(), q)
				if err != nil {
					return err
				}
				_, err = c.OutOrStdout().Write(b)
				return err
			}
			rep, err := cl.Transparency(c.Context(), q)
			if err != nil {
				return err
			}
			if format == "json" {
				return printJSON(c, rep)
			}
			return rep.WriteText(c.OutOrStdout())
		},
	}
	c.Flags().StringVar(&q.Agency, "agency", "", "only this agency (peer ID)")
	c.Flags().StringVar(&q.Since, "since", "", "only requests made since this date (2026-01-31, UTC), month (2026-01) or RFC 3339 time")
	c.Flags().StringVar(&format, "format", "text", "text, json or csv (one row per agency and month)")
	return c
}
