package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/porchlight-mesh/porchlight/api"
	"github.com/porchlight-mesh/porchlight/client"
)

func newUICmd(g *globals) *cobra.Command {
	var printOnly bool
	c := &cobra.Command{
		Use:   "ui",
		Short: "Open the node's web UI in a browser (with a one-time login)",
		Long: `Ask the running node for a one-time login code and open the web UI in a
browser. The code is handed to the browser in a page only you can read (a
file of mode 0600 in a private directory) that sends it to the node, never
on a command line, where other users of this computer could see it. The
command waits until the browser has logged in (at most two minutes) and
then deletes the page; the browser holds an HttpOnly session cookie.

The browser is $BROWSER if set, else xdg-open (open on macOS).

With --print the login link itself is printed instead, for a browser on
another machine or a headless one: anyone who sees the link can use it
first, so use it at once (it works once, for two minutes).`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			cl, err := g.client()
			if err != nil {
				return err
			}
			link, err := cl.CreateLoginLink(c.Context())
			if err != nil {
				return err
			}
			if printOnly {
				fmt.Fprintln(c.ErrOrStderr(), "warning: this link logs in as this home; anyone who sees it (screen, terminal history, logs) can use it before you. It works once, for two minutes.")
				fmt.Fprintln(c.OutOrStdout(), link.URL)
				return nil
			}
			ctx, stop := signal.NotifyContext(c.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return openLogin(ctx, c, cl, link)
		},
	}
	c.Flags().BoolVar(&printOnly, "print", false, "print the login link instead of opening a browser (for a remote or headless browser; the link is a secret)")
	return c
}

// openLogin writes the private login page, opens the browser on it, waits
// until the code is used or expires, and deletes the page.
func openLogin(ctx context.Context, c *cobra.Command, cl *client.Client, link client.LoginLink) error {
	page, cleanup, err := writeLoginPage(link)
	if err != nil {
		return err
	}
	defer cleanup()
	argv := browserCommand(page)
	if argv == nil {
		return errors.New("no browser could be started: set BROWSER to your browser's command; for a browser on another machine run `porchlight ui --print`")
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start the browser (%s): %w; set BROWSER to your browser's command, or run `porchlight ui --print`", argv[0], err)
	}
	// The browser may run for as long as it is open; it is not ours to wait for.
	_ = cmd.Process.Release()
	fmt.Fprintln(c.OutOrStdout(), "Opening the web UI in the browser; waiting for it to log in (Ctrl-C to stop).")
	fmt.Fprintln(c.OutOrStdout(), "If no browser window opens (a confined browser may not read the login page), stop and run `porchlight ui --print`.")
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		pending, err := cl.LoginLinkPending(ctx, link.ID)
		switch {
		case err == nil && !pending && time.Now().Before(link.Expires):
			fmt.Fprintln(c.OutOrStdout(), "Logged in; the login page is deleted.")
			return nil
		case err == nil && !pending:
			return errors.New("the browser did not log in within two minutes; the login page is deleted. Run `porchlight ui` again")
		case ctx.Err() != nil:
			return errors.New("stopped; the login page is deleted")
		case err != nil:
			return err
		}
		select {
		case <-ctx.Done():
		case <-tick.C:
		}
	}
}

// writeLoginPage writes a page that POSTs the one-time code to the node, in
// a new directory of mode 0700 (in $XDG_RUNTIME_DIR when set, a per-user
// directory, else the temporary directory), as a file of mode 0600.
// cleanup deletes both.
func writeLoginPage(link client.LoginLink) (path string, cleanup func(), err error) {
	base := os.Getenv("XDG_RUNTIME_DIR")
	if fi, err := os.Stat(base); base == "" || err != nil || !fi.IsDir() {
		base = os.TempDir()
	}
	dir, err := os.MkdirTemp(base, "porchlight-login-")
	if err != nil {
		return "", nil, fmt.Errorf("make a private directory for the login page: %w", err)
	}
	cleanup = func() { _ = os.RemoveAll(dir) }
	if err := os.Chmod(dir, 0o700); err != nil {
		cleanup()
		return "", nil, fmt.Errorf("make %s private: %w", dir, err)
	}
	path = filepath.Join(dir, "login.html")
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		cleanup()
		return "", nil, fmt.Errorf("write the login page: %w", err)
	}
	_, err = io.WriteString(f, api.LoginPage(link.Login, link.Code))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		cleanup()
		return "", nil, fmt.Errorf("write the login page: %w", err)
	}
	return path, cleanup, nil
}

// browserCommand is the command line that opens path in a browser: the
// first command of $BROWSER (a colon-separated list; %s stands for the
// page, else it is appended), else the desktop's opener. nil: none found.
func browserCommand(path string) []string {
	for _, b := range strings.Split(os.Getenv("BROWSER"), string(os.PathListSeparator)) {
		f := strings.Fields(b)
		if len(f) == 0 {
			continue
		}
		subst := false
		for i, w := range f {
			if strings.Contains(w, "%s") {
				f[i], subst = strings.ReplaceAll(w, "%s", path), true
			}
		}
		if !subst {
			f = append(f, path)
		}
		return f
	}
	opener := "xdg-open"
	if runtime.GOOS == "darwin" {
		opener = "open"
	}
	if p, err := exec.LookPath(opener); err == nil {
		return []string{p, path}
	}
	return nil
}
