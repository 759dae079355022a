package main

import (
	"bufio"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/spf13/cobra"

	"github.com/porchlight-mesh/porchlight/api"
	"github.com/porchlight-mesh/porchlight/client"
	"github.com/porchlight-mesh/porchlight/node"
	"github.com/porchlight-mesh/porchlight/record"
	"github.com/porchlight-mesh/porchlight/requests"
)

// maxDocFile bounds a credential, revocation or issuer key file.
const maxDocFile = 64 << 10

func readSmallFile(path string) ([]byte, error) { return node.ReadBounded(path, maxDocFile) }

// writeNewFile writes a file that must not exist yet, mode 0600.
func writeNewFile(path string, b []byte) error {
	err := node.WriteNewFile(path, b)
	if errors.Is(err, os.ErrExist) {
		return usagef("%s already exists; choose another --out or remove it first", path)
	}
	return err
}

// parseValidity parses "365d", "12h" or any Go duration.
func parseValidity(s string) (time.Duration, error) {
	if d, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(d)
		if err != nil || n <= 0 {
			return 0, usagef("--valid %q: want a number of days such as 365d, or a duration such as 720h", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	v, err := time.ParseDuration(s)
	if err != nil || v <= 0 {
		return 0, usagef("--valid %q: want a number of days such as 365d, or a duration such as 720h", s)
	}
	return v, nil
}

func loadIssuerKey(path string) (crypto.PrivKey, error) { return node.ReadPrivateKey(path) }

func loadDoc(path string) (*record.Doc, error) {
	b, err := readSmallFile(path)
	if err != nil {
		return nil, err
	}
	d, err := record.OpenDoc(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return d, nil
}

func newIssuerCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "issuer",
		Short: "Offline issuer tools: make a key, certify agencies, revoke credentials",
		Long: `An issuer (a county public-safety office, a neighborhood association) keeps
an offline key that certifies agencies for a jurisdiction. None of these
commands needs a running node.`,
	}
	var out string
	initCmd := &cobra.Command{
		Use:   "init --out FILE",
		Short: "Make an issuer key (0600); prints the issuer's public ID last",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if out == "" {
				return usagef("--out FILE is required")
			}
			key, _, err := crypto.GenerateEd25519Key(rand.Reader)
			if err != nil {
				return err
			}
			b, err := crypto.MarshalPrivateKey(key)
			if err != nil {
				return err
			}
			if err := writeNewFile(out, b); err != nil {
				return err
			}
			id, _ := peer.IDFromPrivateKey(key)
			fmt.Fprintf(c.OutOrStdout(), "issuer key written to %s (keep it offline)\n%s\n", out, id)
			return nil
		},
	}
	initCmd.Flags().StringVar(&out, "out", "", "file to write the issuer key to")

	var keyFile, agency, name, jur, valid, from, credFile, at, reason, certOut string
	var throughSeq uint64
	certify := &cobra.Command{
		Use:   "certify",
		Short: "Sign an agency credential for a jurisdiction",
		Example: `  porchlight issuer certify --key county.issuer --agency 12D3KooW... --name "Springfield PD" \
      --jurisdiction circle:40.7128,-74.0060,5000 --valid 365d --out spd.credential`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if keyFile == "" || agency == "" || name == "" || jur == "" || certOut == "" {
				return usagef("--key, --agency, --name, --jurisdiction and --out are required")
			}
			aid, err := peer.Decode(agency)
			if err != nil {
				return usagef("--agency %q is not a peer ID (the agency node's `status` shows it)", agency)
			}
			area, err := requests.ParseArea(jur)
			if err != nil {
				return usagef("--jurisdiction: %v", err)
			}
			if err := area.Check(); err != nil {
				return usagef("--jurisdiction: %v", err)
			}
			d, err := parseValidity(valid)
			if err != nil {
				return err
			}
			start := time.Now()
			if from != "" {
				if start, err = time.Parse(time.RFC3339, from); err != nil {
					return usagef("--from %q: want an RFC 3339 time", from)
				}
			}
			key, err := loadIssuerKey(keyFile)
			if err != nil {
				return err
			}
			doc, err := requests.Certify(key, aid, name, area, start, start.Add(d))
			if err != nil {
				return usageError{err}
			}
			if err := writeNewFile(certOut, doc.Raw); err != nil {
				return err
			}
			fmt.Fprintf(c.OutOrStdout(), "credential for %s (%s) valid until %s written to %s\n%s\n", name, aid, start.Add(d).UTC().Format(time.RFC3339), certOut, doc.ID)
			return nil
		},
	}
	certify.Flags().StringVar(&keyFile, "key", "", "issuer key file")
	certify.Flags().StringVar(&agency, "agency", "", "the agency node's peer ID")
	certify.Flags().StringVar(&name, "name", "", "the agency's name")
	certify.Flags().StringVar(&jur, "jurisdiction", "", "circle:LAT,LON,METERS or polygon:LAT,LON;LAT,LON;...")
	certify.Flags().StringVar(&valid, "valid", "365d", "validity, e.g. 365d or 720h")
	certify.Flags().StringVar(&from, "from", "", "start of validity (RFC 3339; default now)")
	certify.Flags().StringVar(&certOut, "out", "", "file to write the credential to")

	revoke := &cobra.Command{
		Use:   "revoke",
		Short: "Sign the revocation of a credential",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if keyFile == "" || credFile == "" || certOut == "" {
				return usagef("--key, --credential and --out are required")
			}
			when := time.Now()
			if at != "" {
				var err error
				if when, err = time.Parse(time.RFC3339, at); err != nil {
					return usagef("--at %q: want an RFC 3339 time", at)
				}
			}
			key, err := loadIssuerKey(keyFile)
			if err != nil {
				return err
			}
			cred, err := loadDoc(credFile)
			if err != nil {
				return err
			}
			doc, err := requests.RevokeThrough(key, cred, when, throughSeq, reason)
			if err != nil {
				return usageError{err}
			}
			if err := writeNewFile(certOut, doc.Raw); err != nil {
				return err
			}
			fmt.Fprintf(c.OutOrStdout(), "revocation written to %s; publish it with: porchlight publish %s\n%s\n", certOut, certOut, doc.ID)
			return nil
		},
	}
	revoke.Flags().StringVar(&keyFile, "key", "", "issuer key file")
	revoke.Flags().StringVar(&credFile, "credential", "", "the credential file to revoke")
	revoke.Flags().StringVar(&at, "at", "", "revocation time (RFC 3339; default now)")
	revoke.Flags().Uint64Var(&throughSeq, "through-seq", 0, "the last position (seq) of the agency's log the credential still covers: later requests are refused whatever time they claim (read it from `porchlight agencies --json`, log_head; without it, a revoked agency can date a new request before --at)")
	revoke.Flags().StringVar(&reason, "reason", "", "why (public)")
	revoke.Flags().StringVar(&certOut, "out", "", "file to write the revocation to")
	c.AddCommand(initCmd, certify, revoke)
	return c
}

func newTrustCmd(g *globals) *cobra.Command {
	c := &cobra.Command{Use: "trust", Short: "Choose the issuers whose agency credentials this home accepts"}
	add := &cobra.Command{
		Use:   "add ISSUER_ID",
		Short: "Trust an issuer",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if _, err := peer.Decode(args[0]); err != nil {
				return usagef("%q is not an issuer ID (as printed by `porchlight issuer init`)", args[0])
			}
			cl, err := g.client()
			if err != nil {
				return err
			}
			out, err := cl.Trust(c.Context(), args[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(c.OutOrStdout(), "trusting %d issuer(s)\n", len(out))
			return nil
		},
	}
	ls := &cobra.Command{
		Use:   "ls",
		Short: "List trusted issuers",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			cl, err := g.client()
			if err != nil {
				return err
			}
			out, err := cl.TrustedIssuers(c.Context())
			if err != nil {
				return err
			}
			return printList(c, g, out, col("", func(id string) string { return id }))
		},
	}
	addJSONFlag(ls, g)
	c.AddCommand(add, ls)
	return c
}

// publishDoc sends a credential or revocation file to the running node.
func publishDoc(c *cobra.Command, g *globals, d *record.Doc) error {
	cl, err := g.client()
	if err != nil {
		return err
	}
	out, err := cl.PublishDocument(c.Context(), d.Raw)
	if err != nil {
		return err
	}
	if g.jsonOut {
		return printJSON(c, out)
	}
	fmt.Fprintf(c.OutOrStdout(), "published %s %s\n", out.Kind, out.ID)
	return nil
}

func newPublishCmd(g *globals) *cobra.Command {
	c := &cobra.Command{
		Use:   "publish FILE",
		Short: "Publish a credential or revocation file to the neighborhood",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			d, err := loadDoc(args[0])
			if err != nil {
				return usageError{err}
			}
			return publishDoc(c, g, d)
		},
	}
	addJSONFlag(c, g)
	return c
}

func newAgencyCmd(g *globals) *cobra.Command {
	c := &cobra.Command{Use: "agency", Short: "Agency node tools"}
	cred := &cobra.Command{
		Use:   "credential FILE",
		Short: "Install this agency node's credential (and publish it)",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			d, err := loadDoc(args[0])
			if err != nil {
				return usageError{err}
			}
			if d.Credential == nil {
				return usagef("%s is a revocation, not a credential", args[0])
			}
			cl, err := g.client()
			if err != nil {
				return err
			}
			st, err := cl.Status(c.Context())
			if err != nil {
				return err
			}
			if got := peer.ID(d.Credential.GetAgency()).String(); got != st.PeerID {
				return usagef("this credential certifies %s, but this node is %s", got, st.PeerID)
			}
			return publishDoc(c, g, d)
		},
	}
	addJSONFlag(cred, g)
	c.AddCommand(cred, newAgencyNeighborhoodsCmd(g))
	return c
}

func newRequestCmd(g *globals) *cobra.Command {
	c := &cobra.Command{Use: "request", Short: "Make and close requests for assistance (agency nodes)"}
	var in api.NewRequestJSON
	var from, to, note string
	create := &cobra.Command{
		Use:   "create",
		Short: "Publish a request for assistance (prints its ID last)",
		Example: `  porchlight request create --case 2026-1142 --incident "package theft" \
      --area circle:40.7130,-74.0055,300 --from 2026-11-27T18:00:00Z --to 2026-11-27T21:00:00Z \
      --contact "det. desk 555-0100" --description "..."`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			var err error
			if in.From, err = time.Parse(time.RFC3339, from); err != nil {
				return usagef("--from %q: want an RFC 3339 time such as 2026-11-27T18:00:00Z", from)
			}
			if in.To, err = time.Parse(time.RFC3339, to); err != nil {
				return usagef("--to %q: want an RFC 3339 time such as 2026-11-27T21:00:00Z", to)
			}
			if _, err := requests.ParseArea(in.Area); err != nil {
				return usagef("--area: %v", err)
			}
			cl, err := g.client()
			if err != nil {
				return err
			}
			id, err := cl.CreateRequest(c.Context(), in)
			if err != nil {
				return err
			}
			fmt.Fprintln(c.OutOrStdout(), id)
			return nil
		},
	}
	create.Flags().StringVar(&in.Case, "case", "", "case number (required)")
	create.Flags().StringVar(&in.Incident, "incident", "", "incident type (required)")
	create.Flags().StringVar(&in.Description, "description", "", "what happened and what would help")
	create.Flags().StringVar(&in.Contact, "contact", "", "how to reach the agency (required)")
	create.Flags().StringVar(&in.Area, "area", "", "circle:LAT,LON,METERS or polygon:LAT,LON;LAT,LON;...")
	create.Flags().StringVar(&from, "from", "", "start of the time window (RFC 3339)")
	create.Flags().StringVar(&to, "to", "", "end of the time window (RFC 3339)")
	closeCmd := &cobra.Command{
		Use:   "close REQUEST_ID",
		Short: "Close one of this agency's requests",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if _, err := record.ParseID(args[0]); err != nil {
				return usageError{err}
			}
			cl, err := g.client()
			if err != nil {
				return err
			}
			if _, err := cl.CloseRequest(c.Context(), args[0], note); err != nil {
				return err
			}
			fmt.Fprintf(c.OutOrStdout(), "closed %s\n", args[0])
			return nil
		},
	}
	closeCmd.Flags().StringVar(&note, "note", "", "a public note")
	c.AddCommand(create, closeCmd)
	return c
}

func newRequestsCmd(g *globals) *cobra.Command {
	var agency string
	var limit int
	c := &cobra.Command{
		Use:   "requests",
		Short: "List agency requests for assistance, and whether each covers this home",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if limit < 1 || limit > 10000 {
				return usagef("--limit must be from 1 to 10000")
			}
			if agency != "" {
				if _, err := peer.Decode(agency); err != nil {
					return usagef("--agency %q is not a peer ID", agency)
				}
			}
			cl, err := g.client()
			if err != nil {
				return err
			}
			items, err := cl.Requests(c.Context(), client.RequestsQuery{Agency: agency, Limit: limit})
			if err != nil {
				return err
			}
			type R = api.RequestJSON
			return printList(c, g, items,
				col("AGENCY", func(it R) string { return it.AgencyName }),
				col("CASE", func(it R) string { return it.Case }),
				col("INCIDENT", func(it R) string { return oneLine(it.Incident, 30) }),
				col("STATUS", func(it R) string {
					if it.AfterRevocation {
						return it.Status + " (credential revoked before)"
					}
					return it.Status
				}),
				col("WINDOW", func(it R) string {
					return it.From.Local().Format("Jan 2 15:04") + " – " + it.To.Local().Format("15:04")
				}),
				col("AREA", func(it R) string { return fmt.Sprintf("%.3f sq mi", it.AreaSqMi) }),
				col("YIELD", func(it R) string {
					return fmt.Sprintf("%d clip(s), %d home(s)", it.ClipsReceived, it.HomesShared)
				}),
				col("YOUR HOME", func(it R) string {
					if it.CoversHome {
						return fmt.Sprintf("covered, %d clip(s) in window", it.MatchingClips)
					}
					return "-"
				}),
				col("ID", func(it R) string { return it.ID[:12] }))
		},
	}
	c.Flags().StringVar(&agency, "agency", "", "only this agency's requests (peer ID)")
	c.Flags().IntVar(&limit, "limit", 100, "how many, newest first")
	c.AddCommand(newPublishOmissionCmd(g))
	addJSONFlag(c, g)
	c.AddCommand(newAuditYieldCmd(g))
	return c
}

// newAuditYieldCmd is `requests audit-yield`: a home checks that the
// agency's public yield counts each clip it shared for a request.
func newAuditYieldCmd(g *globals) *cobra.Command {
	c := &cobra.Command{
		Use:   "audit-yield REQUEST_ID",
		Short: "Check that the agency's public yield of a request counts each clip this home shared for it",
		Long: `For each clip this home shared for the request and the agency fetched, recompute
the clip's commitment (only this home and the agency can) and look for it in
the Yield records of the agency's public log: included, pending (the agency
has YieldGrace, 15 minutes of its log, to write it) or missing. The check
runs on this node alone and sends nothing: it reveals to no one that this
home shared.`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if _, err := record.ParseID(args[0]); err != nil {
				return usageError{err}
			}
			cl, err := g.client()
			if err != nil {
				return err
			}
			a, err := cl.AuditYield(c.Context(), args[0])
			if err != nil {
				return err
			}
			if g.jsonOut {
				return printJSON(c, a)
			}
			w := c.OutOrStdout()
			if len(a.Clips) == 0 {
				fmt.Fprintf(w, "this home shared no clip for request %.12s\n", a.Request)
				return nil
			}
			for _, cl := range a.Clips {
				line := fmt.Sprintf("%-11s clip %.12s", cl.State, cl.Clip)
				switch {
				case cl.YieldSeq > 0:
					line += fmt.Sprintf("  counted by the yield at seq %d of the agency's log", cl.YieldSeq)
				case cl.Served != nil:
					line += "  served " + cl.Served.Local().Format("Jan 2 15:04:05")
				}
				fmt.Fprintln(w, line)
			}
			fmt.Fprintf(w, "%d included, %d pending, %d missing, %d not fetched\n", a.Included, a.Pending, a.Missing, a.NotFetched)
			if a.Missing > 0 {
				fmt.Fprintln(w, "A missing clip: the agency received it and its public yield does not count it.")
			}
			return nil
		},
	}
	addJSONFlag(c, g)
	return c
}

func newAgenciesCmd(g *globals) *cobra.Command {
	c := &cobra.Command{
		Use:   "agencies",
		Short: "List agencies with their credential status and public history",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			cl, err := g.client()
			if err != nil {
				return err
			}
			ags, err := cl.Agencies(c.Context())
			if err != nil {
				return err
			}
			type A = api.AgencyJSON
			return printList(c, g, ags,
				col("NAME", func(a A) string {
					name := a.Name
					if a.Equivocation {
						name += " (!EQUIVOCATED: rewrote its public log)"
					}
					if n := len(a.YieldOmissions); n > 0 {
						name += fmt.Sprintf(" (!YIELD OMISSION: %d clip(s) received and left out of its yield, with proof)", n)
					}
					return name
				}),
				col("CREDENTIAL", func(a A) string { return a.CredentialStatus }),
				col("REQUESTS", func(a A) string { return strconv.Itoa(a.Requests) }),
				col("OPEN", func(a A) string { return strconv.Itoa(a.Open) }),
				col("CLOSED", func(a A) string { return strconv.Itoa(a.Closed) }),
				col("AREA×HOURS", func(a A) string { return fmt.Sprintf("%.2f", a.AreaHours) }),
				col("PEER ID", func(a A) string { return a.PeerID }))
		},
	}
	addJSONFlag(c, g)
	return c
}

func newPublishOmissionCmd(g *globals) *cobra.Command {
	var yes bool
	c := &cobra.Command{
		Use:   "publish-omission REQUEST_ID",
		Short: "Publish proof that the request's agency left a clip this home shared out of its yield",
		Long: `Check each clip this home shared for the request, whose receipt (the
agency's signed transfer record) it holds, against the agency's yield
records. For every clip the agency received and did not count in time
(` + fmt.Sprintf("%d minutes", int(requests.YieldGrace.Minutes())) + ` after receiving it), publish an omission proof in this
home's public log: every node verifies it and flags the agency.

` + api.OmissionReveals + `

Asks first (--yes to skip).`,
		Example: `  porchlight requests publish-omission <REQUEST_ID>`,
		Args:    cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if _, err := record.ParseID(args[0]); err != nil {
				return usagef("REQUEST_ID: %v", err)
			}
			cl, err := g.client()
			if err != nil {
				return err
			}
			checks, err := cl.OmissionChecks(c.Context(), args[0])
			if err != nil {
				return err
			}
			w := c.OutOrStdout()
			var missing []api.OmissionCheckJSON
			for _, ch := range checks {
				switch {
				case ch.Published != "":
					fmt.Fprintf(w, "  clip %s: omission already published (record %s)\n", ch.Clip[:12], ch.Published[:12])
				case !ch.Receipt:
					fmt.Fprintf(w, "  clip %s: no receipt from the agency (not fetched yet, or it sent none): nothing to prove\n", ch.Clip[:12])
				case ch.State == "proven":
					fmt.Fprintf(w, "  clip %s: MISSING from the yield: %s\n", ch.Clip[:12], ch.Why)
					missing = append(missing, ch)
				default:
					fmt.Fprintf(w, "  clip %s: %s: %s\n", ch.Clip[:12], strings.ReplaceAll(ch.State, "_", " "), ch.Why)
				}
			}
			if len(missing) == 0 {
				fmt.Fprintln(w, "nothing to publish: no clip this home shared for this request is proven missing from its yield")
				return nil
			}
			fmt.Fprintf(w, "\n%s\n", api.OmissionReveals)
			if !yes {
				fmt.Fprintf(w, "Publish proof for %d clip(s)? [y/N] ", len(missing))
				line, _ := bufio.NewReader(c.InOrStdin()).ReadString('\n')
				if a := strings.ToLower(strings.TrimSpace(line)); a != "y" && a != "yes" {
					fmt.Fprintln(w, "nothing published")
					return nil
				}
			}
			out, err := cl.PublishOmission(c.Context(), args[0])
			if err != nil {
				return err
			}
			for _, id := range out.Records {
				fmt.Fprintln(w, id)
			}
			if out.Error != "" {
				return fmt.Errorf("published %d record(s), then: %s", len(out.Records), out.Error)
			}
			return nil
		},
	}
	c.Flags().BoolVar(&yes, "yes", false, "do not ask for confirmation")
	return c
}
