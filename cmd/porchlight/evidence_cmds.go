package main

import (
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/porchlight-mesh/porchlight/api"
	"github.com/porchlight-mesh/porchlight/record"
)

func newEvidenceCmd(g *globals) *cobra.Command {
	c := &cobra.Command{
		Use:   "evidence",
		Short: "Clips shared with this node (agencies: evidence), with verification status",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			cl, err := g.client()
			if err != nil {
				return err
			}
			es, err := cl.Evidence(c.Context())
			if err != nil {
				return err
			}
			return printList(c, g, es,
				col("RECEIVED", func(e api.EvidenceJSON) string { return e.Received.Local().Format(time.DateTime) }),
				col("REQUEST", func(e api.EvidenceJSON) string {
					if e.Request == "" {
						return "-"
					}
					return e.Request[:12]
				}),
				col("FROM", func(e api.EvidenceJSON) string { return shortID(e.Owner) }),
				col("CAMERA", func(e api.EvidenceJSON) string { return e.Camera }),
				col("SIZE", func(e api.EvidenceJSON) string { return strconv.FormatUint(e.Size, 10) }),
				col("VERIFIED", func(e api.EvidenceJSON) string { return strconv.FormatBool(e.Verified) }),
				col("ID", func(e api.EvidenceJSON) string { return e.ID }))
		},
	}
	addJSONFlag(c, g)
	var out string
	export := &cobra.Command{
		Use:   "export CLIP_ID --out FILE",
		Short: "Write the evidence bundle of a received clip (check it with porchlight verify)",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if out == "" {
				return usagef("--out FILE is required")
			}
			if _, err := record.ParseID(args[0]); err != nil {
				return usageError{err}
			}
			cl, err := g.client()
			if err != nil {
				return err
			}
			f, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
			if err != nil {
				return usageError{err}
			}
			progress, finish := progressOn(os.Stderr)
			n, err := cl.ExportEvidence(c.Context(), args[0], f, progress)
			finish()
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				os.Remove(out)
				return err
			}
			fmt.Fprintf(c.OutOrStdout(), "wrote %s (%d bytes); check it with: porchlight verify %s\n", out, n, out)
			return nil
		},
	}
	export.Flags().StringVar(&out, "out", "", "file to write (must not exist)")
	c.AddCommand(export)
	return c
}
