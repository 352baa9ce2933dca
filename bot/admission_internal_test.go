package bot

import (
	"context"
	"testing"
)

// When every slot is taken, an activity with an unchecked token waits
// only while fewer than maxUnknownWaiting wait and its request lasts;
// otherwise it gets no slot (and is answered 503).
func TestAdmissionIsBounded(t *testing.T) {
	a := newAdmission()
	var releases []func()
	for range cap(a.slots) {
		release, ok := a.acquire(context.Background())
		if !ok {
			t.Fatal("a free slot was refused")
		}
		releases = append(releases, release)
	}

	a.waiting.Store(maxUnknownWaiting)
	if _, ok := a.acquire(context.Background()); ok {
		t.Fatal("a slot was given with the queue full and every slot taken")
	}
	if n := a.waiting.Load(); n != maxUnknownWaiting {
		t.Fatalf("waiting = %d after a refusal, want %d", n, maxUnknownWaiting)
	}
	a.waiting.Store(0)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, ok := a.acquire(ctx); ok {
		t.Fatal("a slot was given to an ended request with every slot taken")
	}

	releases[0]()
	release, ok := a.acquire(context.Background())
	if !ok {
		t.Fatal("a released slot was not given")
	}
	release()
	if n := a.waiting.Load(); n != 0 {
		t.Fatalf("waiting = %d at rest, want 0", n)
	}
}
