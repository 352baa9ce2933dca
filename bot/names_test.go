package bot_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/jitbot/jitbot/bot"
)

// fakeLookup answers display names from a map, counting calls; fail makes
// every call fail, block makes it wait for its context.
type fakeLookup struct {
	mu    sync.Mutex
	names map[string]string
	calls int
	fail  bool
	block bool
}

func (f *fakeLookup) get(ctx context.Context, id string) (string, error) {
	f.mu.Lock()
	f.calls++
	fail, block, name := f.fail, f.block, f.names[id]
	f.mu.Unlock()
	if block {
		<-ctx.Done()
		return "", ctx.Err()
	}
	if fail {
		return "", errors.New("graph: 503 Service Unavailable")
	}
	return name, nil
}

func (f *fakeLookup) GroupName(ctx context.Context, id string) (string, error) { return f.get(ctx, id) }
func (f *fakeLookup) UserName(ctx context.Context, id string) (string, error)  { return f.get(ctx, id) }

func (f *fakeLookup) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

type fakeNow struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeNow) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeNow) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// TestNamesCache: a name is looked up once per TTL; a failure shows the id,
// is remembered for the shorter failure TTL, and is never an error; the
// cache holds at most Size names; a lookup that hangs holds a card back
// no longer than the timeout.
func TestNamesCache(t *testing.T) {
	ctx := context.Background()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	look := &fakeLookup{names: map[string]string{"g1": "Prod DB readers", "u1": "Jane Doe"}}
	clock := &fakeNow{t: start}
	n := bot.NewNames(look, bot.NamesOptions{TTL: time.Hour, FailureTTL: time.Minute, Size: 3, Now: clock.Now, Logger: quiet})

	got := n.For(ctx, []string{"g1"}, []string{"u1"})
	if got.Name("G1") != "Prod DB readers" || got.Name("u1") != "Jane Doe" || look.count() != 2 {
		t.Fatalf("names %v after %d calls", got, look.count())
	}
	clock.add(59 * time.Minute)
	n.For(ctx, []string{"g1"}, []string{"u1"})
	if look.count() != 2 {
		t.Errorf("%d calls within the TTL, want 2", look.count())
	}
	clock.add(2 * time.Minute)
	n.For(ctx, []string{"g1"}, nil)
	if look.count() != 3 {
		t.Errorf("%d calls after the TTL, want 3", look.count())
	}

	// A failure: the id is shown (no name), remembered for a minute.
	look.fail = true
	if got := n.For(ctx, []string{"g2"}, nil); got.Name("g2") != "" {
		t.Errorf("failed lookup gave %q", got.Name("g2"))
	}
	n.For(ctx, []string{"g2"}, nil)
	if look.count() != 4 {
		t.Errorf("%d calls, want 4: a failure is remembered", look.count())
	}
	look.fail = false
	look.names["g2"] = "Payments admins"
	clock.add(time.Minute)
	if got := n.For(ctx, []string{"g2"}, nil); got.Name("g2") != "Payments admins" {
		t.Errorf("after the failure TTL: %q", got.Name("g2"))
	}

	// The bound: never more than Size names.
	for i := range 10 {
		n.For(ctx, []string{fmt.Sprintf("g-%d", i)}, nil)
	}
	if n.Len() > 3 {
		t.Errorf("%d names kept, want at most 3", n.Len())
	}

	// A hanging directory: the card waits the timeout once, for all ids.
	hang := &fakeLookup{block: true}
	slow := bot.NewNames(hang, bot.NamesOptions{Timeout: 50 * time.Millisecond, Logger: quiet})
	began := time.Now()
	got = slow.For(ctx, []string{"g1", "g2", "g3"}, []string{"u1"})
	if took := time.Since(began); took > time.Second || got.Name("g1") != "" {
		t.Errorf("hanging lookups took %v, names %v", took, got)
	}
	if hang.count() != 1 {
		t.Errorf("%d lookups after the time was up, want 1", hang.count())
	}

	// No cache at all: no names, no panic.
	var none *bot.Names
	if got := none.For(ctx, []string{"g1"}, nil); got.Name("g1") != "" {
		t.Errorf("nil cache gave %q", got.Name("g1"))
	}
}
