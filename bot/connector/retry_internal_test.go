package connector

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/infracloudio/msbotbuilder-go/schema"

	"github.com/jitbot/jitbot/bot/connectortest"
)

// retryClient returns a local-mode client whose sleeps are recorded, not
// waited.
func retryClient(t *testing.T, maxRetries int, maxWait time.Duration) (*Client, *[]time.Duration) {
	t.Helper()
	c, err := New(nil, Options{LocalMode: true, MaxRetries: maxRetries, MaxRetryWait: maxWait})
	if err != nil {
		t.Fatal(err)
	}
	var slept []time.Duration
	c.sleep = func(ctx context.Context, d time.Duration) error {
		slept = append(slept, d)
		return ctx.Err()
	}
	return c, &slept
}

func TestRetryHonoursRetryAfter(t *testing.T) {
	fake := connectortest.NewConnector(t)
	c, slept := retryClient(t, 3, 0)
	fake.FailNext(2, connectortest.TooManyRequests(2*time.Second))
	id, err := c.SendActivity(context.Background(), fake.ServiceURL(), "a:1", &schema.Activity{Text: "x"})
	if err != nil || id == "" {
		t.Fatalf("send after two 429s: %q %v", id, err)
	}
	if len(fake.Requests()) != 3 || len(*slept) != 2 || (*slept)[0] != 2*time.Second {
		t.Errorf("requests %d, sleeps %v", len(fake.Requests()), *slept)
	}
	if n := len(fake.Activities("a:1")); n != 1 {
		t.Errorf("%d activities stored, want 1", n)
	}
}

func TestRetryGivesUpAfterMaxRetries(t *testing.T) {
	fake := connectortest.NewConnector(t)
	c, slept := retryClient(t, 2, 0)
	fake.FailNext(5, connectortest.Failure{Status: http.StatusTooManyRequests})
	_, err := c.SendActivity(context.Background(), fake.ServiceURL(), "a:1", &schema.Activity{Text: "x"})
	if StatusCode(err) != http.StatusTooManyRequests {
		t.Fatalf("want 429, got %v", err)
	}
	// Without Retry-After: exponential 1s, 2s.
	if len(fake.Requests()) != 3 || len(*slept) != 2 || (*slept)[0] != time.Second || (*slept)[1] != 2*time.Second {
		t.Errorf("requests %d, sleeps %v", len(fake.Requests()), *slept)
	}
}

func TestRetryOnlyIdempotentFor5xx(t *testing.T) {
	fake := connectortest.NewConnector(t)
	c, _ := retryClient(t, 3, 0)
	ctx := context.Background()
	id, err := c.SendActivity(ctx, fake.ServiceURL(), "a:1", &schema.Activity{Text: "x"})
	if err != nil {
		t.Fatal(err)
	}
	fake.FailNext(1, connectortest.Unavailable(time.Second))
	if _, err := c.SendActivity(ctx, fake.ServiceURL(), "a:1", &schema.Activity{Text: "y"}); StatusCode(err) != http.StatusServiceUnavailable {
		t.Fatalf("POST 503 must not be retried: %v", err)
	}
	fake.FailNext(1, connectortest.Unavailable(time.Second))
	if err := c.UpdateActivity(ctx, fake.ServiceURL(), "a:1", id, &schema.Activity{Text: "z"}); err != nil {
		t.Fatalf("PUT 503 should be retried: %v", err)
	}
	fake.FailNext(1, connectortest.ServerError())
	if err := c.UpdateActivity(ctx, fake.ServiceURL(), "a:1", id, &schema.Activity{Text: "z"}); StatusCode(err) != 500 {
		t.Fatalf("500 must not be retried: %v", err)
	}
	if got := len(fake.Requests()); got != 5 {
		t.Errorf("%d requests, want 5", got)
	}
}

func TestRetryAfterBeyondCapIsReturned(t *testing.T) {
	fake := connectortest.NewConnector(t)
	c, slept := retryClient(t, 3, 5*time.Second)
	fake.FailNext(1, connectortest.TooManyRequests(time.Minute))
	_, err := c.SendActivity(context.Background(), fake.ServiceURL(), "a:1", &schema.Activity{Text: "x"})
	if d, ok := RetryAfter(err); !ok || d != time.Minute {
		t.Fatalf("want 429 with Retry-After 1m, got %v", err)
	}
	if len(*slept) != 0 || len(fake.Requests()) != 1 {
		t.Errorf("slept %v, requests %d", *slept, len(fake.Requests()))
	}
}

func TestRetryStopsWhenContextEnds(t *testing.T) {
	fake := connectortest.NewConnector(t)
	c, _ := retryClient(t, 3, 0)
	ctx, cancel := context.WithCancel(context.Background())
	c.sleep = func(context.Context, time.Duration) error { cancel(); return context.Canceled }
	fake.FailNext(3, connectortest.TooManyRequests(time.Second))
	_, err := c.SendActivity(ctx, fake.ServiceURL(), "a:1", &schema.Activity{Text: "x"})
	if !errors.Is(err, context.Canceled) || StatusCode(err) != http.StatusTooManyRequests {
		t.Fatalf("want 429 wrapped with context.Canceled, got %v", err)
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC)
	cases := map[string]time.Duration{
		"":                              0,
		"5":                             5 * time.Second,
		" 12 ":                          12 * time.Second,
		"0":                             0,
		"-3":                            0,
		"abc":                           0,
		"1.5":                           0,
		"99999999999999999999":          0,
		"9999999999":                    maxRetryAfter,
		"Tue, 03 Nov 2026 10:00:30 GMT": 30 * time.Second,
		"Tue, 03 Nov 2026 09:00:00 GMT": 0,
	}
	for in, want := range cases {
		if got := parseRetryAfter(in, now); got != want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestSleepCtx(t *testing.T) {
	if err := sleepCtx(context.Background(), time.Millisecond); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := sleepCtx(ctx, time.Hour); !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
}
