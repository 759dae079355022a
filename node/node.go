package node

import (
	"context"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/porchlight-mesh/porchlight/api"
	"github.com/porchlight-mesh/porchlight/clips"
	"github.com/porchlight-mesh/porchlight/events"
	"github.com/porchlight-mesh/porchlight/feed"
	"github.com/porchlight-mesh/porchlight/integrations/frigate"
	"github.com/porchlight-mesh/porchlight/integrations/mqtt"
	"github.com/porchlight-mesh/porchlight/member"
	"github.com/porchlight-mesh/porchlight/mesh"
	"github.com/porchlight-mesh/porchlight/record"
	"github.com/porchlight-mesh/porchlight/record/pb"
	"github.com/porchlight-mesh/porchlight/requests"
	"github.com/porchlight-mesh/porchlight/sharing"
	"github.com/porchlight-mesh/porchlight/store"
)

// Options are run-time settings layered over config.toml. Zero values mean
// "as configured".
type Options struct {
	// Dir is the data directory. Required.
	Dir string
	// Peers are static peers added to the configured ones.
	Peers []string
	// Listen replaces the configured libp2p listen addresses.
	Listen []string
	// API replaces the configured API address; "off" disables the API.
	API string
	// APIAllowRemote lets the API listen on a non-loopback address; it
	// then needs APITLSCert and APITLSKey (see api.Config).
	APIAllowRemote bool
	// APITLSCert and APITLSKey are PEM files: the API serves HTTPS.
	APITLSCert, APITLSKey string
	// LAN serves the UI to paired devices on the LAN for this run, as
	// config.toml's lan = true does (porchlight run --lan).
	LAN bool
	// DisableMDNS turns discovery off.
	DisableMDNS bool
	// Anchor makes the node an anchor of its neighborhood, as config.toml's
	// anchor = true does (porchlight run --anchor).
	Anchor bool
	// SyncInterval overrides the mesh's periodic sync (tests).
	SyncInterval time.Duration
	// Horizon overrides config.toml's horizon (porchlight run --horizon;
	// the same syntax, see Config.Horizon).
	Horizon string
	// YieldGrace overrides requests.YieldGrace, the time an agency has to
	// count a clip in its yield (tests only: every node of a neighborhood
	// must judge yield omissions with the same).
	YieldGrace time.Duration
	// NoYieldWriter stops an agency's node from writing the Yield records
	// of the clips it receives (tests only: a test writes them itself, as
	// an agency that under-reports would).
	NoYieldWriter bool
	// Logger. Default slog.Default().
	Logger *slog.Logger
}

// Node is a running node.
type Node struct {
	// Config is config.toml as Start loaded it, parsed; Trust adds to its
	// trusted issuers.
	Config Settings
	dir    string
	db     *store.DB
	clipDB *clips.DB     // clips.OpenDB: the clips' chunks and manifests
	health *store.Health // watches the disk under db and clipDB
	reqs   *requests.Service
	clips  *clips.Store
	shares *sharing.Service // grants, the clip and share protocols, evidence
	mesh   *mesh.Mesh
	feed   *feed.Service
	id     peer.ID // this home's peer ID
	// members is the membership of a chartered neighborhood; nil under
	// the open policy.
	members *membership
	limiter *feed.Limiter // per-author limits on feed records

	cancel context.CancelFunc // stops the node's own loops (the clip watcher)
	wg     sync.WaitGroup

	key    crypto.PrivKey
	cfgMu  sync.Mutex // guards Config writes (trust add, anchor add and rm)
	events api.Hub
	api    *api.Server
	log    *slog.Logger

	// anchorMode: config.toml or Options made this node an anchor.
	anchorMode bool

	mqtt       *mqtt.Bridge      // the Home Assistant bridge; nil without [mqtt]
	frigate    *frigate.Importer // Frigate's clips; nil without [frigate]
	feedReadAt atomic.Int64      // unix ms the local API last listed the feed (unread posts)

	closeOnce sync.Once
	closeErr  error
}

// Start opens the data directory and starts the node.
func Start(opts Options) (n *Node, err error) {
	if opts.Dir == "" {
		return nil, errors.New("node: Dir is required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	cfg, err := LoadConfig(opts.Dir)
	if err != nil {
		return nil, err
	}
	key, err := LoadKey(opts.Dir)
	if err != nil {
		return nil, err
	}
	token, err := LoadToken(opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("read API token: %w", err)
	}
	id, err := peer.IDFromPrivateKey(key)
	if err != nil {
		return nil, err
	}
	n = &Node{Config: cfg, dir: opts.Dir, log: opts.Logger, key: key, id: id}
	// Not n: "return nil, err" sets n to nil before this runs.
	started := n
	defer func() {
		if err != nil {
			started.Close()
		}
	}()
	n.health, err = store.NewHealth(store.HealthConfig{
		Dirs:   []string{filepath.Join(opts.Dir, DBDir), filepath.Join(opts.Dir, ClipDBDir)},
		Logger: opts.Logger,
	})
	if err != nil {
		return nil, err
	}
	n.db, err = store.Open(store.Config{
		Dir:            filepath.Join(opts.Dir, DBDir),
		Neighborhood:   cfg.Neighborhood,
		Logger:         opts.Logger,
		Health:         n.health,
		TrustedIssuers: cfg.Issuers,
		// An agency's log serves every neighborhood it is allowed into
		// (n.reqs is set before the mesh stores anything).
		Elsewhere: func(a peer.ID) bool { return n.reqs != nil && n.reqs.IsAgency(a) },
	})
	if err != nil {
		return nil, err
	}
	horizon := cfg.HorizonPeriod
	if opts.Horizon != "" {
		if horizon, err = ParseHorizon(opts.Horizon); err != nil {
			return nil, err
		}
	}
	listen := cfg.Listen
	if len(opts.Listen) > 0 {
		listen = opts.Listen
	}
	rcfg := requests.Config{Store: n.db, Trusted: cfg.Issuers, Limits: cfg.Limits, Home: cfg.Home, Logger: opts.Logger, OnDocument: n.documentEvent,
		YieldGrace: opts.YieldGrace}
	if n.reqs, err = requests.New(rcfg); err != nil {
		return nil, err
	}
	if n.clipDB, err = clips.OpenDB(filepath.Join(opts.Dir, ClipDBDir), opts.Logger); err != nil {
		return nil, err
	}
	if n.clips, err = clips.New(clips.Config{DB: n.clipDB, Key: key, Retention: cfg.RetentionPeriod, Logger: opts.Logger, Health: n.health}); err != nil {
		return nil, err
	}
	if n.members, err = n.openMembership(); err != nil {
		return nil, err
	}
	if n.members != nil {
		// Per-author limits need a roster: in an open neighborhood anyone
		// makes a new key for free, so limits per author would hold no
		// one; it keeps today's behaviour (per-peer gossip budgets only).
		n.limiter = feed.NewLimiter(n.db, n.feedLimits())
	}
	var members mesh.Membership
	if n.members != nil {
		members = meshMembership{n.members}
	}
	reg := prometheus.NewRegistry()
	n.anchorMode = cfg.Anchor || opts.Anchor
	n.mesh, err = mesh.New(mesh.Config{
		Rules:        rules{Service: n.reqs, n: n},
		Membership:   members,
		OnRecord:     n.recordEvent,
		OnPeers:      func() { n.events.Publish(api.Event{Type: events.Peers, Data: map[string]any{}}) },
		Key:          key,
		Store:        n.db,
		Name:         cfg.Name,
		ListenAddrs:  listen,
		StaticPeers:  append(append([]string(nil), cfg.Peers...), opts.Peers...),
		MDNS:         !cfg.DisableMDNS && !opts.DisableMDNS,
		Anchor:       n.anchorMode,
		Anchors:      append([]string(nil), cfg.Anchors...),
		Serve:        n.served(),
		Credentials:  n.credentials,
		SyncInterval: opts.SyncInterval,
		Horizon:      horizon,
		Registerer:   reg,
		Logger:       opts.Logger,
		// Without init's marker the key may have written a log before this
		// database existed (restored from a backup): wait for it.
		KeyMayHaveLog: !fileExists(filepath.Join(opts.Dir, NewKeyFile)),
	})
	if err != nil {
		return nil, err
	}
	// The requests service judged the mesh's records from the start; it
	// writes to the mesh from now on (see requests.Service.SetAppender).
	if err := n.reqs.SetAppender(n.mesh); err != nil {
		return nil, err
	}
	fcfg := feed.Config{Log: n.mesh, Store: n.db, Sharer: feedSharer{n}, Limiter: n.limiter}
	if n.members != nil {
		fcfg.Removed = n.members.removedAt
		n.mesh.Host().SetStreamHandler(member.JoinProtocol, n.members.serveJoin)
	}
	if n.feed, err = feed.New(fcfg); err != nil {
		return nil, err
	}
	n.dropNewKeyMarker()
	n.registerMetrics(reg)
	ctx, cancel := context.WithCancel(context.Background())
	n.cancel = cancel
	// Not n: "return nil, err" sets n to nil while this runs.
	health := n.health
	started.wg.Add(1)
	go func() {
		defer started.wg.Done()
		_ = health.Run(ctx)
	}()
	if err := n.startSharing(opts.Logger, opts.NoYieldWriter); err != nil {
		return nil, err
	}
	if err := n.startMQTT(ctx, reg); err != nil {
		return nil, err
	}
	if err := n.startFrigate(reg); err != nil {
		return nil, err
	}
	if cfg.WatchDir != "" {
		w, err := clips.NewWatcher(clips.WatcherConfig{
			Dir: cfg.WatchDir, Store: n.clips, Logger: opts.Logger,
			OnImport: func(m *clips.SignedManifest) {
				n.events.Publish(api.Event{Type: events.Clip, Data: map[string]string{"id": m.ClipID().String()}})
			},
		})
		if err != nil {
			return nil, err
		}
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			if err := w.Run(ctx); err != nil && ctx.Err() == nil {
				opts.Logger.Error("clip folder watcher stopped", "dir", cfg.WatchDir, "err", err)
			}
		}()
	}
	apiAddr := cfg.API
	if opts.API != "" {
		apiAddr = opts.API
	}
	if apiAddr != "off" {
		n.api, err = api.Listen(api.Config{
			EnableLAN:   n.enableLAN,
			DevicesFile: filepath.Join(opts.Dir, DevicesFile),
			Addr:        apiAddr,
			AllowRemote: opts.APIAllowRemote,
			TLSCert:     opts.APITLSCert,
			TLSKey:      opts.APITLSKey,
			Token:       token,
			Mesh:        n.mesh,
			Feed:        n.feed,
			OnFeedRead:  n.feedRead,
			Requests:    n.reqs,
			Events:      &n.events,
			Clips:       n.clips,
			Sharing:     n.shares,
			Omissions:   n.shares.Receipts(),
			Metrics:     promhttp.HandlerFor(reg, promhttp.HandlerOpts{}),
			Trust:       n.Trust,
			TrustedIssuers: func() []string {
				n.cfgMu.Lock()
				defer n.cfgMu.Unlock()
				return append([]string{}, n.Config.TrustedIssuers...)
			},
			Members: membersAPI{n},
			Anchors: anchorsAPI{n},
			Status:  n.Status,
			Storage: n.health.Err,
			Logger:  opts.Logger,
		})
		if err != nil {
			return nil, err
		}
		addr := n.api.Addr().String()
		if ta, ok := n.api.Addr().(*net.TCPAddr); ok && ta.IP.IsUnspecified() {
			// Listening on every address: the CLI on this computer dials loopback.
			addr = net.JoinHostPort("127.0.0.1", fmt.Sprint(ta.Port))
		}
		if n.api.TLS() {
			// The CLI pins this certificate: it may be self-signed, and
			// may not name the address the CLI dials.
			pemCert := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: n.api.Certificate()})
			if err := writeFileAtomic(filepath.Join(opts.Dir, CertFile), pemCert, 0o600); err != nil {
				return nil, err
			}
			addr = "https://" + addr
		}
		if err := writeFileAtomic(filepath.Join(opts.Dir, AddrFile), []byte(addr+"\n"), 0o600); err != nil {
			return nil, err
		}
		if cfg.LAN || opts.LAN {
			n.serveLAN()
		}
	}
	return n, nil
}

// recordEvent tells event-stream clients about a newly stored record.
func (n *Node) recordEvent(s *record.Signed) {
	ev := api.Event{Data: map[string]string{"id": s.ID.String(), "author": s.Author.String()}}
	switch s.Entry.GetBody().(type) {
	case *pb.Entry_Post:
		ev.Type = events.Post
	case *pb.Entry_Retraction:
		ev.Type = events.Retraction
	case *pb.Entry_Request:
		ev.Type = events.Request
		// Whether the area covers this home (false when the home's
		// location is unknown), for the UI's notification; never the
		// home's location itself.
		h := n.Config.Home
		ev.Data = map[string]any{"id": s.ID.String(), "author": s.Author.String(),
			"covers_home": h != nil && requests.AreaFromPB(s.Entry.GetRequest().GetArea()).Contains(*h)}
	case *pb.Entry_Update, *pb.Entry_Yield:
		// A Yield changes a request's figures: the UI redraws it as it
		// does for an update.
		ev.Type = events.Update
	default:
		return
	}
	n.events.Publish(ev)
}

// documentEvent tells event-stream clients about a newly stored issuer
// document: the agencies' credential status may have changed.
func (n *Node) documentEvent(d *record.Doc) {
	kind := "credential"
	if d.Revocation != nil {
		kind = "revocation"
	}
	n.events.Publish(api.Event{Type: events.Document, Data: map[string]string{"id": d.ID.String(), "kind": kind, "issuer": d.Issuer.String()}})
}

// registerMetrics adds node-level gauges and Go runtime metrics.
func (n *Node) registerMetrics(reg *prometheus.Registry) {
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "porchlight_storage_ok", Help: "1 while the disk under the databases works, 0 while it has failed (writes are refused; see status)."},
			func() float64 {
				if n.health.Err() != nil {
					return 0
				}
				return 1
			}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "porchlight_storage_free_bytes", Help: "Free space on the disk under the databases (the least of the two) at the last check."},
			func() float64 { return float64(n.health.FreeBytes()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "porchlight_peers", Help: "Connected neighbors."},
			func() float64 { return float64(len(n.mesh.Peers())) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "porchlight_badger_lsm_bytes", Help: "Size of the Badger LSM tree."},
			func() float64 { lsm, _ := n.db.Size(); return float64(lsm) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "porchlight_badger_vlog_bytes", Help: "Size of the Badger value log."},
			func() float64 { _, vlog := n.db.Size(); return float64(vlog) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "porchlight_clips_lsm_bytes", Help: "Size of the clip database's LSM tree (keys and manifests)."},
			func() float64 { lsm, _ := n.clipDB.Size(); return float64(lsm) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "porchlight_clips_vlog_bytes", Help: "Size of the clip database's value log (the clips' chunks)."},
			func() float64 { _, vlog := n.clipDB.Size(); return float64(vlog) }),
	)
	reg.MustRegister(n.reqs.Collectors()...)
}

// Clips is the node's clip store.
func (n *Node) Clips() *clips.Store { return n.clips }

// Requests is the node's requests service.
func (n *Node) Requests() *requests.Service { return n.reqs }

// Trust adds an issuer to the trusted set, now and in config.toml.
func (n *Node) Trust(id peer.ID) error {
	n.cfgMu.Lock()
	defer n.cfgMu.Unlock()
	for _, s := range n.Config.TrustedIssuers {
		if s == id.String() {
			return nil
		}
	}
	cfg := n.Config.Config
	cfg.TrustedIssuers = append(append([]string(nil), cfg.TrustedIssuers...), id.String())
	if err := SaveConfig(n.dir, cfg); err != nil {
		return err
	}
	n.Config.TrustedIssuers = cfg.TrustedIssuers
	n.Config.Issuers = append(append([]peer.ID(nil), n.Config.Issuers...), id)
	n.reqs.Trust(id)
	return nil
}

// Feed is the node's feed service.
func (n *Node) Feed() *feed.Service { return n.feed }

// Mesh is the node's network side.
func (n *Node) Mesh() *mesh.Mesh { return n.mesh }

// Store is the node's database.
func (n *Node) Store() *store.DB { return n.db }

// ID is the node's peer ID.
func (n *Node) ID() peer.ID { return n.mesh.ID() }

// APIAddr is the API's listen address, or nil when the API is off.
func (n *Node) APIAddr() net.Addr {
	if n.api == nil {
		return nil
	}
	return n.api.Addr()
}

// Status describes the node for `porchlight status`.
func (n *Node) Status() api.Status {
	st := api.Status{
		PeerID:       n.mesh.ID().String(),
		Name:         n.Config.Name,
		Neighborhood: n.Config.Neighborhood,
		Peers:        len(n.mesh.Peers()),
	}
	if a := n.APIAddr(); a != nil {
		st.API = "http://" + a.String()
		if n.api.TLS() {
			st.API = "https://" + a.String()
		}
	}
	for _, a := range n.mesh.Addrs() {
		st.Addrs = append(st.Addrs, a.String())
	}
	if h := n.Config.Home; h != nil {
		loc := *h // the caller's to keep
		st.Location = &loc
	}
	n.membershipStatus(&st)
	n.networkStatus(&st)
	st.MQTT = n.mqttStatus()
	st.Frigate = n.frigateStatus()
	st.Storage = &api.StorageStatus{OK: true, FreeBytes: n.health.FreeBytes()}
	if err := n.health.Err(); err != nil {
		st.Storage.OK, st.Storage.Error = false, err.Error()
	}
	return st
}

// dbCloseTimeout bounds the close of each database on a failed disk (see
// store.CloseBadger). cmd/porchlight's run exits 8 s after SIGTERM in any
// case.
const dbCloseTimeout = 3 * time.Second

// Close stops the node's own loops, the sharing service (before the host
// and the databases it uses), the API, the mesh and the databases, in that
// order, and returns the first error. It is safe to call more than once.
func (n *Node) Close() error {
	n.closeOnce.Do(func() {
		var errs []error
		if n.cancel != nil {
			n.cancel()
			n.wg.Wait()
		}
		if n.frigate != nil {
			// Before the databases it writes; bounded.
			errs = append(errs, n.frigate.Close())
		}
		if n.mqtt != nil {
			// Before the services its state comes from; bounded.
			errs = append(errs, n.mqtt.Close())
		}
		if n.shares != nil {
			// Before the mesh's host and the databases it uses.
			errs = append(errs, n.shares.Close())
		}
		if n.api != nil {
			errs = append(errs, n.api.Close())
			_ = os.Remove(filepath.Join(n.dir, AddrFile))
			_ = os.Remove(filepath.Join(n.dir, CertFile))
		}
		if n.mesh != nil {
			errs = append(errs, n.mesh.Close())
			n.dropNewKeyMarker()
		}
		// The two databases close side by side. On a failed disk Badger's
		// Close never returns, and a node must still stop when asked: then
		// each gets dbCloseTimeout, and giving up is safe (acknowledged
		// writes are in the synced write-ahead log, which the next start
		// replays). A working disk gets the time it takes (a flush and a
		// compaction on a slow SD card take seconds); `porchlight run`
		// bounds the whole stop in any case.
		var timeout time.Duration
		if n.health.Verify() != nil {
			timeout = dbCloseTimeout
		}
		var dbErrs [2]error
		var dbs sync.WaitGroup
		if n.clipDB != nil {
			dbs.Add(1)
			go func() {
				defer dbs.Done()
				dbErrs[0] = n.clipDB.CloseWithin(timeout)
			}()
		}
		if n.db != nil {
			dbs.Add(1)
			go func() {
				defer dbs.Done()
				dbErrs[1] = n.db.CloseWithin(timeout)
			}()
		}
		dbs.Wait()
		errs = append(errs, dbErrs[:]...)
		for _, e := range errs {
			if e != nil {
				n.closeErr = e
				break
			}
		}
	})
	return n.closeErr
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// dropNewKeyMarker removes init's marker of a brand-new key once the home's
// own log has a record: from then on, an empty database with this key means
// a restore.
func (n *Node) dropNewKeyMarker() {
	if h, err := n.db.Head(n.mesh.ID()); err == nil && h.Max > 0 {
		if err := os.Remove(filepath.Join(n.dir, NewKeyFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			n.log.Warn("remove the new-key marker", "err", err)
		}
	}
}

// served is config.toml's [[serve]] for the mesh.
func (n *Node) served() []mesh.Served {
	var out []mesh.Served
	for _, s := range n.Config.Serve {
		out = append(out, mesh.Served{Neighborhood: s.Neighborhood, Peers: append([]string(nil), s.Peers...)})
	}
	return out
}

// credentials are this node's valid agency credentials: its proof in the
// neighborhoods it serves.
func (n *Node) credentials() [][]byte {
	docs, _ := n.reqs.Certified(n.id, time.Now())
	return docs
}
