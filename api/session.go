package api

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"html"
	"io"
	"mime"
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

// pending reports whether the code whose linkID is id is still unused and
// unexpired.
func (s *sessions) pending(id string, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for code, exp := range s.links {
		if subtle.ConstantTimeCompare([]byte(linkID(code)), []byte(id)) == 1 {
			return now.Before(exp)
		}
	}
	return false
}

// linkID names a one-time code without revealing it: the CLI asks by it
// whether its code was used.
func linkID(code string) string {
	h := sha256.Sum256([]byte(code))
	return hex.EncodeToString(h[:])
}

// createLoginLink makes a one-time code. `porchlight ui` hands the code to
// the browser in a private file that POSTs it to "login" (so it never
// appears on a command line other local users can read); "url" carries it
// in the query, for printing on request only.
func (s *Server) createLoginLink(w http.ResponseWriter, r *http.Request) error {
	if onLAN(r) {
		return errHubOnly
	}
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
		"login":   base + "/login",
		"code":    code,
		"id":      linkID(code),
		"expires": time.Now().Add(linkTTL).UTC(),
	})
	return nil
}

// getLoginLink answers 200 while the code named by id is unused and
// unexpired, else 404: `porchlight ui` deletes its login file then.
func (s *Server) getLoginLink(w http.ResponseWriter, r *http.Request) error {
	if !s.sessions.pending(r.PathValue("id"), time.Now()) {
		return &Error{Status: http.StatusNotFound, Code: "not_found", Msg: "no unused login link with this ID: it was used or has expired"}
	}
	writeJSON(w, http.StatusOK, map[string]any{"pending": true})
	return nil
}

// login redeems a one-time link. It needs no token (that is its point) but
// passes the Host check like every route.
func (s *Server) login(w http.ResponseWriter, r *http.Request) error {
	if onLAN(r) {
		return errLoginNotLAN
	}
	id := s.sessions.redeem(r.URL.Query().Get("code"), time.Now())
	if id == "" {
		return errLinkUsed
	}
	s.setSession(w, id)
	http.Redirect(w, r, "/", http.StatusSeeOther)
	return nil
}

var errLoginNotLAN = &Error{Status: http.StatusNotFound, Code: "not_found", Msg: "login links work on the hub's own API only; a device on the LAN is paired instead (porchlight pair)"}

var errLinkUsed = &Error{Status: http.StatusForbidden, Code: "link_used", Msg: "this login link was already used or has expired; run `porchlight ui` for a new one"}

// loginForm redeems a one-time code POSTed as a form (code=...) by the page
// `porchlight ui` writes. The page is a local file, so the request comes
// from another site: the answer is a page of this origin that moves on to
// /, so the SameSite=Strict cookie goes with that request.
func (s *Server) loginForm(w http.ResponseWriter, r *http.Request) error {
	if onLAN(r) {
		return errLoginNotLAN
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/x-www-form-urlencoded" {
		return &Error{Status: http.StatusUnsupportedMediaType, Code: "unsupported_media_type", Msg: "send the code as a form (application/x-www-form-urlencoded)"}
	}
	r.Body = http.MaxBytesReader(w, r.Body, 1<<10)
	if err := r.ParseForm(); err != nil {
		return badRequest("read the login form: %v", err)
	}
	id := s.sessions.redeem(r.PostForm.Get("code"), time.Now())
	if id == "" {
		return errLinkUsed
	}
	s.setSession(w, id)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Security-Policy", "default-src 'none'")
	w.Header().Set("Referrer-Policy", "no-referrer")
	w.WriteHeader(http.StatusOK)
	_, err := io.WriteString(w, loggedInPage)
	return err
}

const loggedInPage = `<!doctype html><meta charset="utf-8"><meta http-equiv="refresh" content="0;url=/">` +
	`<title>Porchlight</title><p>Logged in. <a href="/">Open Porchlight</a></p>
`

// LoginPage is the page `porchlight ui` hands the browser in a private
// file: it POSTs the one-time code to login as soon as it opens (without
// script, a button does), so the code is never on a command line or in a
// URL.
func LoginPage(login, code string) string {
	return fmt.Sprintf(`<!doctype html>
<html><head><meta charset="utf-8"><meta name="referrer" content="no-referrer"><title>Porchlight: logging in</title></head>
<body><form method="post" action="%s"><input type="hidden" name="code" value="%s">
<p>Logging in to Porchlight... <button type="submit">Log in</button></p></form>
<script>document.forms[0].submit()</script></body></html>
`, html.EscapeString(login), html.EscapeString(code))
}

func (s *Server) setSession(w http.ResponseWriter, id string) {
	http.SetCookie(w, &http.Cookie{
		Name: s.cookieName(), Value: id, Path: "/", MaxAge: int(sessionTTL / time.Second),
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: s.tls,
	})
}

// cookieName is the session cookie's name for this API's port.
func (s *Server) cookieName() string {
	_, port, _ := net.SplitHostPort(s.Addr().String())
	return sessionCookie + port
}
