package main

import (
	"bufio"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/porchlight-mesh/porchlight/clips"
)

func newVerifyCmd(g *globals) *cobra.Command {
	c := &cobra.Command{
		Use:   "verify BUNDLE",
		Short: "Check an evidence bundle offline; exit 0 and a summary, or non-zero naming what failed",
		Long: `Check an evidence bundle (a tar written by "porchlight evidence export") with
no network and no data directory: the owner's signatures on the clip
manifest and the consent grant, every byte of the clip against the
manifest, the receiver's signed transfer record, and the request the grant
answers. A failure names the file in the bundle and the problem.`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			f, err := os.Open(args[0])
			if err != nil {
				return usageError{err}
			}
			defer f.Close()
			sum, err := clips.VerifyBundle(bufio.NewReaderSize(f, 1<<20))
			if err != nil {
				return fmt.Errorf("%s: NOT VERIFIED: %w", args[0], err)
			}
			if g.jsonOut {
				return printJSON(c, sum)
			}
			w := c.OutOrStdout()
			fmt.Fprintf(w, "%s: verified\n", args[0])
			fmt.Fprintf(w, "  clip       %s (%s, %d bytes, camera %q, from %s)\n", sum.Clip, sum.MediaType, sum.Size, sum.Camera, sum.Start.UTC().Format(time.RFC3339))
			fmt.Fprintf(w, "  owner      %s (signed the manifest and the grant)\n", sum.Owner)
			fmt.Fprintf(w, "  receiver   %s (signed the transfer, received %s)\n", sum.Receiver, sum.Received.UTC().Format(time.RFC3339))
			fmt.Fprintf(w, "  grant      %x, valid %s to %s\n", sum.Grant[:], sum.GrantIssued.UTC().Format(time.RFC3339), sum.GrantExpires.UTC().Format(time.RFC3339))
			if !sum.Request.IsZero() {
				fmt.Fprintf(w, "  request    %s, case %s", sum.Request, sum.CaseNumber)
				if sum.AgencyName != "" {
					fmt.Fprintf(w, ", %s (issuer %s)", sum.AgencyName, sum.Issuer)
				}
				fmt.Fprintln(w)
			}
			return nil
		},
	}
	addJSONFlag(c, g)
	return c
}
