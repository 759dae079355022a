// Package mosquittotest runs Debian's mosquitto broker for tests: on a
// free loopback port, with its own configuration (and password file) in
// a temporary directory, stopped when the test ends. Without mosquitto a
// test skips, unless PORCHLIGHT_REQUIRE_MQTT=1 (set by .ci/run) makes
// that a failure.
package mosquittotest

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// RequireEnv makes a missing mosquitto a failure rather than a skip.
const RequireEnv = "PORCHLIGHT_REQUIRE_MQTT"

// Options configure Start.
type Options struct {
	// Users are user names and passwords; with any, anonymous clients
	// are refused.
	Users map[string]string
	// CertFile and KeyFile (PEM) make the listener TLS: URL is then
	// mqtts://127.0.0.1:PORT.
	CertFile, KeyFile string
}

// Broker is a running mosquitto.
type Broker struct {
	URL  string // mqtt://127.0.0.1:PORT
	Port int

	t      testing.TB
	bin    string
	conf   string
	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{} // closed when cmd has exited
	out    *bytes.Buffer
}

// binary finds mosquitto, or skips (fails under RequireEnv).
func binary(t testing.TB) string {
	t.Helper()
	for _, p := range []string{"mosquitto", "/usr/sbin/mosquitto"} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	const why = "no mosquitto found (install Debian's mosquitto: apt-get install -y mosquitto)"
	if os.Getenv(RequireEnv) == "1" {
		t.Fatal(why + "; " + RequireEnv + "=1 makes this a failure")
	}
	t.Skip(why)
	return ""
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Start starts a broker; it stops when the test ends.
func Start(t testing.TB, opts Options) *Broker {
	t.Helper()
	bin := binary(t)
	dir := t.TempDir()
	b := &Broker{t: t, bin: bin, Port: FreePort(t)}
	b.URL = fmt.Sprintf("mqtt://127.0.0.1:%d", b.Port)
	conf := fmt.Sprintf("listener %d 127.0.0.1\npersistence false\nlog_dest stderr\nlog_type error\nlog_type warning\n", b.Port)
	if opts.CertFile != "" {
		b.URL = fmt.Sprintf("mqtts://127.0.0.1:%d", b.Port)
		conf += "certfile " + opts.CertFile + "\nkeyfile " + opts.KeyFile + "\n"
	}
	if os.Getuid() == 0 {
		// Or it drops to the mosquitto user, who cannot read the test's
		// password file.
		conf += "user root\n"
	}
	if len(opts.Users) > 0 {
		pw := filepath.Join(dir, "passwd")
		first := true
		for u, p := range opts.Users {
			args := []string{"-b", pw, u, p}
			if first {
				args = []string{"-c", "-b", pw, u, p}
				first = false
			}
			if out, err := exec.Command("mosquitto_passwd", args...).CombinedOutput(); err != nil {
				t.Fatalf("mosquitto_passwd: %v %s", err, out)
			}
		}
		if err := os.Chmod(pw, 0o600); err != nil {
			t.Fatal(err)
		}
		conf += "allow_anonymous false\npassword_file " + pw + "\n"
	} else {
		conf += "allow_anonymous true\n"
	}
	b.conf = filepath.Join(dir, "mosquitto.conf")
	if err := os.WriteFile(b.conf, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	b.Restart()
	t.Cleanup(b.Stop)
	return b
}

// Restart starts the broker again after Stop (or for the first time),
// on the same port, and waits until it accepts connections. Retained
// messages are gone: it keeps nothing on disk.
func (b *Broker) Restart() {
	b.t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	deadline := time.Now().Add(15 * time.Second)
	for {
		b.out = &bytes.Buffer{}
		cmd := exec.Command(b.bin, "-c", b.conf)
		cmd.Stdout, cmd.Stderr = b.out, b.out
		if err := cmd.Start(); err != nil {
			b.t.Fatal(err)
		}
		exited := make(chan struct{})
		go func() { cmd.Wait(); close(exited) }()
		for {
			c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", b.Port), time.Second)
			if err == nil {
				c.Close()
				b.cmd, b.exited = cmd, exited
				return
			}
			select {
			case <-exited:
				// The port may still be held by the previous broker's
				// socket for a moment: try again.
				if time.Now().After(deadline) {
					b.t.Fatalf("mosquitto exited: %s", b.out)
				}
				time.Sleep(100 * time.Millisecond)
			case <-time.After(50 * time.Millisecond):
				if time.Now().After(deadline) {
					cmd.Process.Kill()
					b.t.Fatalf("mosquitto does not accept connections: %s", b.out)
				}
				continue
			}
			break
		}
	}
}

// Stop stops the broker (safe when stopped).
func (b *Broker) Stop() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cmd == nil {
		return
	}
	b.cmd.Process.Kill()
	<-b.exited
	b.cmd = nil
}

// Message is one message a Watcher received.
type Message struct {
	Topic    string
	Payload  []byte
	Retained bool
}

// Watcher is a client subscribed to every topic ('#'), as Home Assistant
// and anyone else on the broker would see the node's messages.
type Watcher struct {
	Client paho.Client
	mu     sync.Mutex
	all    []Message
}

// Watch connects a watcher (user and password may be empty); it
// disconnects when the test ends.
func (b *Broker) Watch(t testing.TB, user, password string) *Watcher {
	t.Helper()
	w := &Watcher{}
	opts := paho.NewClientOptions().AddBroker(strings.Replace(b.URL, "mqtt://", "tcp://", 1)).
		SetClientID(fmt.Sprintf("watcher-%d", time.Now().UnixNano())).SetUsername(user).SetPassword(password).
		SetTLSConfig(&tls.Config{InsecureSkipVerify: true}). // a watcher checks what the node sends, not who the broker is
		SetAutoReconnect(true).SetMaxReconnectInterval(200 * time.Millisecond).SetConnectRetry(true).SetConnectRetryInterval(100 * time.Millisecond).
		SetOnConnectHandler(func(c paho.Client) {
			c.Subscribe("#", 1, func(_ paho.Client, m paho.Message) {
				w.mu.Lock()
				w.all = append(w.all, Message{Topic: m.Topic(), Payload: append([]byte(nil), m.Payload()...), Retained: m.Retained()})
				w.mu.Unlock()
			})
		})
	w.Client = paho.NewClient(opts)
	tok := w.Client.Connect()
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("watcher connect: %v", tok.Error())
	}
	t.Cleanup(func() { w.Client.Disconnect(100) })
	return w
}

// All returns every message received so far.
func (w *Watcher) All() []Message {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]Message(nil), w.all...)
}

// Last returns the last message on topic, if any.
func (w *Watcher) Last(topic string) (Message, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for i := len(w.all) - 1; i >= 0; i-- {
		if w.all[i].Topic == topic {
			return w.all[i], true
		}
	}
	return Message{}, false
}

// Reset forgets the messages received so far.
func (w *Watcher) Reset() {
	w.mu.Lock()
	w.all = nil
	w.mu.Unlock()
}

// Publish publishes from the watcher and waits for the broker.
func (w *Watcher) Publish(t testing.TB, topic string, retained bool, payload []byte) {
	t.Helper()
	tok := w.Client.Publish(topic, 1, retained, payload)
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("publish %s: %v", topic, tok.Error())
	}
}

// Eventually polls cond until it holds, failing the test after d.
func Eventually(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
