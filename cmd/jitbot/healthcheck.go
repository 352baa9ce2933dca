package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// defaultHealthURL is the liveness endpoint of a jitbot serving on the
// default listen address, seen from inside its own container.
const defaultHealthURL = "http://127.0.0.1:3978/healthz"

// maxHealthBody is how much of an unhealthy answer's body healthcheck
// reports.
const maxHealthBody = 2048

// healthcheck asks a running jitbot's health endpoint once and succeeds on
// a 2xx answer: the container image has no shell and no curl, so a Docker
// or Compose HEALTHCHECK runs the binary itself. Redirects are not
// followed (a redirect is not healthy).
func healthcheck(ctx context.Context, args []string, stdout io.Writer) error {
	fs := commandFlags("healthcheck", stdout)
	target := fs.String("url", defaultHealthURL, "health endpoint to ask (http or https)")
	timeout := fs.Duration("timeout", 5*time.Second, "how long to wait for the answer")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("healthcheck: unexpected argument %q (the endpoint is given with --url)", fs.Arg(0))
	}
	u, err := url.Parse(*target)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("healthcheck: --url %q: want an http or https URL, e.g. %s", *target, defaultHealthURL)
	}
	if *timeout <= 0 {
		return fmt.Errorf("healthcheck: --timeout must be positive, got %s", *timeout)
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("healthcheck: GET %s: no answer within %s", u.Redacted(), *timeout)
		}
		return fmt.Errorf("healthcheck: GET %s: %w", u.Redacted(), err)
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		// The body says why (/readyz names each check and the error of
		// each failing one), on one line for the container's health log.
		var lines []string
		sc := bufio.NewScanner(io.LimitReader(resp.Body, maxHealthBody))
		for sc.Scan() {
			if l := strings.TrimSpace(sc.Text()); l != "" {
				lines = append(lines, l)
			}
		}
		line := strings.Join(lines, "; ")
		if line != "" {
			return fmt.Errorf("healthcheck: GET %s: %s: %s", u.Redacted(), resp.Status, line)
		}
		return fmt.Errorf("healthcheck: GET %s: %s", u.Redacted(), resp.Status)
	}
	fmt.Fprintf(stdout, "healthy: GET %s: %s\n", u.Redacted(), resp.Status)
	return nil
}
