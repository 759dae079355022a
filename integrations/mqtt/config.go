package mqtt

import (
	"fmt"
	"net/url"
	"strings"
)

// Defaults of Config.
const (
	DefaultTopicPrefix     = "porchlight"
	DefaultDiscoveryPrefix = "homeassistant"
)

// CheckURL checks a broker URL: tcp:// or mqtt:// (plain), ssl://,
// tls:// or mqtts:// (TLS), a host, an optional port, nothing else.
func CheckURL(s string) (*url.URL, error) {
	const want = "want mqtt://HOST:1883 or mqtts://HOST:8883 (tcp://, ssl:// and tls:// work too)"
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("[mqtt] url %q: %s", s, want)
	}
	switch u.Scheme {
	case "tcp", "mqtt", "ssl", "tls", "mqtts":
	default:
		return nil, fmt.Errorf("[mqtt] url %q: unknown scheme %q: %s", s, u.Scheme, want)
	}
	if u.User != nil {
		// A password in config.toml would show wherever the URL does.
		return nil, fmt.Errorf("[mqtt] url %q carries a user name or password: put them in username and password_file instead", u.Redacted())
	}
	if u.Hostname() == "" {
		return nil, fmt.Errorf("[mqtt] url %q has no host: %s", s, want)
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("[mqtt] url %q: a broker URL has no path or query: %s", s, want)
	}
	if u.Port() == "" {
		port := "1883"
		if tlsScheme(u.Scheme) {
			port = "8883"
		}
		u.Host += ":" + port
	}
	u.Path = ""
	return u, nil
}

func tlsScheme(s string) bool { return s == "ssl" || s == "tls" || s == "mqtts" }

// CheckPrefix checks a topic prefix (what names the setting, in errors):
// one or more topic levels, without MQTT wildcards, a leading or trailing
// slash or an empty level.
func CheckPrefix(what, s string) error {
	if s == "" || len(s) > 100 {
		return fmt.Errorf("[mqtt] %s must be 1 to 100 characters", what)
	}
	if strings.ContainsAny(s, "+#\x00") {
		return fmt.Errorf("[mqtt] %s %q: '+', '#' and NUL are MQTT wildcards or invalid in a topic", what, s)
	}
	for _, level := range strings.Split(s, "/") {
		if level == "" {
			return fmt.Errorf("[mqtt] %s %q has an empty topic level (a leading, trailing or double '/')", what, s)
		}
	}
	if strings.HasPrefix(s, "$") {
		return fmt.Errorf("[mqtt] %s %q: topics starting with '$' belong to the broker", what, s)
	}
	return nil
}
