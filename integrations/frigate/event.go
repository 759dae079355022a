package frigate

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"
)

// Event is what the importer reads of a tracked object: from an MQTT
// event message's "after", or from GET /api/events/<id>.
type Event struct {
	ID      string   `json:"id"`
	Camera  string   `json:"camera"`
	Start   float64  `json:"start_time"` // seconds since 1970, with a fraction
	End     *float64 `json:"end_time"`   // null while it lasts
	HasClip bool     `json:"has_clip"`
}

// message is an MQTT <prefix>/events message.
type message struct {
	Type  string `json:"type"`
	After *Event `json:"after"`
}

// errSkip: a message that asks nothing of the importer.
var errSkip = errors.New("not an ended event with a clip")

// decodeMessage decodes an events message and returns the event to import,
// errSkip when the message is of another kind, or an error when it is
// malformed.
func decodeMessage(b []byte) (*Event, error) {
	if len(b) > MaxEventSize {
		return nil, fmt.Errorf("event message of %d bytes, over %d", len(b), MaxEventSize)
	}
	var m message
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("event message: %w", err)
	}
	if m.Type != "end" || m.After == nil || !m.After.HasClip {
		return nil, errSkip
	}
	if !validID(m.After.ID) {
		return nil, fmt.Errorf("event message: %q is not a Frigate event ID", m.After.ID)
	}
	if !cameraRE.MatchString(m.After.Camera) {
		return nil, fmt.Errorf("event message: %q is not a Frigate camera name", m.After.Camera)
	}
	return m.After, nil
}

// decodeEvent decodes Frigate's answer to GET /api/events/<id>.
func decodeEvent(b []byte, id string) (*Event, error) {
	var e Event
	if err := json.Unmarshal(b, &e); err != nil {
		return nil, fmt.Errorf("event %s from Frigate's API: %w", id, err)
	}
	if e.ID != id {
		return nil, fmt.Errorf("event %s from Frigate's API: it answered with event %q", id, e.ID)
	}
	if !cameraRE.MatchString(e.Camera) {
		return nil, fmt.Errorf("event %s from Frigate's API: %q is not a camera name", id, e.Camera)
	}
	if t, ok := seconds(e.Start); !ok || t.UnixMilli() <= 0 {
		return nil, fmt.Errorf("event %s from Frigate's API: no valid start_time", id)
	}
	return &e, nil
}

// seconds converts Frigate's fractional Unix seconds; ok is false for a
// value no clip could carry (NaN, infinite, before 1970 or after 9999).
func seconds(s float64) (time.Time, bool) {
	if math.IsNaN(s) || s < 0 || s > 253402300799 {
		return time.Time{}, false
	}
	sec, frac := math.Modf(s)
	return time.Unix(int64(sec), int64(frac*1e9)).UTC(), true
}

// times are an event's start and end (zero when unknown or not after the
// start).
func (e *Event) times() (start, end time.Time) {
	start, _ = seconds(e.Start)
	start = start.Truncate(time.Millisecond)
	if e.End != nil {
		if t, ok := seconds(*e.End); ok && t.After(start) {
			end = t.Truncate(time.Millisecond)
		}
	}
	return start, end
}
