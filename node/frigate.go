package node

import (
	"fmt"
	"path/filepath"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/porchlight-mesh/porchlight/api"
	"github.com/porchlight-mesh/porchlight/clips"
	"github.com/porchlight-mesh/porchlight/events"
	"github.com/porchlight-mesh/porchlight/integrations/frigate"
	"github.com/porchlight-mesh/porchlight/integrations/mqtt"
)

// startFrigate starts the import of Frigate's clips when [frigate] is
// configured, on the broker of [mqtt] (Config.Parse refuses [frigate]
// without it). It does not wait for the broker or Frigate.
func (n *Node) startFrigate(reg prometheus.Registerer) error {
	f, m := n.Config.Frigate, n.Config.MQTT
	if f.URL == "" {
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
	im, err := frigate.Start(frigate.Config{
		URL: f.URL, Prefix: f.MQTT, Cameras: f.Cameras, MaxClipSize: int64(f.MaxClipMB) << 20,
		Broker: m.URL, Username: m.Username, Password: password,
		// Not the bridge's ID: the broker would drop one for the other.
		ClientID: mqtt.ObjectID(n.id.String()) + "_frigate",
		DB:       n.db, Clips: n.clips,
		OnImport: func(c *clips.SignedManifest) {
			n.events.Publish(api.Event{Type: events.Clip, Data: map[string]string{"id": c.ClipID().String()}})
		},
		Registerer: reg, Logger: n.log,
	})
	if err != nil {
		return err
	}
	n.frigate = im
	return nil
}

// frigateStatus is the import of Frigate's clips for `porchlight status`.
func (n *Node) frigateStatus() *api.FrigateStatus {
	if n.frigate == nil {
		return &api.FrigateStatus{}
	}
	s := n.frigate.Status()
	return &api.FrigateStatus{Configured: true, URL: s.URL, Connected: s.Connected, Reachable: s.Reachable,
		Pending: s.Pending, Imported: s.Imported, LastError: s.LastError}
}
