package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/porchlight-mesh/porchlight/integrations/mqtt"
	"github.com/porchlight-mesh/porchlight/node"
)

// checkMQTT checks [mqtt] when it is configured: the password file, and
// the connection to the broker as the running node sees it (status), or,
// with no node running, by connecting once itself.
func (d *doctor) checkMQTT(ctx context.Context) {
	if d.cfg == nil || d.cfg.MQTT.URL == "" {
		return
	}
	m := d.cfg.MQTT
	var password string
	if m.PasswordFile != "" {
		path := m.PasswordFile
		if !filepath.IsAbs(path) {
			path = filepath.Join(d.dir, path)
		}
		var err error
		if password, err = node.ReadSecret(path); err != nil {
			fix := "write the broker password to " + path + " and chmod 600 " + path
			if strings.Contains(err.Error(), "readable by others") {
				fix = "chmod 600 " + path + " (the node refuses to start until then)"
			}
			d.add("mqtt", checkFail, "[mqtt] password_file: "+err.Error(), fix)
			return
		}
	}
	if d.status != nil {
		st := d.status.MQTT
		switch {
		case st == nil || !st.Configured:
			d.add("mqtt", checkWarn, "config.toml has [mqtt], but the running node has no MQTT connection", "restart the node to apply [mqtt]")
		case st.Connected:
			d.add("mqtt", checkOK, "connected to "+st.Broker+" (Home Assistant: docs/integrations.md)", "")
		default:
			d.add("mqtt", checkFail, fmt.Sprintf("not connected to %s: %s", st.Broker, st.LastError), mqttFix(st.LastError))
		}
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := mqtt.Probe(ctx, m.URL, m.Username, password); err != nil {
		d.add("mqtt", checkFail, fmt.Sprintf("cannot connect to %s: %v", m.URL, err), mqttFix(err.Error()))
		return
	}
	d.add("mqtt", checkOK, "the broker "+m.URL+" accepts this node's login (checked by doctor: no node is running)", "")
}

// mqttFix says what to do about a broker connection's error.
func mqttFix(err string) string {
	switch {
	case strings.Contains(err, "packet"):
		return "something on the broker sends this node oversized or malformed packets (a retained message on the birth topic?); see docs/integrations.md"
	case strings.Contains(err, "refused the login"):
		return "check [mqtt] username and the password in password_file against the broker's users (mosquitto_passwd on the broker)"
	case strings.Contains(err, "connection refused"), strings.Contains(err, "connection lost"), strings.Contains(err, "no such host"),
		strings.Contains(err, "i/o timeout"), strings.Contains(err, "no answer"):
		return "is the broker running and reachable at [mqtt] url? (Home Assistant's Mosquitto add-on listens on port 1883)"
	case strings.Contains(err, "certificate"), strings.Contains(err, "tls"):
		return "the broker's TLS certificate is not trusted by this system; install its CA or use mqtt:// on a trusted LAN"
	}
	return "see docs/integrations.md (Home Assistant)"
}
