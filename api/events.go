package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// Event is one server-sent event: a type, one of package events' names,
// and its JSON data (docs/protocol.md, "Local API events").
type Event struct {
	Type string
	Data any
}

// Hub fans events out to the connected /api/v1/events streams. A slow
// client loses events rather than slowing the node (it can re-read the
// lists); the zero Hub is ready to use.
type Hub struct {
	mu   sync.Mutex
	subs map[chan Event]struct{}
}

const subscriberBuffer = 64

// Publish sends ev to every subscriber without blocking.
func (h *Hub) Publish(ev Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for ch := range h.subs {
		select {
		case ch <- ev:
		default:
		}
	}
}

// Subscribe returns a channel of the events published from now on and a
// function that ends the subscription. Like a stream's, the channel drops
// events when its reader falls behind.
func (h *Hub) Subscribe() (<-chan Event, func()) { return h.subscribe() }

func (h *Hub) subscribe() (chan Event, func()) {
	ch := make(chan Event, subscriberBuffer)
	h.mu.Lock()
	if h.subs == nil {
		h.subs = map[chan Event]struct{}{}
	}
	h.subs[ch] = struct{}{}
	h.mu.Unlock()
	return ch, func() {
		h.mu.Lock()
		delete(h.subs, ch)
		h.mu.Unlock()
	}
}

// heartbeat keeps idle event streams (and proxies) from timing out.
const heartbeat = 15 * time.Second

func (s *Server) getEvents(w http.ResponseWriter, r *http.Request) error {
	fl, ok := w.(http.Flusher)
	if !ok {
		return fmt.Errorf("event stream: response writer cannot flush")
	}
	if s.cfg.Events == nil {
		return &Error{Status: http.StatusNotImplemented, Code: "no_events", Msg: "this node publishes no events"}
	}
	ch, cancel := s.cfg.Events.subscribe()
	defer cancel()
	// Events are long-lived: no write deadline for this response.
	_ = http.NewResponseController(w).SetWriteDeadline(time.Time{})
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, ": porchlight events\n\n")
	fl.Flush()
	t := time.NewTicker(heartbeat)
	defer t.Stop()
	var revoked <-chan struct{} // nil (never ready) but for a paired device
	if d := requestDevice(r); d != nil {
		revoked = d.revoked
	}
	for {
		select {
		case <-r.Context().Done():
			return nil
		case <-revoked:
			return nil
		case <-s.closing:
			return nil
		case <-t.C:
			fmt.Fprint(w, ": keep-alive\n\n")
		case ev := <-ch:
			b, err := json.Marshal(ev.Data)
			if err != nil {
				continue
			}
			fmt.Fprintf(w, "event: %s\ndata: %s\n\n", ev.Type, b)
		}
		fl.Flush()
	}
}
