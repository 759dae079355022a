package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/spf13/cobra"

	"github.com/porchlight-mesh/porchlight/api"
	"github.com/porchlight-mesh/porchlight/record"
)

func newShareCmd(g *globals) *cobra.Command {
	var to, request, clipList, expires string
	var yes bool
	c := &cobra.Command{
		Use:   "share",
		Short: "Share clips with a neighbor or with the agency of a request (prints the grant ID last)",
		Long: `Sign a consent grant for the clips and deliver it privately: to a neighbor
(--to PEER_ID) or to the agency that made a request (--request REQ_ID). The
clips are kept (on hold) until the grant ends; revoke it at any time with
"porchlight grants revoke". Shows exactly what will be sent and asks first
(--yes to skip).`,
		Example: `  porchlight share --request <REQ_ID> --clips <ID>,<ID> --expires 7d
  porchlight share --to <PEER_ID> --clips <ID>`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if (to == "") == (request == "") {
				return usagef("give exactly one of --to PEER_ID and --request REQUEST_ID")
			}
			if to != "" {
				if _, err := peer.Decode(to); err != nil {
					return usagef("--to %q is not a peer ID", to)
				}
			}
			if request != "" {
				if _, err := record.ParseID(request); err != nil {
					return usagef("--request: %v", err)
				}
			}
			ids := strings.Split(clipList, ",")
			for _, id := range ids {
				if _, err := record.ParseID(id); err != nil {
					return usagef("--clips: %v", err)
				}
			}
			cl, err := g.client()
			if err != nil {
				return err
			}
			mine, err := cl.Clips(c.Context())
			if err != nil {
				return err
			}
			byID := map[string]api.ClipJSON{}
			for _, m := range mine {
				byID[m.ID] = m
			}
			who := "neighbor " + to
			if request != "" {
				who = "the agency that made request " + request
			}
			w := c.OutOrStdout()
			fmt.Fprintf(w, "This will let %s fetch, until %s from now:\n", who, expires)
			for _, id := range ids {
				m, ok := byID[id]
				if !ok {
					return usagef("clip %s is not one of this home's clips (see `porchlight clips ls`)", id)
				}
				fmt.Fprintf(w, "  %s  %s  %s  %d bytes\n", id[:12], m.Camera, m.Start.Local().Format(time.DateTime), m.Size)
			}
			if !yes {
				fmt.Fprint(w, "Share these clips? [y/N] ")
				line, _ := bufio.NewReader(c.InOrStdin()).ReadString('\n')
				if a := strings.ToLower(strings.TrimSpace(line)); a != "y" && a != "yes" {
					fmt.Fprintln(w, "nothing shared")
					return nil
				}
			}
			out, err := cl.Share(c.Context(), api.NewGrantJSON{To: to, Request: request, Clips: ids, Expires: expires})
			if err != nil {
				return err
			}
			if out.Delivered != nil && !*out.Delivered {
				fmt.Fprintln(w, "the grantee is not reachable now; the grant is kept and delivered when it is back")
			}
			fmt.Fprintln(w, out.ID)
			return nil
		},
	}
	c.Flags().StringVar(&to, "to", "", "the neighbor's peer ID")
	c.Flags().StringVar(&request, "request", "", "the request for assistance this answers (shares with its agency)")
	c.Flags().StringVar(&clipList, "clips", "", "comma-separated clip IDs")
	c.Flags().StringVar(&expires, "expires", "7d", "how long the grant lasts, e.g. 7d or 72h")
	c.Flags().BoolVar(&yes, "yes", false, "do not ask for confirmation")
	return c
}

func newGrantsCmd(g *globals) *cobra.Command {
	c := &cobra.Command{
		Use:   "grants",
		Short: "Grants this home issued or received",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			cl, err := g.client()
			if err != nil {
				return err
			}
			gs, err := cl.Grants(c.Context())
			if err != nil {
				return err
			}
			return printList(c, g, gs,
				col("GRANT", func(x api.GrantJSON) string { return x.ID }),
				col("FROM", func(x api.GrantJSON) string { return shortID(x.Owner) }),
				col("TO", func(x api.GrantJSON) string {
					if x.Grantee == "" {
						return "neighborhood"
					}
					return shortID(x.Grantee)
				}),
				col("CLIPS", func(x api.GrantJSON) string { return strconv.Itoa(len(x.Clips)) }),
				col("UNTIL", func(x api.GrantJSON) string { return x.Expires.Local().Format(time.DateTime) }),
				col("STATE", func(x api.GrantJSON) string {
					switch {
					case x.Revoked:
						return "revoked"
					case time.Now().After(x.Expires):
						return "expired"
					}
					return "active"
				}))
		},
	}
	addJSONFlag(c, g)
	c.AddCommand(&cobra.Command{
		Use:   "revoke GRANT_ID",
		Short: "Revoke a grant: every later fetch is refused",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			cl, err := g.client()
			if err != nil {
				return err
			}
			if err := cl.RevokeGrant(c.Context(), args[0]); err != nil {
				return err
			}
			fmt.Fprintln(c.OutOrStdout(), "revoked", args[0])
			return nil
		},
	})
	return c
}

func newAuditCmd(g *globals) *cobra.Command {
	c := &cobra.Command{
		Use:   "audit",
		Short: "The access log: every fetch of this home's clips, served or refused, and why",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			cl, err := g.client()
			if err != nil {
				return err
			}
			es, err := cl.Audit(c.Context())
			if err != nil {
				return err
			}
			return printList(c, g, es,
				col("WHEN", func(e api.AuditJSON) string { return e.Time.Local().Format(time.DateTime) }),
				col("PEER", func(e api.AuditJSON) string { return shortID(e.Peer) }),
				col("CLIP", func(e api.AuditJSON) string { return fmt.Sprintf("%.12s", e.Clip) }),
				col("RESULT", func(e api.AuditJSON) string {
					if e.Served {
						return fmt.Sprintf("served %d bytes", e.Bytes)
					}
					return "refused"
				}),
				col("REASON", func(e api.AuditJSON) string { return e.Reason }))
		},
	}
	addJSONFlag(c, g)
	return c
}

// newClipsFetchCmd fetches a granted clip into this node, then writes it
// to --out; a refusal leaves no output file.
func newClipsFetchCmd(g *globals) *cobra.Command {
	var from, clip, out string
	c := &cobra.Command{
		Use:   "fetch --from PEER_ID --clip CLIP_ID --out FILE",
		Short: "Fetch a clip you were granted (verified chunk by chunk)",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if from == "" || clip == "" || out == "" {
				return usagef("--from, --clip and --out are required")
			}
			if _, err := peer.Decode(from); err != nil {
				return usagef("--from %q is not a peer ID", from)
			}
			if _, err := record.ParseID(clip); err != nil {
				return usagef("--clip: %v", err)
			}
			cl, err := g.client()
			if err != nil {
				return err
			}
			var stop func()
			if isTerminal(os.Stderr) {
				pctx, cancel := context.WithCancel(c.Context())
				done := make(chan struct{})
				go func() {
					defer close(done)
					fetchProgress(pctx, cl, clip, c.ErrOrStderr())
				}()
				stop = func() {
					cancel()
					<-done
					fmt.Fprintln(c.ErrOrStderr())
				}
			}
			m, err := cl.Fetch(c.Context(), from, clip)
			if stop != nil {
				stop()
			}
			if err != nil {
				return err
			}
			tmp := out + ".part"
			f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
			if err != nil {
				return err
			}
			if _, err := cl.Download(c.Context(), clip, f, nil); err != nil {
				f.Close()
				os.Remove(tmp)
				return fmt.Errorf("read the fetched clip: %w", err)
			}
			if err := f.Close(); err != nil {
				os.Remove(tmp)
				return err
			}
			if err := os.Rename(tmp, out); err != nil {
				return err
			}
			fmt.Fprintf(c.OutOrStdout(), "fetched %s (%d bytes, verified) to %s\n", clip[:12], m.Size, out)
			return nil
		},
	}
	c.Flags().StringVar(&from, "from", "", "the owner's peer ID")
	c.Flags().StringVar(&clip, "clip", "", "the clip ID")
	c.Flags().StringVar(&out, "out", "", "file to write")
	return c
}
