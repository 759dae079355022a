package main

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/libp2p/go-libp2p/core/peer"
	qrcode "github.com/skip2/go-qrcode"
	"github.com/spf13/cobra"

	"github.com/porchlight-mesh/porchlight/api"
	"github.com/porchlight-mesh/porchlight/client"
)

// refused makes the node's refusal of a membership command a usage error
// (exit 2): the rules said no (only stewards remove, ...), the input was
// wrong (a garbled invite, an unknown ID), or the neighborhood is open.
// The node's own failures stay exit 1.
func refused(err error) error {
	var ce *client.Error
	if errors.As(err, &ce) {
		switch ce.Status {
		case http.StatusBadRequest, http.StatusForbidden, http.StatusNotFound, http.StatusConflict:
			return usageError{err}
		}
	}
	return err
}

func checkPeer(arg string) error {
	if _, err := peer.Decode(arg); err != nil {
		return usagef("%q is not a peer ID (see `porchlight members`)", arg)
	}
	return nil
}

func newInviteCmd(g *globals) *cobra.Command {
	c := &cobra.Command{
		Use:   "invite",
		Short: "Invite a home into this invite-only neighborhood, list and revoke invites",
		Long: `An invite lets one home (or --uses homes) join this neighborhood until it
expires. Give the invite string privately (a chat, a QR code shown in
person): whoever holds it can join with it. A home joins when it reaches
any online member, so you need not stay online.`,
	}
	c.AddCommand(newInviteCreateCmd(g), newInviteLsCmd(g), newInviteRevokeCmd(g))
	return c
}

func newInviteCreateCmd(g *globals) *cobra.Command {
	var expiresFlag string
	var uses int
	c := &cobra.Command{
		Use:   "create",
		Short: "Sign an invite (prints the invite string last; a QR code too on a terminal)",
		Long: `Sign an invite and print its details, then, on the last line, the invite
string (porchlight:...). On a terminal a QR code of it is drawn above that
line, to scan from a phone. Anyone who holds the string can join until it
expires or is used up: revoke it with "porchlight invite revoke ID" if it
leaks.`,
		Example: `  porchlight invite create
  porchlight invite create --expires 7d --uses 3`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			expires, err := parseValidity(expiresFlag)
			if err != nil || expires > api.MaxInviteExpiry {
				return usagef("--expires %q: want a duration such as 72h or 7d, at most 30d", expiresFlag)
			}
			if uses < 1 || uses > api.MaxInviteUses {
				return usagef("--uses %d: an invite admits from 1 to %d homes", uses, api.MaxInviteUses)
			}
			cl, err := g.client()
			if err != nil {
				return err
			}
			inv, err := cl.CreateInvite(c.Context(), api.NewInviteJSON{Expires: expiresFlag, Uses: uses})
			if err != nil {
				return refused(err)
			}
			if g.jsonOut {
				return printJSON(c, inv)
			}
			out := c.OutOrStdout()
			f, ok := out.(*os.File)
			printInvite(out, inv, ok && isTerminal(f))
			return nil
		},
	}
	c.Flags().StringVar(&expiresFlag, "expires", "72h", "how long the invite is valid, e.g. 72h or 7d (at most 30d)")
	c.Flags().IntVar(&uses, "uses", 1, fmt.Sprintf("how many homes may join with it (1 to %d)", api.MaxInviteUses))
	addJSONFlag(c, g)
	return c
}

// printInvite writes an invite's details, its QR code when qr, and the
// invite string as the last line (what scripts take).
func printInvite(w io.Writer, inv api.InviteCreated, qr bool) {
	homes := "1 home"
	if inv.Uses != 1 {
		homes = fmt.Sprintf("%d homes", inv.Uses)
	}
	fmt.Fprintf(w, "invite %s: admits %s until %s\n", shortHex(inv.ID), homes, inv.Expires.Local().Format(time.DateTime))
	fmt.Fprintf(w, "give it privately: whoever holds it can join (revoke with: porchlight invite revoke %s)\n", shortHex(inv.ID))
	if qr {
		if q, err := qrcode.New(inv.Invite, qrcode.Low); err == nil {
			fmt.Fprint(w, q.ToSmallString(false))
		}
	}
	fmt.Fprintln(w, inv.Invite)
}

func shortHex(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

func newInviteLsCmd(g *globals) *cobra.Command {
	c := &cobra.Command{
		Use:   "ls",
		Short: "List this home's invites (never their strings: the secret is not kept)",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			cl, err := g.client()
			if err != nil {
				return err
			}
			invs, err := cl.Invites(c.Context())
			if err != nil {
				return refused(err)
			}
			return printList(c, g, invs,
				col("INVITE", func(i api.InviteInfo) string { return shortHex(i.ID) }),
				col("CREATED", func(i api.InviteInfo) string { return i.Created.Local().Format(time.DateTime) }),
				col("EXPIRES", func(i api.InviteInfo) string { return i.Expires.Local().Format(time.DateTime) }),
				col("USED", func(i api.InviteInfo) string { return fmt.Sprintf("%d of %d", i.Used, i.Uses) }),
				col("STATE", func(i api.InviteInfo) string {
					switch {
					case i.Revoked:
						return "revoked"
					case !time.Now().Before(i.Expires):
						return "expired"
					case i.Used >= i.Uses:
						return "used up"
					}
					return "active"
				}))
		},
	}
	addJSONFlag(c, g)
	return c
}

func newInviteRevokeCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "revoke ID",
		Short: "Revoke one of this home's invites: nobody joins with it any more",
		Long: `Revoke an invite by its ID, or by its first 8 or more characters as
"porchlight invite ls" shows them. Homes that already joined with it stay
members (remove them with "porchlight members remove").`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			id := strings.ToLower(args[0])
			if len(id) < 8 || len(id) > 64 || strings.Trim(id, "0123456789abcdef") != "" {
				return usagef("%q: give the invite's ID, or at least its first 8 characters (see `porchlight invite ls`)", args[0])
			}
			cl, err := g.client()
			if err != nil {
				return err
			}
			if err := cl.RevokeInvite(c.Context(), id); err != nil {
				return refused(err)
			}
			fmt.Fprintln(c.OutOrStdout(), "revoked invite", id)
			return nil
		},
	}
}

func newMembersCmd(g *globals) *cobra.Command {
	c := &cobra.Command{
		Use:   "members",
		Short: "List the neighborhood's members: who invited whom, stewards, removals",
		Long: `List every home admitted to this invite-only neighborhood, with who
invited it, when it joined, whether it is a steward, and removals with
their reason. Stewards (the founder first) can remove members and name
other stewards.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			cl, err := g.client()
			if err != nil {
				return err
			}
			ms, err := cl.Members(c.Context())
			if err != nil {
				return refused(err)
			}
			names := map[string]string{}
			for _, m := range ms {
				names[m.PeerID] = m.Name
			}
			return printList(c, g, ms,
				col("NAME", func(m api.MemberInfo) string { return m.Name }),
				col("PEER ID", func(m api.MemberInfo) string { return m.PeerID }),
				col("INVITED BY", func(m api.MemberInfo) string {
					switch {
					case m.Founder:
						return "(founder)"
					case m.InvitedBy == "":
						return "(charter)"
					case names[m.InvitedBy] != "":
						return names[m.InvitedBy]
					}
					return shortID(m.InvitedBy)
				}),
				col("JOINED", func(m api.MemberInfo) string { return m.Joined.Local().Format(time.DateTime) }),
				col("ROLE", func(m api.MemberInfo) string {
					if m.Steward {
						return "steward"
					}
					return "member"
				}),
				col("STATE", func(m api.MemberInfo) string {
					var s []string
					if m.Removed {
						s = append(s, fmt.Sprintf("removed %s: %s", m.RemovedAt.Local().Format(time.DateOnly), oneLine(m.Reason, 40)))
					}
					if m.Muted {
						s = append(s, "muted")
					}
					if len(s) == 0 {
						return "ok"
					}
					return strings.Join(s, "; ")
				}))
		},
	}
	addJSONFlag(c, g)
	c.AddCommand(newMembersRemoveCmd(g), newMembersStewardCmd(g))
	return c
}

func newMembersRemoveCmd(g *globals) *cobra.Command {
	var reason string
	c := &cobra.Command{
		Use:   "remove PEER_ID --reason TEXT",
		Short: "Remove a member (stewards only); every member sees the reason",
		Long: `Remove a member from the neighborhood (stewards only). Every node then
refuses its new posts and closes its connections; its earlier posts stay,
marked. The reason is public to every member. The founder cannot be
removed.`,
		Example: `  porchlight members remove 12D3KooW... --reason "moved away"`,
		Args:    cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if err := checkPeer(args[0]); err != nil {
				return err
			}
			reason = strings.TrimSpace(reason)
			if reason == "" {
				return usagef("give --reason: every member sees why a home was removed")
			}
			if n := utf8.RuneCountInString(reason); n > api.MaxReason {
				return usagef("--reason is %d characters; at most %d", n, api.MaxReason)
			}
			cl, err := g.client()
			if err != nil {
				return err
			}
			if err := cl.RemoveMember(c.Context(), args[0], reason); err != nil {
				return refused(err)
			}
			fmt.Fprintln(c.OutOrStdout(), "removed", args[0])
			return nil
		},
	}
	c.Flags().StringVar(&reason, "reason", "", fmt.Sprintf("why (public to every member, at most %d characters); required", api.MaxReason))
	return c
}

func newMembersStewardCmd(g *globals) *cobra.Command {
	c := &cobra.Command{
		Use:   "steward",
		Short: "Name or unname stewards (stewards only)",
		Long: `Stewards may remove members and name other stewards. The founder is a
steward for good.`,
	}
	for _, on := range []bool{true, false} {
		use, short, done := "add PEER_ID", "Make a member a steward", "is now a steward"
		if !on {
			use, short, done = "remove PEER_ID", "Make a steward an ordinary member again", "is no longer a steward"
		}
		c.AddCommand(&cobra.Command{
			Use:   use,
			Short: short,
			Args:  cobra.ExactArgs(1),
			RunE: func(c *cobra.Command, args []string) error {
				if err := checkPeer(args[0]); err != nil {
					return err
				}
				cl, err := g.client()
				if err != nil {
					return err
				}
				if err := cl.SetSteward(c.Context(), args[0], on); err != nil {
					return refused(err)
				}
				fmt.Fprintln(c.OutOrStdout(), args[0], done)
				return nil
			},
		})
	}
	return c
}

func newMuteCmd(g *globals, on bool) *cobra.Command {
	use, short, long := "mute PEER_ID", "Hide a neighbor's posts on this home only (nothing is sent)",
		`Hide a neighbor's posts on this home only. Nothing is sent and nobody else
is told; undo it with "porchlight unmute".`
	if !on {
		use, short, long = "unmute PEER_ID", "Show a muted neighbor's posts again", ""
	}
	return &cobra.Command{
		Use:   use,
		Short: short,
		Long:  long,
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if err := checkPeer(args[0]); err != nil {
				return err
			}
			cl, err := g.client()
			if err != nil {
				return err
			}
			if on {
				err = cl.Mute(c.Context(), args[0])
			} else {
				err = cl.Unmute(c.Context(), args[0])
			}
			if err != nil {
				return refused(err)
			}
			word := "muted"
			if !on {
				word = "unmuted"
			}
			fmt.Fprintln(c.OutOrStdout(), word, args[0])
			return nil
		},
	}
}
