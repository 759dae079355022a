package mqtt

import (
	"context"
	"crypto/tls"
	"math/rand/v2"
	"net"
	"net/url"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// Dialer returns the function the MQTT client library opens its
// connection with: TCP, or TLS for ssl://, tls:// and mqtts:// (tc, or
// the system's roots when nil), through a limit that ends the connection
// when the broker announces a packet over maxPacket bytes, before the
// library allocates it. opened, when set, gets each connection, so that
// its owner can close it to end a stuck handshake. Other integrations
// that read from the same broker (package frigate) connect through it.
func Dialer(ctx context.Context, tc *tls.Config, maxPacket int, opened func(net.Conn)) paho.OpenConnectionFunc {
	return func(u *url.URL, _ paho.ClientOptions) (net.Conn, error) {
		d := &net.Dialer{Timeout: connectTimeout}
		var c net.Conn
		var err error
		if tlsScheme(u.Scheme) {
			if tc == nil {
				tc = &tls.Config{}
			}
			tc := tc.Clone()
			if tc.ServerName == "" {
				tc.ServerName = u.Hostname()
			}
			c, err = (&tls.Dialer{NetDialer: d, Config: tc}).DialContext(ctx, "tcp", u.Host)
		} else {
			c, err = d.DialContext(ctx, "tcp", u.Host)
		}
		if err != nil {
			return nil, err
		}
		lc := newLimitConn(c, maxPacket)
		if opened != nil {
			opened(lc)
		}
		if ctx.Err() != nil {
			lc.Close()
			return nil, ctx.Err()
		}
		return lc, nil
	}
}

// Backoff is the wait between connection attempts: 1 s (Min), doubling
// up to Max, each wait drawn between half and all of the current step so
// that homes restarted together do not retry together. The zero Backoff
// waits 1 s to 1 min.
type Backoff struct {
	Min, Max time.Duration
	cur      time.Duration
}

// Next returns the wait before the next attempt and doubles the step.
func (b *Backoff) Next() time.Duration {
	lo, hi := b.Min, b.Max
	if lo <= 0 {
		lo = time.Second
	}
	if hi <= 0 {
		hi = time.Minute
	}
	if b.cur < lo {
		b.cur = lo
	}
	wait := b.cur/2 + rand.N(b.cur/2+1)
	b.cur = min(2*b.cur, hi)
	return wait
}

// Reset starts the steps again from Min, after a success.
func (b *Backoff) Reset() { b.cur = 0 }
