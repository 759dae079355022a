package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/porchlight-mesh/porchlight/integrations/frigate"
)

// checkFrigate checks [frigate] when it is configured: the running node's
// import (status), or, with no node running, whether Frigate's API
// answers. The broker is [mqtt]'s, which checkMQTT checks.
func (d *doctor) checkFrigate(ctx context.Context) {
	if d.cfg == nil || d.cfg.Frigate.URL == "" {
		return
	}
	url := d.cfg.Frigate.URL
	if d.status != nil {
		st := d.status.Frigate
		switch {
		case st == nil || !st.Configured:
			d.add("frigate", checkWarn, "config.toml has [frigate], but the running node does not import Frigate's clips", "restart the node to apply [frigate]")
		case !st.Connected:
			d.add("frigate", checkFail, "not following Frigate's events on the [mqtt] broker: "+st.LastError, "see the mqtt check; Frigate must publish to the same broker (Frigate's mqtt: host)")
		case !st.Reachable:
			d.add("frigate", checkFail, fmt.Sprintf("Frigate's API at %s does not answer (%d clips waiting): %s", st.URL, st.Pending, st.LastError), frigateFix(st.LastError))
		default:
			msg := fmt.Sprintf("following Frigate's events; its API at %s answers; %d clips imported since the node started, %d waiting", st.URL, st.Imported, st.Pending)
			if st.LastError != "" {
				d.add("frigate", checkWarn, msg+"; last failure: "+st.LastError, "a clip Frigate served badly is retried; see the node's log")
				return
			}
			d.add("frigate", checkOK, msg, "")
		}
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	v, err := frigate.Probe(ctx, url)
	if err != nil {
		d.add("frigate", checkFail, fmt.Sprintf("Frigate's API at %s: %v", url, err), frigateFix(err.Error()))
		return
	}
	d.add("frigate", checkOK, "Frigate "+v+" answers at "+url+" (checked by doctor: no node is running)", "")
}

// frigateFix says what to do about an error reaching Frigate's API.
func frigateFix(err string) string {
	switch {
	case strings.Contains(err, "401"), strings.Contains(err, "403"), strings.Contains(err, "port, 5000"):
		return "set [frigate] url to Frigate's unauthenticated API port on the LAN, such as http://frigate.local:5000 (not the 8971 login port)"
	case strings.Contains(err, "cannot reach"), strings.Contains(err, "connection refused"), strings.Contains(err, "no such host"), strings.Contains(err, "timeout"):
		return "is Frigate running and reachable at [frigate] url from this computer? (try: curl URL/api/version)"
	}
	return "see docs/integrations.md (Frigate)"
}
