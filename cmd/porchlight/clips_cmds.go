package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/porchlight-mesh/porchlight/api"
	"github.com/porchlight-mesh/porchlight/clips"
)

func newClipsCmd(g *globals) *cobra.Command {
	c := &cobra.Command{Use: "clips", Short: "This home's video clips (they stay here unless you share them)"}
	var camera, start, end string
	imp := &cobra.Command{
		Use:   "import FILE",
		Short: "Import a clip (prints its ID last)",
		Long: `Import a video file into this node's clip store. The camera and start time
are taken from the flags, else from a file name such as
front-door-2026-11-27T19-42-10Z.mp4, else the file's modification time.`,
		Example: `  porchlight clips import front-door-2026-11-27T19-42-10Z.mp4 --camera front-door`,
		Args:    cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			path := args[0]
			f, err := os.Open(path)
			if err != nil {
				return usageError{err}
			}
			defer f.Close()
			fi, err := f.Stat()
			if err != nil {
				return err
			}
			if !fi.Mode().IsRegular() {
				return usagef("%s is not a regular file", path)
			}
			if fi.Size() == 0 {
				return usagef("%s is empty: nothing to import", path)
			}
			q := url.Values{}
			cam, st, ok := clips.ParseFileName(filepath.Base(path))
			if camera != "" {
				cam = camera
			}
			q.Set("camera", cam)
			switch {
			case start != "":
				t, err := time.Parse(time.RFC3339, start)
				if err != nil {
					return usagef("--start %q: want an RFC 3339 time", start)
				}
				st = t
			case !ok:
				st = fi.ModTime()
			}
			q.Set("start", st.UTC().Format(time.RFC3339))
			if end != "" {
				if _, err := time.Parse(time.RFC3339, end); err != nil {
					return usagef("--end %q: want an RFC 3339 time", end)
				}
				q.Set("end", end)
			}
			cl, err := g.client()
			if err != nil {
				return err
			}
			body, finish := withProgress(f, fi.Size(), os.Stderr)
			defer finish()
			req, err := http.NewRequestWithContext(c.Context(), "POST", cl.base+"/api/v1/clips?"+q.Encode(), body)
			if err != nil {
				return err
			}
			req.ContentLength = fi.Size()
			req.Header.Set("Authorization", "Bearer "+cl.token)
			req.Header.Set("Content-Type", mediaTypeOf(path))
			req.Header.Set("X-Porchlight-Upload", "1")
			resp, err := cl.stream.Do(req)
			if err != nil {
				return fmt.Errorf("upload to the node: %w", err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
			if resp.StatusCode != http.StatusCreated {
				var e struct{ Error string }
				if json.Unmarshal(b, &e) == nil && e.Error != "" {
					return errors.New(e.Error)
				}
				return fmt.Errorf("node answered %s", resp.Status)
			}
			var out api.ClipJSON
			if err := json.Unmarshal(b, &out); err != nil {
				return err
			}
			if g.jsonOut {
				return printJSON(c, out)
			}
			fmt.Fprintf(c.OutOrStdout(), "imported %s (%s, %d bytes)\n%s\n", path, out.Camera, out.Size, out.ID)
			return nil
		},
	}
	imp.Flags().StringVar(&camera, "camera", "", "camera name")
	imp.Flags().StringVar(&start, "start", "", "start of the recording (RFC 3339)")
	imp.Flags().StringVar(&end, "end", "", "end of the recording (RFC 3339)")
	addJSONFlag(imp, g)

	ls := &cobra.Command{
		Use:   "ls",
		Short: "List this home's clips, newest first",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			var out []api.ClipJSON
			if err := g.getJSON(c, "/api/v1/clips", &out); err != nil {
				return err
			}
			if g.jsonOut {
				return printJSON(c, out)
			}
			tw := tabwriter.NewWriter(c.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "CAMERA\tSTART\tSIZE\tKEPT UNTIL\tID")
			for _, m := range out {
				kept := "held (shared)"
				if m.Expires != nil {
					kept = m.Expires.Local().Format(time.DateOnly)
				}
				fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", m.Camera, m.Start.Local().Format(time.DateTime), m.Size, kept, m.ID[:12])
			}
			return tw.Flush()
		},
	}
	addJSONFlag(ls, g)
	c.AddCommand(imp, ls, newClipsFetchCmd(g))
	return c
}

func mediaTypeOf(path string) string {
	switch filepath.Ext(path) {
	case ".mp4", ".m4v":
		return "video/mp4"
	case ".mov":
		return "video/quicktime"
	case ".mkv":
		return "video/x-matroska"
	case ".webm":
		return "video/webm"
	case ".jpg", ".jpeg":
		return "image/jpeg"
	}
	return "application/octet-stream"
}
