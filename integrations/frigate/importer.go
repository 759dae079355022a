package frigate

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/porchlight-mesh/porchlight/clips"
	"github.com/porchlight-mesh/porchlight/integrations/mqtt"
	"github.com/porchlight-mesh/porchlight/store"
)

// Clips is where clips are imported: *clips.Store.
type Clips interface {
	// Import reads a clip from r and stores it; a clip whose reading
	// fails stores nothing (see clips.Store.Import).
	Import(ctx context.Context, r io.Reader, meta clips.ImportMeta) (*clips.SignedManifest, error)
}

var _ Clips = (*clips.Store)(nil)

// Config configures Start. Zero values mean the default.
type Config struct {
	// URL of Frigate's HTTP API (see CheckURL). Required.
	URL string
	// Prefix is Frigate's MQTT topic prefix. Default DefaultPrefix.
	Prefix string
	// Cameras are the Frigate cameras whose clips are imported; empty:
	// all.
	Cameras []string

	// Broker is the MQTT broker's URL ([mqtt] url, see mqtt.CheckURL).
	// Required.
	Broker string
	// Username and Password log in to the broker; empty: anonymous.
	Username, Password string
	// TLS configures mqtts:// connections; nil: the system's roots.
	TLS *tls.Config
	// ClientID is the importer's MQTT client ID. Required: the broker
	// drops the older of two connections with one ID.
	ClientID string

	// DB holds the queue and the events handled. Required.
	DB *store.DB
	// Clips is where clips are imported. Required.
	Clips Clips
	// OnImport, when set, is called after each clip imported.
	OnImport func(*clips.SignedManifest)

	// MaxClipSize bounds a clip. Default DefaultMaxClipSize.
	MaxClipSize int64
	// MaxPending bounds the queue. Default MaxPending.
	MaxPending int
	// Settle is how long after an event ends its clip is asked for:
	// Frigate writes the last recording segment a few seconds after.
	// Default 10s.
	Settle time.Duration
	// MaxBackoff bounds the wait between attempts to reach the broker or
	// Frigate. Default 1m.
	MaxBackoff time.Duration
	// MaxAttempts is how many times an event whose clip Frigate serves
	// badly (cut short, an error) is tried before it is given up. Default 10.
	MaxAttempts int
	// HTTP is the client for Frigate's API. Default: one with timeouts.
	HTTP *http.Client
	// Registerer gets the importer's metrics; nil: none.
	Registerer prometheus.Registerer
	// Logger. Default slog.Default().
	Logger *slog.Logger
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// Status is the importer as `porchlight status` shows it.
type Status struct {
	// URL is Frigate's API.
	URL string
	// Connected: subscribed to Frigate's events on the broker.
	Connected bool
	// Reachable: Frigate's API answered the last request (true until the
	// first).
	Reachable bool
	// Pending is the number of events whose clips are still to import.
	Pending int
	// Imported counts the clips imported since the node started.
	Imported int
	// LastError is the last failure (broker, Frigate or an import), until
	// the next success of the same kind.
	LastError string
}

const (
	connectTimeout = 10 * time.Second
	closeTimeout   = 2 * time.Second
)

// Importer follows Frigate's events and imports their clips. Use Start.
type Importer struct {
	cfg     Config
	api     *url.URL
	broker  *url.URL
	cameras map[string]bool
	log     *slog.Logger
	now     func() time.Time

	wake chan struct{} // cap 1: an event was queued

	mu        sync.Mutex
	connected bool
	reachable bool
	pending   int
	imported  int
	mqttErr   string
	apiErr    string
	conn      net.Conn

	metrics struct {
		imported, failures, refused prometheus.Counter
	}

	cancel    context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once
}

// Start checks cfg and starts the importer: it connects to the broker and
// works through the queue in the background, and never waits for either.
func Start(cfg Config) (*Importer, error) {
	api, err := CheckURL(cfg.URL)
	if err != nil {
		return nil, err
	}
	broker, err := mqtt.CheckURL(cfg.Broker)
	if err != nil {
		return nil, err
	}
	if cfg.DB == nil || cfg.Clips == nil || cfg.ClientID == "" {
		return nil, errors.New("frigate: DB, Clips and ClientID are required")
	}
	if cfg.Prefix == "" {
		cfg.Prefix = DefaultPrefix
	}
	if err := mqtt.CheckPrefix("[frigate] mqtt", cfg.Prefix); err != nil {
		return nil, err
	}
	if err := CheckCameras(cfg.Cameras); err != nil {
		return nil, err
	}
	if cfg.MaxClipSize <= 0 {
		cfg.MaxClipSize = DefaultMaxClipSize
	}
	if cfg.MaxPending <= 0 {
		cfg.MaxPending = MaxPending
	}
	if cfg.Settle <= 0 {
		cfg.Settle = 10 * time.Second
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = time.Minute
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 10
	}
	if cfg.HTTP == nil {
		cfg.HTTP = &http.Client{
			// A clip of MaxClipSize over a slow LAN; a stalled answer ends
			// earlier, at the transport's timeouts.
			Timeout: 30 * time.Minute,
			Transport: &http.Transport{
				Proxy:                 nil, // Frigate is on the LAN
				DialContext:           (&net.Dialer{Timeout: connectTimeout}).DialContext,
				TLSHandshakeTimeout:   connectTimeout,
				ResponseHeaderTimeout: time.Minute,
				MaxIdleConns:          2,
				IdleConnTimeout:       time.Minute,
			},
			// Only Frigate's own address: a redirect must not make the
			// node fetch, and store as a clip, another URL of the LAN.
			CheckRedirect: func(req *http.Request, via []*http.Request) error {
				if req.URL.Host != api.Host || req.URL.Scheme != api.Scheme || len(via) >= 3 {
					return fmt.Errorf("redirected to %s: only redirects within [frigate] url are followed", req.URL.Redacted())
				}
				return nil
			},
		}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	im := &Importer{
		cfg: cfg, api: api, broker: broker,
		log:       cfg.Logger.With("frigate", api.String()),
		now:       cfg.Now,
		wake:      make(chan struct{}, 1),
		reachable: true,
	}
	if len(cfg.Cameras) > 0 {
		im.cameras = map[string]bool{}
		for _, c := range cfg.Cameras {
			im.cameras[c] = true
		}
	}
	if err := im.register(cfg.Registerer); err != nil {
		return nil, err
	}
	if _, _, n, err := im.next(); err == nil {
		im.pending = n
	}
	ctx, cancel := context.WithCancel(context.Background())
	im.cancel = cancel
	im.wg.Add(2)
	go func() {
		defer im.wg.Done()
		im.subscribe(ctx)
	}()
	go func() {
		defer im.wg.Done()
		im.work(ctx)
	}()
	return im, nil
}

func (im *Importer) register(reg prometheus.Registerer) error {
	im.metrics.imported = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "porchlight_frigate_imported_total", Help: "Clips imported from Frigate.",
	})
	im.metrics.failures = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "porchlight_frigate_failures_total", Help: "Failed attempts to reach the broker or Frigate, or to import a clip of Frigate's.",
	})
	im.metrics.refused = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "porchlight_frigate_refused_total", Help: "Frigate events refused: malformed, unknown to Frigate, over the size limit, or with the queue full.",
	})
	if reg == nil {
		return nil
	}
	for _, c := range []prometheus.Collector{
		im.metrics.imported, im.metrics.failures, im.metrics.refused,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "porchlight_frigate_connected",
			Help: "1 while the node follows Frigate's events on the broker and Frigate's API answers, 0 while not (see status).",
		}, func() float64 {
			if s := im.Status(); s.Connected && s.Reachable {
				return 1
			}
			return 0
		}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "porchlight_frigate_pending",
			Help: "Frigate events whose clips are still to import.",
		}, func() float64 { return float64(im.Status().Pending) }),
	} {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}

// Status reports the importer's connections and queue.
func (im *Importer) Status() Status {
	im.mu.Lock()
	defer im.mu.Unlock()
	s := Status{URL: im.api.String(), Connected: im.connected, Reachable: im.reachable, Pending: im.pending, Imported: im.imported}
	switch {
	case im.mqttErr != "" && im.apiErr != "":
		s.LastError = im.mqttErr + "; " + im.apiErr
	case im.mqttErr != "":
		s.LastError = im.mqttErr
	default:
		s.LastError = im.apiErr
	}
	return s
}

// Close stops the importer; a download under way is abandoned (and
// retried at the next start). It is safe to call more than once.
func (im *Importer) Close() error {
	im.closeOnce.Do(func() {
		im.cancel()
		done := make(chan struct{})
		go func() {
			im.wg.Wait()
			close(done)
		}()
		select {
		case <-done:
		case <-time.After(closeTimeout):
			im.mu.Lock()
			if im.conn != nil {
				im.conn.Close()
			}
			im.mu.Unlock()
			<-done
		}
	})
	return nil
}

func (im *Importer) setMQTT(connected bool, err error) {
	im.mu.Lock()
	defer im.mu.Unlock()
	im.connected = connected
	if err != nil {
		im.mqttErr = "broker: " + err.Error()
	} else if connected {
		im.mqttErr = ""
	}
}

func (im *Importer) setAPI(err error) {
	im.mu.Lock()
	defer im.mu.Unlock()
	im.reachable = err == nil
	if err != nil {
		im.apiErr = err.Error()
	} else {
		im.apiErr = ""
	}
}

func (im *Importer) topic() string { return im.cfg.Prefix + "/events" }

// subscribe keeps a subscription to Frigate's events, reconnecting with
// backoff, until ctx ends.
func (im *Importer) subscribe(ctx context.Context) {
	backoff := mqtt.Backoff{Max: im.cfg.MaxBackoff}
	for {
		since := time.Now()
		err := im.session(ctx)
		im.setMQTT(false, nil)
		if ctx.Err() != nil {
			return
		}
		if time.Since(since) > 30*time.Second {
			backoff.Reset()
		}
		im.metrics.failures.Inc()
		im.setMQTT(false, err)
		wait := backoff.Next()
		im.log.Warn("frigate: not following Frigate's events; retrying", "err", err, "in", wait.Round(time.Millisecond))
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// session connects, subscribes and waits until the connection is lost
// (it returns why) or ctx ends.
func (im *Importer) session(ctx context.Context) error {
	lost := make(chan error, 1)
	opts := paho.NewClientOptions().
		AddBroker(im.broker.String()).
		SetClientID(im.cfg.ClientID).
		SetUsername(im.cfg.Username).
		SetPassword(im.cfg.Password).
		SetCleanSession(true).
		SetAutoReconnect(false).
		SetConnectRetry(false).
		SetConnectTimeout(connectTimeout).
		SetKeepAlive(30 * time.Second).
		SetPingTimeout(10 * time.Second).
		SetWriteTimeout(5 * time.Second).
		// In order, on the library's goroutine: a flood of events waits
		// in the broker's queue for this connection (which drops QoS 0
		// messages when it is full), not in goroutines here.
		SetOrderMatters(true).
		SetDefaultPublishHandler(func(paho.Client, paho.Message) {}).
		SetConnectionLostHandler(func(_ paho.Client, err error) {
			select {
			case lost <- fmt.Errorf("connection lost: %w", err):
			default:
			}
		}).
		SetCustomOpenConnectionFn(mqtt.Dialer(ctx, im.cfg.TLS, MaxEventSize, func(c net.Conn) {
			im.mu.Lock()
			if im.conn != nil {
				im.conn.Close()
			}
			im.conn = c
			im.mu.Unlock()
		}))
	c := paho.NewClient(opts)
	defer func() {
		c.Disconnect(0)
		im.mu.Lock()
		if im.conn != nil {
			im.conn.Close()
			im.conn = nil
		}
		im.mu.Unlock()
	}()
	if err := wait(ctx, c.Connect(), connectTimeout+time.Second); err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	if err := wait(ctx, c.Subscribe(im.topic(), 0, im.onMessage), 5*time.Second); err != nil {
		return fmt.Errorf("subscribe to %s: %w", im.topic(), err)
	}
	im.setMQTT(true, nil)
	im.log.Info("frigate: following Frigate's events", "topic", im.topic())
	select {
	case <-ctx.Done():
		return nil
	case err := <-lost:
		return err
	}
}

func wait(ctx context.Context, t paho.Token, d time.Duration) error {
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

// onMessage queues an ended event with a clip. It runs on the client
// library's goroutine and does one small database write at most.
func (im *Importer) onMessage(_ paho.Client, m paho.Message) {
	if m.Topic() != im.topic() {
		return
	}
	ev, err := decodeMessage(m.Payload())
	if errors.Is(err, errSkip) {
		return
	}
	if err != nil {
		im.metrics.refused.Inc()
		im.log.Warn("frigate: ignored a malformed event message (something on the broker other than Frigate?)", "err", err)
		return
	}
	if !im.included(ev.Camera) {
		return
	}
	added, err := im.enqueue(ev.ID, ev.Camera)
	if err != nil {
		im.metrics.refused.Inc()
		im.log.Warn("frigate: could not queue an event; its clip is not imported", "event", ev.ID, "err", err)
		return
	}
	if added {
		im.mu.Lock()
		im.pending++
		im.mu.Unlock()
		select {
		case im.wake <- struct{}{}:
		default:
		}
	}
}

func (im *Importer) included(camera string) bool {
	return im.cameras == nil || im.cameras[camera]
}
