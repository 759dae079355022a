package node

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime/debug"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/porchlight-mesh/porchlight/api"
	"github.com/porchlight-mesh/porchlight/integrations/mqtt"
)

// startMQTT starts the Home Assistant bridge when [mqtt] is configured,
// and tells it of every event the node publishes (it reads the node's
// state again; see package mqtt). It does not wait for the broker.
func (n *Node) startMQTT(ctx context.Context, reg prometheus.Registerer) error {
	m := n.Config.MQTT
	if m.URL == "" {
		return nil
	}
	var password string
	if m.PasswordFile != "" {
		path := m.PasswordFile
		if !filepath.IsAbs(path) {
			path = filepath.Join(n.dir, path)
		}
		var err error
		if password, err = ReadSecret(path); err != nil {
			return fmt.Errorf("[mqtt] password_file: %w", err)
		}
	}
	version := ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		version = bi.Main.Version
	}
	n.feedReadAt.Store(time.Now().UnixMilli())
	b, err := mqtt.Start(mqtt.Config{
		URL: m.URL, Username: m.Username, Password: password,
		TopicPrefix: m.TopicPrefix, DiscoveryPrefix: m.DiscoveryPrefix,
		NodeID: n.id.String(), Name: n.Config.Name, Version: version,
		Source: mqttSource{n}, Registerer: reg, Logger: n.log,
	})
	if err != nil {
		return err
	}
	n.mqtt = b
	events, unsubscribe := n.events.Subscribe()
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		defer unsubscribe()
		for {
			select {
			case <-ctx.Done():
				return
			case <-events:
				b.Changed()
			}
		}
	}()
	return nil
}

// feedRead marks the feed's posts read: the UI or the CLI listed it.
func (n *Node) feedRead() {
	if n.mqtt == nil {
		return
	}
	n.feedReadAt.Store(time.Now().UnixMilli())
	n.mqtt.Changed()
}

// mqttStatus is the bridge's connection for `porchlight status`.
func (n *Node) mqttStatus() *api.MQTTStatus {
	if n.mqtt == nil {
		return &api.MQTTStatus{}
	}
	s := n.mqtt.Status()
	return &api.MQTTStatus{Configured: true, Connected: s.Connected, Broker: s.Broker, LastError: s.LastError}
}

// mqttSource reads the node's state for the bridge.
type mqttSource struct{ n *Node }

func (s mqttSource) Covering() ([]mqtt.Request, error) {
	items, err := s.n.reqs.List("", 0)
	if err != nil {
		return nil, err
	}
	var out []mqtt.Request
	for _, it := range items {
		// A request made after its credential's revocation is shown in
		// the UI, marked; it asks nothing of the home.
		if !it.CoversHome || it.Closed || it.AfterRevocation {
			continue
		}
		out = append(out, mqtt.Request{ID: it.ID.String(), Agency: it.AgencyName, Case: it.Case, From: it.From, To: it.To})
	}
	return out, nil
}

func (s mqttSource) Neighbors() int { return len(s.n.mesh.Peers()) }

// maxUnread bounds the posts UnreadPosts reads.
const maxUnread = 1000

// UnreadPosts counts neighbors' posts (not muted) created since the feed
// was last listed by the local API, or since the node started.
func (s mqttSource) UnreadPosts() (int, error) {
	posts, err := s.n.feed.List(maxUnread)
	if err != nil {
		return 0, err
	}
	since := s.n.feedReadAt.Load()
	count := 0
	for _, p := range posts {
		if p.Author != s.n.id && p.Created.UnixMilli() > since {
			count++
		}
	}
	return count, nil
}

var _ mqtt.Source = mqttSource{}
