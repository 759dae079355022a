package client

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/porchlight-mesh/porchlight/api"
)

// Progress is told how many bytes of a transfer are done, of total (-1
// when the size is unknown). It is called from the goroutine doing the
// transfer, after every read, and once more at the end.
type Progress func(done, total int64)

// progressReader counts what is read through it.
type progressReader struct {
	r           io.Reader
	done, total int64
	fn          Progress
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.done += int64(n)
	if n > 0 || err == io.EOF {
		p.fn(p.done, p.total)
	}
	return n, err
}

func withProgress(r io.Reader, total int64, fn Progress) io.Reader {
	if fn == nil {
		return r
	}
	return &progressReader{r: r, total: total, fn: fn}
}

// uploadHeader marks an upload (the API refuses an upload without it: a
// cross-site form cannot send it).
const uploadHeader = "X-Porchlight-Upload"

// Upload describes a clip for UploadClip.
type Upload struct {
	Camera string
	Start  time.Time // required
	End    time.Time // zero: unknown
	// MediaType is the clip's: video/*, image/*, or (the default)
	// application/octet-stream.
	MediaType string
	// Size of the body in bytes, if known (for the Content-Length and the
	// progress total); 0: unknown, sent chunked.
	Size     int64
	Progress Progress
}

// UploadClip imports the clip read from body into the node's clip store.
// body is streamed, never held whole in memory.
func (c *Client) UploadClip(ctx context.Context, body io.Reader, u Upload) (api.ClipJSON, error) {
	q := url.Values{}
	q.Set("camera", u.Camera)
	q.Set("start", u.Start.UTC().Format(time.RFC3339))
	if !u.End.IsZero() {
		q.Set("end", u.End.UTC().Format(time.RFC3339))
	}
	total := u.Size
	if total <= 0 {
		total = -1
	}
	req, err := c.request(ctx, http.MethodPost, "/api/v1/clips?"+q.Encode(), withProgress(body, total, u.Progress))
	if err != nil {
		return api.ClipJSON{}, err
	}
	if u.Size > 0 {
		req.ContentLength = u.Size
	}
	mt := u.MediaType
	if mt == "" {
		mt = "application/octet-stream"
	}
	req.Header.Set("Content-Type", mt)
	req.Header.Set(uploadHeader, "1")
	resp, err := c.send(req)
	if err != nil {
		return api.ClipJSON{}, err
	}
	defer resp.Body.Close()
	var out api.ClipJSON
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&out); err != nil {
		return out, fmt.Errorf("upload: decode the answer: %w", err)
	}
	return out, nil
}

// Download writes the bytes of one of the node's clips (its own, or one
// fetched under a grant) to w and returns how many it wrote.
func (c *Client) Download(ctx context.Context, clip string, w io.Writer, progress Progress) (int64, error) {
	return c.download(ctx, "/api/v1/clips/"+url.PathEscape(clip)+"/video", w, progress)
}

// ExportEvidence writes the evidence bundle of a clip received under a
// grant to w (check it with `porchlight verify`). A refusal (errors.Is
// ErrNotFound) comes before any byte is written.
func (c *Client) ExportEvidence(ctx context.Context, clip string, w io.Writer, progress Progress) (int64, error) {
	return c.download(ctx, "/api/v1/evidence/"+url.PathEscape(clip)+"/bundle", w, progress)
}

func (c *Client) download(ctx context.Context, path string, w io.Writer, progress Progress) (int64, error) {
	req, err := c.request(ctx, http.MethodGet, path, nil)
	if err != nil {
		return 0, err
	}
	resp, err := c.send(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	n, err := io.Copy(w, withProgress(resp.Body, resp.ContentLength, progress))
	if err == nil && resp.ContentLength >= 0 && n != resp.ContentLength {
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		return n, fmt.Errorf("download %s: %w", path, err)
	}
	return n, nil
}

// Event is one server-sent event of the node: its type (post, retraction,
// request, clip, share, grant, fetch, ...: see api.Event) and its JSON data.
type Event struct {
	Type string
	Data json.RawMessage
}

// maxEventLine bounds one line of the event stream.
const maxEventLine = 1 << 20

// EventStream reads the node's events. It is not safe for concurrent use;
// Close it (or cancel the context it was opened with) when done.
type EventStream struct {
	body io.ReadCloser
	sc   *bufio.Scanner
}

// Events opens the node's event stream. When it returns, the node is
// subscribed: every event published afterwards can be read with Next.
// Cancelling ctx ends the stream.
func (c *Client) Events(ctx context.Context) (*EventStream, error) {
	req, err := c.request(ctx, http.MethodGet, "/api/v1/events", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "text/event-stream")
	resp, err := c.send(req)
	if err != nil {
		return nil, err
	}
	if mt := resp.Header.Get("Content-Type"); !strings.HasPrefix(mt, "text/event-stream") {
		resp.Body.Close()
		return nil, fmt.Errorf("events: the node answered %q, not an event stream", mt)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 4096), maxEventLine)
	return &EventStream{body: resp.Body, sc: sc}, nil
}

// Next blocks until the next event. At the end of the stream (the node
// stopped, or Close) it returns io.EOF; when the stream's context is
// cancelled, that context's error.
func (s *EventStream) Next() (Event, error) {
	var ev Event
	var data []string
	for s.sc.Scan() {
		line := s.sc.Text()
		switch {
		case line == "":
			if ev.Type != "" || len(data) > 0 {
				if ev.Type == "" {
					ev.Type = "message"
				}
				ev.Data = json.RawMessage(strings.Join(data, "\n"))
				return ev, nil
			}
		case strings.HasPrefix(line, ":"): // a comment: the greeting, keep-alives
		default:
			field, value, _ := strings.Cut(line, ":")
			value = strings.TrimPrefix(value, " ")
			switch field {
			case "event":
				ev.Type = value
			case "data":
				data = append(data, value)
			}
		}
	}
	err := s.sc.Err()
	if err == nil || errors.Is(err, http.ErrBodyReadAfterClose) {
		return Event{}, io.EOF
	}
	return Event{}, err
}

// Close ends the stream.
func (s *EventStream) Close() error { return s.body.Close() }
