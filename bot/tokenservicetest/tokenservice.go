// Package tokenservicetest is a fake of the Bot Framework Token Service for
// tests, served over HTTPS: GET /api/botsignin/GetSignInResource and
// GET /api/usertoken/GetToken, as the real service answers them.
//
// Every call must carry a bot app token that an entratest.Authority issued
// to the configured bot for the Bot Framework scope; otherwise 401. The
// sign-in state must be the base64 token-exchange state naming that bot
// (msAppId) and a connection the fake knows; otherwise 400.
//
// A test plays the user in the browser with [TokenService.SignIn]: it takes
// the sign-in link the bot put on its card and the user token the identity
// provider would issue, and returns the magic code Teams would send back in
// value.state. A magic code works once, only for the user of the sign-in's
// state and its connection; GetToken with any other code answers 404.
package tokenservicetest

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jitbot/jitbot/bot/tokenservice"
	"github.com/jitbot/jitbot/internal/entratest"
)

// BotFrameworkScope is the scope of the bot app tokens the fake accepts.
const BotFrameworkScope = "https://api.botframework.com/.default"

// signInPath is the path of the fake's sign-in links.
const signInPath = "/api/oauth/signin"

// Request is one request the fake received.
type Request struct {
	Path  string
	Query url.Values
	// Status is the status the fake answered with.
	Status int
}

// signIn is a sign-in link handed out: the state it was asked with, and
// whether the user finished it.
type signIn struct {
	state tokenservice.TokenExchangeState
	done  bool
}

// pending is a magic code not used yet: the user and connection it is
// bound to, and the token it stands for.
type pending struct {
	user, connection, code, token string
}

// TokenService is the fake (see the package doc).
type TokenService struct {
	srv       *httptest.Server
	authority *entratest.Authority
	appID     string

	mu          sync.Mutex
	connections map[string]string // connection name -> token exchange URI
	signIns     map[string]*signIn
	codes       []pending
	cached      map[[2]string]string // (user, connection) -> token
	requests    []Request
	failNext    int
	failStatus  int
}

// New starts a fake Token Service that accepts app tokens authority issued
// to the bot appID; it is closed when the test ends.
func New(t testing.TB, authority *entratest.Authority, appID string) *TokenService {
	t.Helper()
	s := &TokenService{
		authority: authority, appID: appID,
		connections: map[string]string{}, signIns: map[string]*signIn{}, cached: map[[2]string]string{},
	}
	s.srv = httptest.NewTLSServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	return s
}

// URL is the base URL to configure the bot with.
func (s *TokenService) URL() string { return s.srv.URL }

// Client trusts the fake's certificate.
func (s *TokenService) Client() *http.Client { return s.srv.Client() }

// Close stops the server: every later call fails to connect.
func (s *TokenService) Close() { s.srv.Close() }

// AddConnection declares an OAuth connection setting of the bot, with the
// token exchange URL of its single sign-on.
func (s *TokenService) AddConnection(name, tokenExchangeURI string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.connections[strings.ToLower(name)] = tokenExchangeURI
}

// FailNext makes the next n calls answer status (e.g. 503).
func (s *TokenService) FailNext(n, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failNext, s.failStatus = n, status
}

// Requests returns the requests received so far.
func (s *TokenService) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// Count is how many requests went to path.
func (s *TokenService) Count(path string) int {
	n := 0
	for _, r := range s.Requests() {
		if r.Path == path {
			n++
		}
	}
	return n
}

// SignIn plays the user finishing the sign-in behind link (a link the fake
// handed out) with the identity provider's user token: the token is kept
// for the user and connection of the sign-in's state, and the magic code
// returned is what Teams sends back to the bot. A link works once.
func (s *TokenService) SignIn(t testing.TB, link, token string) string {
	t.Helper()
	u, err := url.Parse(link)
	if err != nil || !strings.HasPrefix(link, s.srv.URL+signInPath) {
		t.Fatalf("tokenservicetest: %q is not a sign-in link of this token service", link)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	si, ok := s.signIns[u.Query().Get("signin")]
	if !ok || si.done {
		t.Fatalf("tokenservicetest: sign-in link %q unknown or used", link)
	}
	si.done = true
	n, err := rand.Int(rand.Reader, big.NewInt(1_000_000))
	if err != nil {
		t.Fatal(err)
	}
	code := fmt.Sprintf("%06d", n.Int64())
	s.codes = append(s.codes, pending{user: si.state.Conversation.User.ID, connection: strings.ToLower(si.state.ConnectionName), code: code, token: token})
	return code
}

func (s *TokenService) serve(w http.ResponseWriter, r *http.Request) {
	status, body := s.handle(r)
	s.mu.Lock()
	s.requests = append(s.requests, Request{Path: r.URL.Path, Query: r.URL.Query(), Status: status})
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func errorBody(code, msg string) []byte {
	b, _ := json.Marshal(map[string]any{"error": map[string]string{"code": code, "message": msg}})
	return b
}

func (s *TokenService) handle(r *http.Request) (int, []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failNext > 0 {
		s.failNext--
		return s.failStatus, errorBody("ServiceError", "the token service failed")
	}
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	tr, known := s.authority.Lookup(tok)
	if !ok || !known || tr.ClientID != s.appID || len(tr.Scopes) != 1 || tr.Scopes[0] != BotFrameworkScope {
		return http.StatusUnauthorized, []byte(`{"message":"Authorization has been denied for this request."}`)
	}
	if r.Method != http.MethodGet {
		return http.StatusMethodNotAllowed, errorBody("BadArgument", "method not allowed")
	}
	q := r.URL.Query()
	switch r.URL.Path {
	case "/api/botsignin/GetSignInResource":
		st, err := tokenservice.DecodeState(q.Get("state"))
		switch {
		case err != nil:
			return http.StatusBadRequest, errorBody("BadArgument", "invalid state")
		case st.MsAppID != s.appID:
			return http.StatusBadRequest, errorBody("BadArgument", "state names another bot")
		case st.Conversation.User.ID == "" || st.Conversation.ChannelID == "":
			return http.StatusBadRequest, errorBody("BadArgument", "state names no user or channel")
		}
		uri, ok := s.connections[strings.ToLower(st.ConnectionName)]
		if !ok {
			return http.StatusBadRequest, errorBody("BadArgument", "unknown connection "+st.ConnectionName)
		}
		id := randomID()
		s.signIns[id] = &signIn{state: st}
		b, _ := json.Marshal(tokenservice.SignInResource{
			SignInLink:            s.srv.URL + signInPath + "?signin=" + id,
			TokenExchangeResource: &tokenservice.TokenExchangeResource{ID: randomID(), URI: uri},
		})
		return http.StatusOK, b
	case "/api/usertoken/GetToken":
		user, conn, channel, code := q.Get("userId"), strings.ToLower(q.Get("connectionName")), q.Get("channelId"), q.Get("code")
		if user == "" || conn == "" || channel == "" {
			return http.StatusBadRequest, errorBody("BadArgument", "userId, connectionName and channelId are required")
		}
		if _, ok := s.connections[conn]; !ok {
			return http.StatusBadRequest, errorBody("BadArgument", "unknown connection")
		}
		token := ""
		if code != "" {
			for i, p := range s.codes {
				if p.code == code && p.user == user && p.connection == conn {
					token = p.token
					s.codes = append(s.codes[:i], s.codes[i+1:]...)
					s.cached[[2]string{user, conn}] = token
					break
				}
			}
		} else {
			token = s.cached[[2]string{user, conn}]
		}
		if token == "" {
			return http.StatusNotFound, errorBody("TokenNotFound", "no token")
		}
		b, _ := json.Marshal(tokenservice.TokenResponse{
			ChannelID: channel, ConnectionName: q.Get("connectionName"), Token: token,
			Expiration: time.Now().Add(time.Hour).UTC().Format(time.RFC3339),
		})
		return http.StatusOK, b
	}
	return http.StatusNotFound, errorBody("NotFound", "no such route")
}

func randomID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%x", b)
}
