package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/spf13/cobra"

	"github.com/porchlight-mesh/porchlight/clips"
)

func newVerifyCmd(g *globals) *cobra.Command {
	var issuers []string
	c := &cobra.Command{
		Use:   "verify BUNDLE",
		Short: "Check an evidence bundle offline; exit 0 and a summary, or non-zero naming what failed",
		Long: `Check an evidence bundle (a tar written by "porchlight evidence export") with
no network and no data directory: the owner's signatures on the clip
manifest and the consent grant, every byte of the clip against the
manifest, the receiver's signed transfer record, and the request the grant
answers. A failure names the file in the bundle and the problem.

Signatures alone prove only that the documents agree with each other:
anyone can make a bundle from fresh keys. What ties a bundle to a real
agency is the issuer that certified it, which verify names. With
--issuer ID (repeatable), verify also requires the bundle to chain to one
of those issuers (its credential.env signed by it) and exits non-zero
otherwise.`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			var anchors []peer.ID
			for _, s := range issuers {
				id, err := peer.Decode(s)
				if err != nil {
					return usageError{fmt.Errorf("--issuer %q is not a peer ID", s)}
				}
				anchors = append(anchors, id)
			}
			f, err := os.Open(args[0])
			if err != nil {
				return usageError{err}
			}
			defer f.Close()
			sum, err := clips.VerifyBundle(bufio.NewReaderSize(f, 1<<20))
			if err != nil {
				return fmt.Errorf("%s: NOT VERIFIED: %w", args[0], err)
			}
			anchorErr := checkAnchor(sum, anchors)
			if g.jsonOut {
				if err := printJSON(c, sum); err != nil {
					return err
				}
			} else {
				printSummary(c.OutOrStdout(), args[0], sum, len(anchors) > 0 && anchorErr == nil)
			}
			if anchorErr != nil {
				return fmt.Errorf("%s: NOT VERIFIED: %w", args[0], anchorErr)
			}
			return nil
		},
	}
	addJSONFlag(c, g)
	c.Flags().StringArrayVar(&issuers, "issuer", nil, "require the bundle to chain to this issuer (a peer ID; repeat for several)")
	return c
}

// checkAnchor requires the bundle to chain to one of anchors, if any.
func checkAnchor(sum clips.Summary, anchors []peer.ID) error {
	if len(anchors) == 0 {
		return nil
	}
	if sum.Issuer == "" {
		return fmt.Errorf("the bundle chains to no issuer (it carries no agency credential), and --issuer requires one of %v", anchors)
	}
	for _, a := range anchors {
		if sum.Issuer == a {
			return nil
		}
	}
	return fmt.Errorf("the bundle chains to issuer %s, not to the required issuer %v", sum.Issuer, anchors)
}

func printSummary(w io.Writer, name string, sum clips.Summary, anchored bool) {
	switch {
	case anchored:
		fmt.Fprintf(w, "%s: verified, and chains to the required issuer %s\n", name, sum.Issuer)
	case sum.Issuer != "":
		fmt.Fprintf(w, "%s: signatures and hashes verified; chains to issuer %s (not checked against a trusted issuer: pass --issuer ID)\n", name, sum.Issuer)
	default:
		fmt.Fprintf(w, "%s: signatures and hashes verified, but the bundle chains to NO issuer: nothing ties its keys to a known agency (anyone can make such a bundle)\n", name)
	}
	fmt.Fprintf(w, "  clip       %s (%s, %d bytes, camera %q, from %s)\n", sum.Clip, sum.MediaType, sum.Size, sum.Camera, sum.Start.UTC().Format(time.RFC3339))
	fmt.Fprintf(w, "  owner      %s (signed the manifest and the grant)\n", sum.Owner)
	fmt.Fprintf(w, "  receiver   %s (signed the transfer, received %s)\n", sum.Receiver, sum.Received.UTC().Format(time.RFC3339))
	fmt.Fprintf(w, "  grant      %x, valid %s to %s\n", sum.Grant[:], sum.GrantIssued.UTC().Format(time.RFC3339), sum.GrantExpires.UTC().Format(time.RFC3339))
	if !sum.Request.IsZero() {
		fmt.Fprintf(w, "  request    %s, case %s, by agency %s\n", sum.Request, sum.CaseNumber, sum.Agency)
	} else {
		fmt.Fprintf(w, "  request    none (the grant answers no request)\n")
	}
	if sum.Issuer != "" {
		fmt.Fprintf(w, "  issuer     %s certified the agency as %q\n", sum.Issuer, sum.AgencyName)
	} else {
		fmt.Fprintf(w, "  issuer     none: the bundle carries no agency credential\n")
	}
}
