package frigate

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"
)

// Defaults and bounds.
const (
	// DefaultPrefix is Frigate's MQTT topic prefix.
	DefaultPrefix = "frigate"
	// DefaultMaxClipSize bounds a downloaded clip. Frigate's event clips
	// are a few to a few tens of MB; a longer event makes a larger one.
	DefaultMaxClipSize = 512 << 20
	// MaxEventSize bounds an MQTT packet from the broker and so an event
	// message. Frigate's are a few KB.
	MaxEventSize = 64 << 10
	// MaxPending bounds the events waiting to be imported.
	MaxPending = 1000
	// maxAPIAnswer bounds the event JSON read from Frigate's API.
	maxAPIAnswer = 256 << 10
)

// CheckURL checks the URL of Frigate's HTTP API: http:// or https://, a
// host, an optional port and path (Frigate behind a proxy), nothing else.
func CheckURL(s string) (*url.URL, error) {
	const want = "want Frigate's address, such as http://frigate.local:5000"
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("[frigate] url %q: %s", s, want)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("[frigate] url %q: scheme must be http or https: %s", s, want)
	}
	if u.User != nil {
		return nil, fmt.Errorf("[frigate] url %q carries a user name or password; Porchlight talks to Frigate's unauthenticated API port (5000) on the LAN", u.Redacted())
	}
	if u.Hostname() == "" {
		return nil, fmt.Errorf("[frigate] url %q has no host: %s", s, want)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return nil, fmt.Errorf("[frigate] url %q: no query or fragment: %s", s, want)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	u.RawPath = ""
	return u, nil
}

// cameraRE is what Frigate allows in a camera name.
var cameraRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// CheckCameras checks the camera names of [frigate] cameras.
func CheckCameras(cameras []string) error {
	for _, c := range cameras {
		if !cameraRE.MatchString(c) {
			return fmt.Errorf("[frigate] cameras: %q is not a Frigate camera name (letters, digits, '_' and '-', at most 64)", c)
		}
	}
	return nil
}

// eventIDRE is what an event ID may be: Frigate's are a timestamp, a dot,
// its fraction, a dash and six random letters ("1607123955.475377-mxklsc").
// It goes into URL paths and database keys, so nothing else is accepted.
var eventIDRE = regexp.MustCompile(`^[0-9]{1,12}\.[0-9]{1,9}-[a-z0-9]{1,16}$`)

func validID(id string) bool { return eventIDRE.MatchString(id) }
