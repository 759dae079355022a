package main

import (
	"bufio"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/porchlight-mesh/porchlight/api"
	"github.com/porchlight-mesh/porchlight/client"
)

// describePrompt is `post`'s anti-profiling prompt: it asks the node for
// its advice on the draft (the same check the web UI's composer uses) and,
// when the node advises a fuller description, explains why on stderr. On a
// terminal it then asks whether to post anyway; elsewhere (a script) it
// posts after the warning. It reports whether to post. A node that cannot
// answer the check does not stop the post.
func describePrompt(c *cobra.Command, cl *client.Client, kind, text string) bool {
	w := c.ErrOrStderr()
	chk, err := cl.CheckPost(c.Context(), api.NewPostJSON{Kind: kind, Text: text})
	if err != nil {
		fmt.Fprintf(w, "porchlight: could not check the post's description (%v); posting\n", err)
		return true
	}
	if !chk.Prompt {
		return true
	}
	fmt.Fprintln(w, "Before you post:", chk.Why)
	if len(chk.Descriptors) > 0 {
		fmt.Fprintln(w, "  Your post gives:", strings.Join(chk.Descriptors, ", "))
	}
	fmt.Fprintln(w, "  You could add:", strings.Join(chk.Suggest, ", "))
	in, ok := c.InOrStdin().(*os.File)
	if !ok || !isTTY(in) {
		fmt.Fprintln(w, "Posting anyway: not asking, as the input is not a terminal (--yes skips this check).")
		return true
	}
	fmt.Fprint(w, "Post anyway? [y/N] ")
	line, _ := bufio.NewReader(in).ReadString('\n')
	if a := strings.ToLower(strings.TrimSpace(line)); a == "y" || a == "yes" {
		return true
	}
	fmt.Fprintln(w, "Not posted. Add the details you remember and run porchlight post again.")
	return false
}
