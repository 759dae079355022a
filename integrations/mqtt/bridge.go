package mqtt

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"
	"github.com/prometheus/client_golang/prometheus"
)

// Source is what the bridge publishes: the node's view, read again at
// every change. Its methods are called from the bridge's own goroutine,
// never while the node waits.
type Source interface {
	// Covering returns the open requests whose area covers this home.
	Covering() ([]Request, error)
	// Neighbors is the number of connected neighbors.
	Neighbors() int
	// UnreadPosts is the number of neighbors' posts this home has not
	// seen yet.
	UnreadPosts() (int, error)
}

// Request is what the event entity says of a new covering request: who
// asks, for which case, for which window. Never the area (it would tell
// where the home is) nor the request's text.
type Request struct {
	ID     string // the request's record ID
	Agency string // the agency's name
	Case   string // its case number
	From   time.Time
	To     time.Time
}

// Config configures Start. Zero values mean the default.
type Config struct {
	// URL of the broker (see CheckURL). Required.
	URL string
	// Username and Password log in to the broker; empty: anonymous.
	Username, Password string
	// TopicPrefix is where the node's own topics live. Default
	// DefaultTopicPrefix.
	TopicPrefix string
	// DiscoveryPrefix is Home Assistant's discovery prefix. Default
	// DefaultDiscoveryPrefix.
	DiscoveryPrefix string
	// NodeID identifies the home (its peer ID); only a hash of it is
	// published. Required.
	NodeID string
	// Name is the device's name in Home Assistant. Default "Porchlight".
	Name string
	// Version is the device's software version; may be empty.
	Version string
	// Source is the node's state. Required.
	Source Source
	// Registerer gets the bridge's metrics; nil: none.
	Registerer prometheus.Registerer
	// Logger. Default slog.Default().
	Logger *slog.Logger
	// TLS configures mqtts:// connections; nil: the system's roots.
	TLS *tls.Config

	// MaxBackoff bounds the wait between connection attempts. Default 1m.
	MaxBackoff time.Duration
	// CloseTimeout bounds what Close gives the broker. Default 2s.
	CloseTimeout time.Duration
	// Republish is the least time between two republishes the birth
	// message asks for. Default 2s.
	Republish time.Duration
	// Refresh is how often the state is read again with no change
	// announced. Default 1m.
	Refresh time.Duration
}

// Status is the bridge's connection as `porchlight status` shows it.
type Status struct {
	Connected bool
	// Broker is the URL connected to (it carries no password).
	Broker string
	// LastError is the last failure to connect or publish, until the
	// next successful connection.
	LastError string
}

const (
	connectTimeout = 10 * time.Second
	publishTimeout = 5 * time.Second
	maxEvents      = 20 // new covering requests announced per state read
	birthPayload   = "online"
)

// Bridge publishes a node's state to one broker. The zero Bridge is not
// usable; use Start.
type Bridge struct {
	cfg    Config
	broker *url.URL
	obj    string // object ID
	log    *slog.Logger

	changed chan struct{} // cap 1: a state change to publish
	birth   chan struct{} // cap 1: Home Assistant came online

	mu        sync.Mutex
	connected bool
	lastErr   string
	conn      net.Conn // the open connection, closed by Close to end a stuck connect

	seen      map[string]bool // the worker's: open covering requests already announced
	lastState []byte          // the worker's: the state last published on this connection

	failures prometheus.Counter

	cancel    context.CancelFunc
	done      chan struct{}
	closeOnce sync.Once
}

// Start checks cfg and starts the bridge. It does not wait for the
// broker: the bridge connects in the background and retries with backoff.
func Start(cfg Config) (*Bridge, error) {
	u, err := CheckURL(cfg.URL)
	if err != nil {
		return nil, err
	}
	if cfg.NodeID == "" || cfg.Source == nil {
		return nil, errors.New("mqtt: NodeID and Source are required")
	}
	if cfg.TopicPrefix == "" {
		cfg.TopicPrefix = DefaultTopicPrefix
	}
	if cfg.DiscoveryPrefix == "" {
		cfg.DiscoveryPrefix = DefaultDiscoveryPrefix
	}
	if err := CheckPrefix("topic_prefix", cfg.TopicPrefix); err != nil {
		return nil, err
	}
	if err := CheckPrefix("discovery_prefix", cfg.DiscoveryPrefix); err != nil {
		return nil, err
	}
	if cfg.Name == "" {
		cfg.Name = "Porchlight"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = time.Minute
	}
	if cfg.CloseTimeout <= 0 {
		cfg.CloseTimeout = 2 * time.Second
	}
	if cfg.Republish <= 0 {
		cfg.Republish = 2 * time.Second
	}
	if cfg.Refresh <= 0 {
		cfg.Refresh = time.Minute
	}
	b := &Bridge{
		cfg:     cfg,
		broker:  u,
		obj:     ObjectID(cfg.NodeID),
		log:     cfg.Logger.With("broker", u.String()),
		changed: make(chan struct{}, 1),
		birth:   make(chan struct{}, 1),
		done:    make(chan struct{}),
		failures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "porchlight_mqtt_failures_total",
			Help: "Failed connections to the MQTT broker and connections lost.",
		}),
	}
	if cfg.Registerer != nil {
		if err := cfg.Registerer.Register(b.failures); err != nil {
			return nil, err
		}
		if err := cfg.Registerer.Register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "porchlight_mqtt_connected",
			Help: "1 while the node is connected to its MQTT broker (Home Assistant), 0 while not (see status).",
		}, func() float64 {
			if b.Status().Connected {
				return 1
			}
			return 0
		})); err != nil {
			return nil, err
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	b.cancel = cancel
	go func() {
		defer close(b.done)
		b.run(ctx)
	}()
	return b, nil
}

// ObjectID is the name a node's topics and entities carry: a hash of its
// ID, so topics say nothing a neighbor could match to a home.
func ObjectID(nodeID string) string {
	h := sha256.Sum256([]byte("porchlight mqtt object id\x00" + nodeID))
	return "porchlight_" + hex.EncodeToString(h[:6])
}

// Changed tells the bridge that the node's state may have changed. It
// never blocks; changes coalesce.
func (b *Bridge) Changed() {
	select {
	case b.changed <- struct{}{}:
	default:
	}
}

// Status reports the connection.
func (b *Bridge) Status() Status {
	b.mu.Lock()
	defer b.mu.Unlock()
	return Status{Connected: b.connected, Broker: b.broker.String(), LastError: b.lastErr}
}

// Close says "offline" to the broker if it can within CloseTimeout,
// disconnects and stops the bridge. It is safe to call more than once.
func (b *Bridge) Close() error {
	b.closeOnce.Do(func() {
		b.cancel()
		b.mu.Lock()
		c := b.conn
		b.mu.Unlock()
		select {
		case <-b.done:
		case <-time.After(b.cfg.CloseTimeout):
			// A broker that accepted the connection and then went quiet:
			// closing the socket ends every wait on it.
			if c != nil {
				c.Close()
			}
			<-b.done
		}
	})
	return nil
}

func (b *Bridge) setErr(err error) {
	b.mu.Lock()
	b.lastErr = err.Error()
	b.mu.Unlock()
}

func (b *Bridge) topic(parts ...string) string {
	return b.cfg.TopicPrefix + "/" + b.obj + "/" + strings.Join(parts, "/")
}

func (b *Bridge) birthTopic() string { return b.cfg.DiscoveryPrefix + "/status" }

// run connects, serves the connection until it is lost, and tries again
// with backoff, until ctx ends.
func (b *Bridge) run(ctx context.Context) {
	b.seed()
	backoff := Backoff{Max: b.cfg.MaxBackoff}
	for {
		c, lost, err := b.connect(ctx)
		if err == nil {
			since := time.Now()
			b.mu.Lock()
			b.connected, b.lastErr = true, ""
			b.mu.Unlock()
			b.log.Info("mqtt: connected")
			err = b.serve(ctx, c, lost)
			b.mu.Lock()
			b.connected = false
			b.mu.Unlock()
			c.Disconnect(0)
			b.dropConn()
			if time.Since(since) > stableAfter {
				backoff.Reset()
			}
		}
		if ctx.Err() != nil {
			return
		}
		// Backoff after a lost connection too: a broker that drops
		// every connection (or resends a retained message over
		// MaxPacket) must not make the node reconnect in a loop.
		b.failures.Inc()
		b.setErr(err)
		wait := backoff.Next()
		b.log.Warn("mqtt: not connected; retrying", "err", err, "in", wait.Round(time.Millisecond))
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// stableAfter is how long a connection must last for the backoff to
// start again from 1 s.
const stableAfter = 30 * time.Second

func (b *Bridge) dropConn() {
	b.mu.Lock()
	if b.conn != nil {
		b.conn.Close()
		b.conn = nil
	}
	b.mu.Unlock()
}

// dial opens the connection the client library speaks MQTT over (see
// Dialer), and keeps it so that Close can end a stuck handshake.
func (b *Bridge) dial(ctx context.Context) paho.OpenConnectionFunc {
	return Dialer(ctx, b.cfg.TLS, MaxPacket, func(c net.Conn) {
		b.mu.Lock()
		if b.conn != nil {
			b.conn.Close()
		}
		b.conn = c
		b.mu.Unlock()
	})
}

// connect makes one attempt: the MQTT handshake, then the subscription
// to Home Assistant's birth topic. lost is closed when the connection
// ends.
func (b *Bridge) connect(ctx context.Context) (paho.Client, *lostSignal, error) {
	lost := &lostSignal{ch: make(chan struct{})}
	opts := paho.NewClientOptions().
		AddBroker(b.broker.String()).
		SetClientID(b.obj).
		SetUsername(b.cfg.Username).
		SetPassword(b.cfg.Password).
		SetCleanSession(true).
		SetAutoReconnect(false).
		SetConnectRetry(false).
		SetConnectTimeout(connectTimeout).
		SetKeepAlive(30*time.Second).
		SetPingTimeout(10*time.Second).
		SetWriteTimeout(publishTimeout).
		SetOrderMatters(false).
		SetBinaryWill(b.topic("availability"), []byte("offline"), 1, true).
		SetDefaultPublishHandler(func(paho.Client, paho.Message) {}). // only the birth topic is of interest
		SetConnectionLostHandler(func(_ paho.Client, err error) { lost.set(err) }).
		SetCustomOpenConnectionFn(b.dial(ctx))
	c := paho.NewClient(opts)
	if err := b.wait(ctx, c.Connect(), connectTimeout+time.Second); err != nil {
		c.Disconnect(0)
		b.dropConn()
		return nil, nil, connectError(err)
	}
	sub := c.Subscribe(b.birthTopic(), 0, func(_ paho.Client, m paho.Message) {
		if m.Topic() != b.birthTopic() || len(m.Payload()) > 64 {
			return
		}
		if strings.TrimSpace(string(m.Payload())) != birthPayload {
			return
		}
		select {
		case b.birth <- struct{}{}:
		default:
		}
	})
	if err := b.wait(ctx, sub, publishTimeout); err != nil {
		c.Disconnect(0)
		b.dropConn()
		return nil, nil, fmt.Errorf("subscribe to %s: %w", b.birthTopic(), err)
	}
	return c, lost, nil
}

// lostSignal is closed, with the reason, when a connection ends.
type lostSignal struct {
	once sync.Once
	ch   chan struct{}
	err  error // set before ch is closed
}

func (l *lostSignal) set(err error) {
	l.once.Do(func() {
		l.err = fmt.Errorf("connection lost: %w", err)
		close(l.ch)
	})
}

// connectError says what a failed handshake means for the user.
func connectError(err error) error {
	switch {
	case errors.Is(err, packets.ErrorRefusedNotAuthorised), errors.Is(err, packets.ErrorRefusedBadUsernameOrPassword):
		return fmt.Errorf("the broker refused the login (check [mqtt] username and password_file): %w", err)
	}
	return fmt.Errorf("connect: %w", err)
}

// wait waits for a token, at most d, or until ctx ends.
func (b *Bridge) wait(ctx context.Context, t paho.Token, d time.Duration) error {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-t.Done():
		return t.Error()
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return fmt.Errorf("no answer from the broker in %v", d)
	}
}

// serve publishes everything, then each change, until the connection is
// lost (it returns why) or ctx ends (it says "offline" first).
func (b *Bridge) serve(ctx context.Context, c paho.Client, lost *lostSignal) error {
	if err := b.publishAll(ctx, c); err != nil {
		return err
	}
	refresh := time.NewTicker(b.cfg.Refresh)
	defer refresh.Stop()
	// A retained birth message comes with every subscription, right
	// after the configs went out: it waits for Republish too.
	lastRepublish := time.Now()
	var again <-chan time.Time // a birth message arrived too soon after a republish
	for {
		var err error
		select {
		case <-ctx.Done():
			sctx, cancel := context.WithTimeout(context.Background(), b.cfg.CloseTimeout/2)
			_ = b.publish(sctx, c, b.topic("availability"), true, []byte("offline"))
			cancel()
			return nil
		case <-lost.ch:
			return lost.err
		case <-b.changed:
			err = b.publishState(ctx, c)
		case <-refresh.C:
			err = b.publishState(ctx, c)
		case <-b.birth:
			if wait := b.cfg.Republish - time.Since(lastRepublish); wait > 0 {
				if again == nil {
					again = time.After(wait)
				}
				continue
			}
			lastRepublish = time.Now()
			err = b.publishAll(ctx, c)
		case <-again:
			again = nil
			lastRepublish = time.Now()
			err = b.publishAll(ctx, c)
		}
		if err != nil {
			return err
		}
	}
}

// publish sends one message at QoS 1 and waits for the broker's
// acknowledgement, at most publishTimeout.
func (b *Bridge) publish(ctx context.Context, c paho.Client, topic string, retained bool, payload []byte) error {
	if err := b.wait(ctx, c.Publish(topic, 1, retained, payload), publishTimeout); err != nil {
		return fmt.Errorf("publish %s: %w", topic, err)
	}
	return nil
}

// publishAll publishes availability, the discovery configs and the state.
func (b *Bridge) publishAll(ctx context.Context, c paho.Client) error {
	b.lastState = nil
	if err := b.publish(ctx, c, b.topic("availability"), true, []byte("online")); err != nil {
		return err
	}
	for _, d := range b.discovery() {
		p, err := json.Marshal(d.config)
		if err != nil {
			return err
		}
		if err := b.publish(ctx, c, d.topic, true, p); err != nil {
			return err
		}
	}
	return b.publishState(ctx, c)
}

// State is the retained state message.
type State struct {
	Covering             string `json:"covering"` // "ON" or "OFF"
	OpenCoveringRequests int    `json:"open_covering_requests"`
	Neighbors            int    `json:"neighbors"`
	UnreadPosts          int    `json:"unread_posts"`
}

// Event is the message of the event entity for a new covering request.
type Event struct {
	EventType string    `json:"event_type"` // always "covering_request"
	ID        string    `json:"id"`
	Agency    string    `json:"agency"`
	Case      string    `json:"case"`
	From      time.Time `json:"from"`
	To        time.Time `json:"to"`
}

// EventType is the event entity's only event type.
const EventType = "covering_request"

// seed takes the covering requests open at start as announced: Home
// Assistant hears of requests that arrive while the node runs (or while
// the broker was away), not of every open one at each restart.
func (b *Bridge) seed() {
	b.seen = map[string]bool{}
	reqs, err := b.cfg.Source.Covering()
	if err != nil {
		b.log.Warn("mqtt: read covering requests", "err", err)
	}
	for _, r := range reqs {
		b.seen[r.ID] = true
	}
}

// publishState reads the state, publishes it, and announces the covering
// requests not seen before.
func (b *Bridge) publishState(ctx context.Context, c paho.Client) error {
	reqs, err := b.cfg.Source.Covering()
	if err != nil {
		b.log.Warn("mqtt: read covering requests", "err", err)
		return nil // the node's trouble, not the broker's: next change
	}
	unread, err := b.cfg.Source.UnreadPosts()
	if err != nil {
		b.log.Warn("mqtt: read unread posts", "err", err)
		return nil
	}
	st := State{Covering: "OFF", OpenCoveringRequests: len(reqs), Neighbors: b.cfg.Source.Neighbors(), UnreadPosts: unread}
	if len(reqs) > 0 {
		st.Covering = "ON"
	}
	p, err := json.Marshal(st)
	if err != nil {
		return err
	}
	// Most events (a neighbor's post with the feed open, a peer that
	// comes and goes) leave the state as it was: publish changes only.
	if !bytes.Equal(p, b.lastState) {
		if err := b.publish(ctx, c, b.topic("state"), true, p); err != nil {
			return err
		}
		b.lastState = p
	}
	sort.Slice(reqs, func(i, j int) bool { return reqs[i].From.Before(reqs[j].From) })
	open := make(map[string]bool, len(reqs))
	sent := 0
	for _, r := range reqs {
		open[r.ID] = true
		if b.seen[r.ID] || sent == maxEvents {
			continue
		}
		ev := Event{EventType: EventType, ID: r.ID, Agency: r.Agency, Case: r.Case, From: r.From.UTC(), To: r.To.UTC()}
		p, err := json.Marshal(ev)
		if err != nil {
			return err
		}
		if err := b.publish(ctx, c, b.topic("request"), false, p); err != nil {
			return err
		}
		b.seen[r.ID] = true
		sent++
	}
	// Closed requests never open again: forget them, so seen stays as
	// small as the open set.
	for id := range b.seen {
		if !open[id] {
			delete(b.seen, id)
		}
	}
	return nil
}
