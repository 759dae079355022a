package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"text/tabwriter"
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
			var es []api.EvidenceJSON
			if err := g.getJSON(c, "/api/v1/evidence", &es); err != nil {
				return err
			}
			if g.jsonOut {
				return printJSON(c, es)
			}
			tw := tabwriter.NewWriter(c.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "RECEIVED\tREQUEST\tFROM\tCAMERA\tSIZE\tVERIFIED\tID")
			for _, e := range es {
				req := "-"
				if e.Request != "" {
					req = e.Request[:12]
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%v\t%s\n", e.Received.Local().Format(time.DateTime), req, shortID(e.Owner), e.Camera, e.Size, e.Verified, e.ID)
			}
			return tw.Flush()
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
			req, _ := http.NewRequestWithContext(c.Context(), "GET", cl.base+"/api/v1/evidence/"+args[0]+"/bundle", nil)
			req.Header.Set("Authorization", "Bearer "+cl.token)
			resp, err := cl.stream.Do(req)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("export: %s", resp.Status)
			}
			f, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
			if err != nil {
				return usageError{err}
			}
			body, finish := withProgress(resp.Body, resp.ContentLength, os.Stderr)
			n, err := io.Copy(f, body)
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
