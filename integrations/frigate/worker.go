package frigate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/porchlight-mesh/porchlight/clips"
	"github.com/porchlight-mesh/porchlight/integrations/mqtt"
)

var (
	// errUnreachable: Frigate's API did not answer, or answered with a
	// server error; every event waits.
	errUnreachable = errors.New("cannot reach Frigate's API")
	// errUnknown: Frigate does not know the event.
	errUnknown = errors.New("event unknown to Frigate")
	// errTooLarge: the clip is over MaxClipSize.
	errTooLarge = errors.New("the clip is larger than the limit")
)

// work imports the clips of queued events, one at a time, until ctx ends.
func (im *Importer) work(ctx context.Context) {
	backoff := mqtt.Backoff{Min: min(time.Second, im.cfg.MaxBackoff), Max: im.cfg.MaxBackoff}
	for {
		due, at, n, err := im.next()
		im.mu.Lock()
		im.pending = n
		im.mu.Unlock()
		var timer <-chan time.Time
		switch {
		case err != nil:
			im.log.Warn("frigate: read the queue", "err", err)
			timer = time.After(backoff.Next())
		case due != nil:
			err := im.attempt(ctx, due)
			if ctx.Err() != nil {
				return
			}
			if !errors.Is(err, errUnreachable) {
				backoff.Reset()
				continue
			}
			wait := backoff.Next()
			im.log.Warn("frigate: cannot reach Frigate; retrying", "err", err, "in", wait.Round(time.Millisecond), "pending", n)
			timer = time.After(wait)
		case !at.IsZero():
			timer = time.After(max(at.Sub(im.now()), time.Millisecond))
		}
		select {
		case <-ctx.Done():
			return
		case <-im.wake:
			if due != nil {
				// Frigate was unreachable: a new event does not make it
				// reachable; wait out the backoff.
				select {
				case <-ctx.Done():
					return
				case <-timer:
				}
			}
		case <-timer:
		}
	}
}

// attempt tries to import the clip of one queued event. Only an error
// wrapping errUnreachable is returned; every other outcome is recorded in
// the queue.
func (im *Importer) attempt(ctx context.Context, q *queued) error {
	ev, err := im.event(ctx, q.id)
	switch {
	case errors.Is(err, errUnknown):
		im.metrics.refused.Inc()
		im.log.Warn("frigate: Frigate does not know an event that was announced; dropped (deleted since, or announced by something other than Frigate)", "event", q.id)
		return im.logErr(im.drop(q.id))
	case err != nil:
		im.metrics.failures.Inc()
		im.setAPI(err)
		return err
	}
	im.setAPI(nil)
	if !im.included(ev.Camera) {
		return im.logErr(im.finish(q.id, done{Refused: "camera " + ev.Camera + " is not in [frigate] cameras"}))
	}
	if !ev.HasClip {
		return im.logErr(im.finish(q.id, done{Refused: "Frigate has no clip of this event"}))
	}
	m, err := im.download(ctx, ev)
	switch {
	case err == nil:
	case ctx.Err() != nil:
		return nil
	case errors.Is(err, errTooLarge):
		im.metrics.refused.Inc()
		im.log.Warn("frigate: clip refused", "event", q.id, "err", err)
		return im.logErr(im.finish(q.id, done{Refused: err.Error()}))
	case errors.Is(err, errUnreachable):
		im.metrics.failures.Inc()
		im.setAPI(err)
		return err
	default:
		im.metrics.failures.Inc()
		q.Attempts++
		if q.Attempts >= im.cfg.MaxAttempts {
			im.log.Error("frigate: giving up on a clip", "event", q.id, "attempts", q.Attempts, "err", err)
			return im.logErr(im.finish(q.id, done{Refused: fmt.Sprintf("gave up after %d attempts: %v", q.Attempts, err)}))
		}
		q.NotAt = im.now().Add(min(time.Duration(1<<min(q.Attempts, 20))*time.Second, im.cfg.MaxBackoff))
		im.mu.Lock()
		im.apiErr = fmt.Sprintf("clip of event %s: %v", q.id, err)
		im.mu.Unlock()
		im.log.Warn("frigate: clip not imported; will retry", "event", q.id, "attempt", q.Attempts, "err", err, "at", q.NotAt)
		return im.logErr(im.retryLater(q))
	}
	if err := im.finish(q.id, done{Clip: m.ClipID().String()}); err != nil {
		// Imported, not recorded: the next attempt finds the clip stored
		// (the clip store knows it by its content) and records it then.
		im.log.Warn("frigate: clip imported but not recorded", "event", q.id, "err", err)
		return nil
	}
	im.metrics.imported.Inc()
	im.mu.Lock()
	im.imported++
	im.mu.Unlock()
	im.log.Info("frigate: clip imported", "event", q.id, "camera", ev.Camera, "clip", m.ClipID())
	if im.cfg.OnImport != nil {
		im.cfg.OnImport(m)
	}
	return nil
}

func (im *Importer) logErr(err error) error {
	if err != nil {
		im.log.Warn("frigate: update the queue", "err", err)
	}
	return nil
}

// endpoint is the URL of a path of Frigate's API.
func (im *Importer) endpoint(path ...string) string {
	u := *im.api
	for _, p := range path {
		u.Path += "/" + url.PathEscape(p)
	}
	return u.String()
}

// get sends a GET; a failure to connect or a server error wraps
// errUnreachable.
func (im *Importer) get(ctx context.Context, u string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := im.cfg.HTTP.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errUnreachable, err)
	}
	if resp.StatusCode >= 500 {
		resp.Body.Close()
		return nil, fmt.Errorf("%w: GET %s: %s", errUnreachable, u, resp.Status)
	}
	return resp, nil
}

// event asks Frigate for an event: what is imported comes from its
// answer, not from the MQTT message.
func (im *Importer) event(ctx context.Context, id string) (*Event, error) {
	u := im.endpoint("api", "events", id)
	resp, err := im.get(ctx, u)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return nil, errUnknown
	case resp.StatusCode != http.StatusOK:
		// Frigate behind a proxy that wants a login, or not Frigate.
		return nil, fmt.Errorf("%w: GET %s: %s (is [frigate] url Frigate's API port, 5000?)", errUnreachable, u, resp.Status)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxAPIAnswer+1))
	if err != nil {
		return nil, fmt.Errorf("%w: GET %s: %v", errUnreachable, u, err)
	}
	if len(b) > maxAPIAnswer {
		return nil, fmt.Errorf("%w: GET %s: an answer of over %d bytes", errUnreachable, u, maxAPIAnswer)
	}
	ev, err := decodeEvent(b, id)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errUnreachable, err)
	}
	return ev, nil
}

// download imports an event's clip, through the size limit.
func (im *Importer) download(ctx context.Context, ev *Event) (*clips.SignedManifest, error) {
	u := im.endpoint("api", "events", ev.ID, "clip.mp4")
	resp, err := im.get(ctx, u)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	// A proxy's or a server's error page may come with 200: it is no clip.
	if ct := resp.Header.Get("Content-Type"); strings.HasPrefix(ct, "application/json") || strings.HasPrefix(ct, "text/") {
		return nil, fmt.Errorf("GET %s: Frigate answered with %s, not a clip", u, ct)
	}
	if resp.ContentLength > im.cfg.MaxClipSize {
		return nil, fmt.Errorf("%w: Frigate announces %s bytes, over %d (max_clip_size)", errTooLarge, strconv.FormatInt(resp.ContentLength, 10), im.cfg.MaxClipSize)
	}
	start, end := ev.times()
	m, err := im.cfg.Clips.Import(ctx, &limitReader{r: resp.Body, n: im.cfg.MaxClipSize}, clips.ImportMeta{
		Camera: ev.Camera, Start: start, End: end, MediaType: "video/mp4",
	})
	if err != nil {
		return nil, fmt.Errorf("clip of event %s: %w", ev.ID, err)
	}
	return m, nil
}

// limitReader reads at most n bytes of r, and fails when r has more:
// the import fails and stores nothing.
type limitReader struct {
	r io.Reader
	n int64
}

func (l *limitReader) Read(p []byte) (int, error) {
	if l.n < 0 {
		return 0, errTooLarge
	}
	if int64(len(p)) > l.n+1 {
		p = p[:l.n+1]
	}
	k, err := l.r.Read(p)
	l.n -= int64(k)
	if l.n < 0 {
		return 0, fmt.Errorf("%w: Frigate sent more", errTooLarge)
	}
	return k, err
}
