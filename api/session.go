package api

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"net"
	"net/http"
	"sync"
	"time"
)

// Login links and sessions: `porchlight ui` asks for a one-time link; the
// browser opening it gets an HttpOnly, SameSite=Strict session cookie, and
// the link stops working.
const (
	// sessionCookie is the cookie name's prefix; the API's port follows,
	// because browsers share cookies across the ports of a host: two nodes
	// on one computer would otherwise sign each other's browser out.
	sessionCookie = "porchlight_session_"
	linkTTL       = 2 * time.Minute
	sessionTTL    = 12 * time.Hour
)

type sessions struct {
	mu       sync.Mutex
	links    map[string]time.Time // one-time codes -> expiry
	sessions map[string]time.Time // session IDs -> expiry
}

func randomHex() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return hex.EncodeToString(b)
}

func (s *sessions) newLink(now time.Time) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.links == nil {
		s.links = map[string]time.Time{}
	}
	for c, exp := range s.links {
		if now.After(exp) {
			delete(s.links, c)
		}
	}
	code := randomHex()
	s.links[code] = now.Add(linkTTL)
	return code
}

// redeem uses up a code and returns a new session ID, or "" if the code is
// unknown, used or expired.
func (s *sessions) redeem(code string, now time.Time) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	exp, ok := s.links[code]
	delete(s.links, code)
	if !ok || now.After(exp) {
		return ""
	}
	if s.sessions == nil {
		s.sessions = map[string]time.Time{}
	}
	id := randomHex()
	s.sessions[id] = now.Add(sessionTTL)
	return id
}

func (s *sessions) valid(id string, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for sid, exp := range s.sessions {
		if subtle.ConstantTimeCompare([]byte(sid), []byte(id)) == 1 {
			return now.Before(exp)
		}
	}
	return false
}

func (s *Server) createLoginLink(w http.ResponseWriter, r *http.Request) error {
	code := s.sessions.newLink(time.Now())
	_, port, _ := net.SplitHostPort(s.Addr().String())
	base := "http://127.0.0.1:" + port
	if s.tls {
		// The name the caller used (the guard checked it): it is one the
		// certificate covers, or loopback.
		base = "https://" + r.Host
	}
	writeJSON(w, http.StatusCreated, map[string]any{
		"url":     base + "/login?code=" + code,
		"expires": time.Now().Add(linkTTL).UTC(),
	})
	return nil
}

// login redeems a one-time link. It needs no token (that is its point) but
// passes the Host check like every route.
func (s *Server) login(w http.ResponseWriter, r *http.Request) error {
	id := s.sessions.redeem(r.URL.Query().Get("code"), time.Now())
	if id == "" {
		return &Error{Status: http.StatusForbidden, Code: "link_used", Msg: "this login link was already used or has expired; run `porchlight ui` for a new one"}
	}
	http.SetCookie(w, &http.Cookie{
		Name: s.cookieName(), Value: id, Path: "/", MaxAge: int(sessionTTL / time.Second),
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: s.tls,
	})
	http.Redirect(w, r, "/", http.StatusSeeOther)
	return nil
}

// cookieName is the session cookie's name for this API's port.
func (s *Server) cookieName() string {
	_, port, _ := net.SplitHostPort(s.Addr().String())
	return sessionCookie + port
}
