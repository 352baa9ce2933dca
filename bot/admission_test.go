package bot_test

import (
	"context"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/infracloudio/msbotbuilder-go/schema"

	"github.com/jitbot/jitbot/bot/auth"
	"github.com/jitbot/jitbot/bot/connectortest"
)

// holdingValidator is the real validator, except that the check of a token
// it was told to hold waits until it is let go.
type holdingValidator struct {
	*auth.Validator
	hold    string
	entered chan string
	letGo   chan struct{}

	mu   sync.Mutex
	seen []string // every token Authenticate was asked to check
}

func (h *holdingValidator) Authenticate(ctx context.Context, header string, act *schema.Activity) (auth.Claims, error) {
	h.mu.Lock()
	h.seen = append(h.seen, header)
	h.mu.Unlock()
	if strings.Contains(header, h.hold) {
		h.entered <- header
		<-h.letGo
	}
	return h.Validator.Authenticate(ctx, header, act)
}

func (h *holdingValidator) asked(header string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, s := range h.seen {
		if s == header {
			return true
		}
	}
	return false
}

// A flood of activities whose tokens were never checked (forged ones, say)
// takes at most one check per CPU at a time: an activity whose token was
// checked before passes while every slot is taken, and one with a new token
// waits for a slot instead of being checked beside them.
func TestCheckedTokensPassWhileNewOnesWait(t *testing.T) {
	w := newWorld(t)
	v, err := auth.NewValidator(auth.Config{AppID: appID, OpenIDMetadataURL: w.issuer.MetadataURL()}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	holdTok := w.issuer.Token(appID, w.conn.ServiceURL(), connectortest.WithClaim("jti", "hold"))
	h := &holdingValidator{Validator: v, hold: holdTok, entered: make(chan string), letGo: make(chan struct{})}
	e := w.newEdge(h)
	var held sync.WaitGroup
	letGo := sync.OnceFunc(func() { close(h.letGo) })
	// Should the test fail while checks are held: let them go and wait for
	// them before the server closes.
	t.Cleanup(held.Wait)
	t.Cleanup(letGo)

	known := e.message(riley, "help")
	knownHeaders := e.signed(known)
	e.accepted(t, known, knownHeaders)

	// Every slot taken by a check that does not finish.
	slots := runtime.GOMAXPROCS(0)
	for range slots {
		held.Add(1)
		go func() {
			defer held.Done()
			if code := e.send(e.message(riley, "help"), map[string]string{"Content-Type": "application/json", "Authorization": "Bearer " + holdTok}); code != http.StatusOK {
				t.Errorf("held activity: HTTP %d, want 200", code)
			}
		}()
	}
	for range slots {
		<-h.entered
	}

	// The token checked before still passes.
	e.accepted(t, known, knownHeaders)

	// A new token waits for a slot.
	fresh := e.message(sam, "help")
	freshHeaders := e.signed(fresh, connectortest.WithClaim("jti", "fresh"))
	done := make(chan int, 1)
	go func() { done <- e.send(fresh, freshHeaders) }()
	time.Sleep(200 * time.Millisecond)
	if h.asked(freshHeaders["Authorization"]) {
		t.Fatal("a new token was checked while every slot was taken")
	}
	select {
	case code := <-done:
		t.Fatalf("a new token was answered (HTTP %d) while every slot was taken", code)
	default:
	}

	letGo()
	held.Wait()
	if code := <-done; code != http.StatusOK {
		t.Fatalf("the waiting activity: HTTP %d, want 200\n%s", code, e.logs.String())
	}
}

// A token whose claims are wrong is refused before its body is read, so a
// forged token costs no decoding of the activity: its activity here is not
// even JSON, and the answer is still 401.
func TestWrongClaimsRefusedBeforeTheBody(t *testing.T) {
	w := newWorld(t)
	e := w.newEdge(nil)
	act := e.message(riley, "help")
	for name, opt := range map[string]connectortest.TokenOption{
		"expired":        connectortest.WithExpiresAt(time.Now().Add(-time.Hour)),
		"other audience": connectortest.WithAudience("00000000-0000-4000-8000-000000000bad"),
		"other issuer":   connectortest.WithIssuer("https://forged.example.com"),
		"alg none":       connectortest.WithAlgNone(),
	} {
		t.Run(name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, e.url, strings.NewReader("{not json"))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", e.signed(act, opt)["Authorization"])
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("HTTP %d, want 401", resp.StatusCode)
			}
		})
	}
	if n := len(e.conn.Requests()); n != 0 {
		t.Fatalf("the bot sent %d replies", n)
	}
}
