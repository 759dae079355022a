package mqtt

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// Probe connects to a broker once, as the bridge would, and disconnects:
// `porchlight doctor` checks [mqtt] with it while no node runs. Its
// client ID is random, so a probe never takes over a running node's
// connection. The error says what failed, as Status.LastError does.
func Probe(ctx context.Context, brokerURL, username, password string) error {
	u, err := CheckURL(brokerURL)
	if err != nil {
		return err
	}
	var rnd [6]byte
	rand.Read(rnd[:])
	b := &Bridge{broker: u}
	opts := paho.NewClientOptions().
		AddBroker(u.String()).
		SetClientID("porchlight-doctor-" + hex.EncodeToString(rnd[:])).
		SetUsername(username).
		SetPassword(password).
		SetCleanSession(true).
		SetAutoReconnect(false).
		SetConnectTimeout(connectTimeout).
		SetCustomOpenConnectionFn(b.dial(ctx))
	c := paho.NewClient(opts)
	defer b.dropConn()
	if err := b.wait(ctx, c.Connect(), connectTimeout+time.Second); err != nil {
		c.Disconnect(0)
		return connectError(err)
	}
	c.Disconnect(100)
	return nil
}
