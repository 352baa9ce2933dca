package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jitbot/jitbot/metrics"
)

// Paths of the health and metrics endpoints (on metrics_listen).
const (
	healthzPath = "/healthz"
	readyzPath  = "/readyz"
	metricsPath = "/metrics"
)

// readyTimeout bounds each readiness check.
const readyTimeout = 3 * time.Second

// readyCheck is one condition of /readyz.
type readyCheck struct {
	name  string
	check func(ctx context.Context) error
}

// schedulerCheck is ready while the expiry scheduler runs.
func schedulerCheck(running *atomic.Bool) readyCheck {
	return readyCheck{name: "scheduler", check: func(context.Context) error {
		if !running.Load() {
			return fmt.Errorf("the expiry scheduler is not running")
		}
		return nil
	}}
}

// healthHandler serves /healthz (the process is up), /readyz (every check
// passes; 503 naming the failing ones otherwise) and, with m, /metrics.
func healthHandler(m *metrics.Metrics, checks []readyCheck) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+healthzPath, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET "+readyzPath, func(w http.ResponseWriter, r *http.Request) {
		var b strings.Builder
		ready := true
		for _, c := range checks {
			ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
			err := c.check(ctx)
			cancel()
			if err != nil {
				ready = false
				fmt.Fprintf(&b, "%s: not ready: %v\n", c.name, err)
			} else {
				fmt.Fprintf(&b, "%s: ok\n", c.name)
			}
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		if !ready {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = io.WriteString(w, "not ready\n"+b.String())
			return
		}
		_, _ = io.WriteString(w, "ready\n"+b.String())
	})
	if m != nil {
		mux.Handle("GET "+metricsPath, m.Handler())
	}
	return mux
}

// serveHealth listens on addr and serves h until ctx ends; it returns once
// it listens (the error of the listen, if any).
func serveHealth(ctx context.Context, addr string, h http.Handler, logger *slog.Logger) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics_listen %s: %w", addr, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, WriteTimeout: 30 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && err != http.ErrServerClosed {
			logger.Error("health and metrics endpoints", "err", err)
		}
	}()
	logger.Info("health and metrics listening", "addr", ln.Addr().String(), "paths", []string{healthzPath, readyzPath, metricsPath})
	return func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
		<-done
	}, nil
}
