package frigate

import (
	"strings"
	"testing"
)

// FuzzDecodeMessage: any bytes on the events topic are refused or give an
// event whose ID and camera are safe in a URL path and a database key.
func FuzzDecodeMessage(f *testing.F) {
	f.Add([]byte(`{"type":"end","before":{},"after":{"id":"1607123955.475377-mxklsc","camera":"front_door","start_time":1607123955.475377,"end_time":1607123966.1,"has_clip":true}}`))
	f.Add([]byte(`{"type":"update","after":{"id":"1607123955.475377-mxklsc","camera":"front_door","has_clip":true}}`))
	f.Add([]byte(`{"type":"end","after":{"id":"../x","camera":"a","has_clip":true}}`))
	f.Add([]byte(`{"type":"end","after":null}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, b []byte) {
		ev, err := decodeMessage(b)
		if err != nil {
			return
		}
		if !validID(ev.ID) || strings.ContainsAny(ev.ID, "/?#%") || !cameraRE.MatchString(ev.Camera) || !ev.HasClip {
			t.Fatalf("accepted %+v", ev)
		}
	})
}

// FuzzDecodeEvent: Frigate's answer for an event gives valid times or is
// refused.
func FuzzDecodeEvent(f *testing.F) {
	f.Add([]byte(`{"id":"1607123955.475377-mxklsc","camera":"front_door","start_time":1607123955.475377,"end_time":1607123966.1,"has_clip":true}`), "1607123955.475377-mxklsc")
	f.Add([]byte(`{"id":"1607123955.475377-mxklsc","camera":"front_door","start_time":-1,"end_time":1e300,"has_clip":true}`), "1607123955.475377-mxklsc")
	f.Add([]byte(`{"id":"1607123955.475377-mxklsc","camera":"front_door","start_time":1e20}`), "1607123955.475377-mxklsc")
	f.Fuzz(func(t *testing.T, b []byte, id string) {
		ev, err := decodeEvent(b, id)
		if err != nil {
			return
		}
		start, end := ev.times()
		if start.UnixMilli() <= 0 {
			t.Fatalf("start %v accepted", start)
		}
		if !end.IsZero() && !end.After(start) {
			t.Fatalf("end %v before start %v", end, start)
		}
	})
}
