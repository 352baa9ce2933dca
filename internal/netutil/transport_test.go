package netutil

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
)

// newConnections sends rounds of concurrent requests through t to a TLS
// server and returns how many connections the server accepted.
func newConnections(tb testing.TB, t *http.Transport, concurrent, rounds int) int64 {
	tb.Helper()
	var accepted atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, `{"id":"1"}`)
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			accepted.Add(1)
		}
	}
	srv.StartTLS()
	defer srv.Close()
	t.TLSClientConfig = srv.Client().Transport.(*http.Transport).TLSClientConfig.Clone()
	client := &http.Client{Transport: t}
	defer t.CloseIdleConnections()
	for range rounds {
		var wg sync.WaitGroup
		for range concurrent {
			wg.Add(1)
			go func() {
				defer wg.Done()
				resp, err := client.Post(srv.URL+"/v3/conversations/c/activities", "application/json", nil)
				if err != nil {
					tb.Error(err)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				_ = resp.Body.Close()
			}()
		}
		wg.Wait()
	}
	return accepted.Load()
}

// 32 senders replying 20 times each reuse their connections: a few per
// sender at most (a request that waited for a dial may take a
// connection freed meanwhile, and the dialled one is kept too), where Go's
// default pool (2 idle per host) opens a new connection, with its TLS
// handshake, for most requests.
func TestTransportReusesConnectionsUnderLoad(t *testing.T) {
	const concurrent, rounds = 32, 20
	limit := int64(3 * concurrent)
	ours := newConnections(t, Transport(), concurrent, rounds)
	if ours > limit {
		t.Errorf("%d connections for %d requests from %d senders, want at most %d", ours, concurrent*rounds, concurrent, limit)
	}
	// The measure tells the pools apart: Go's default fails it.
	stock := newConnections(t, http.DefaultTransport.(*http.Transport).Clone(), concurrent, rounds)
	if stock <= limit {
		t.Errorf("Go's default pool opened only %d connections; the test no longer tells the pools apart", stock)
	}
	t.Logf("connections for %d requests: tuned %d, Go's default %d", concurrent*rounds, ours, stock)
}
