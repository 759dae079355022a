package node_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/porchlight-mesh/porchlight/api"
	"github.com/porchlight-mesh/porchlight/events"
	"github.com/porchlight-mesh/porchlight/requests"
)

// TestRequestEventCoversHome: the "request" event says whether the
// request's area covers this home (the web UI notifies on it), true on a
// home inside the area, false on one outside it and on the agency (no
// location); it carries nothing else about the home.
func TestRequestEventCoversHome(t *testing.T) {
	issuerKey, _, _ := crypto.GenerateEd25519Key(rand.Reader)
	issuer, _ := peer.IDFromPrivateKey(issuerKey)
	mk := initTrusting(t, issuer)
	da, din, dout := mk("Springfield PD", ""), mk("12 Maple St", "40.7148,-74.0060"), mk("90 Oak Ave", "40.7300,-74.0060")
	agency := start(t, da)
	defer agency.Close()
	in := start(t, din, agency.Mesh().Addrs()[0].String())
	defer in.Close()
	out := start(t, dout, agency.Mesh().Addrs()[0].String())
	defer out.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	requestData := make(map[string]chan map[string]any)
	for name, dir := range map[string]string{"agency": da, "in": din, "out": dout} {
		evs, err := apiClient(t, dir).Events(ctx)
		if err != nil {
			t.Fatal(err)
		}
		ch := make(chan map[string]any, 1)
		requestData[name] = ch
		go func() {
			defer evs.Close()
			for {
				ev, err := evs.Next()
				if err != nil {
					return
				}
				var d map[string]any
				if ev.Type == events.Request && json.Unmarshal(ev.Data, &d) == nil {
					ch <- d
					return
				}
			}
		}()
	}

	now := time.Now()
	jur, _ := requests.ParseArea("circle:40.7128,-74.0060,5000")
	cred, err := requests.Certify(issuerKey, agency.ID(), "Springfield PD", jur, now.Add(-time.Hour), now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if err := agency.Mesh().PublishDoc(cred.Raw); err != nil {
		t.Fatal(err)
	}
	var created map[string]string
	if code := apiCall(t, agency, da, "POST", "/api/v1/requests", api.NewRequestJSON{Case: "2026-1142", Incident: "package theft", Contact: "desk",
		Area: "circle:40.7140,-74.0055,300", From: now.Add(-3 * time.Hour), To: now.Add(-time.Hour)}, &created); code != http.StatusCreated {
		t.Fatalf("request: %d", code)
	}
	for name, want := range map[string]bool{"agency": false, "in": true, "out": false} {
		select {
		case d := <-requestData[name]:
			if d["covers_home"] != want {
				t.Errorf("%s: request event %v, want covers_home %v", name, d, want)
			}
			if len(d) != 3 || d["id"] == nil || d["author"] != agency.ID().String() {
				t.Errorf("%s: request event %v, want exactly id, author and covers_home", name, d)
			}
		case <-ctx.Done():
			t.Fatalf("%s: no request event", name)
		}
	}
}
