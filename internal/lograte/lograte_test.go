package lograte

import (
	"testing"
	"time"
)

func TestOneMessageASecondWithTheCountHeldBack(t *testing.T) {
	var l Limiter
	t0 := time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)
	if ok, n := l.Allow(t0); !ok || n != 0 {
		t.Fatalf("first: %v %d", ok, n)
	}
	for i := 1; i <= 5; i++ {
		if ok, _ := l.Allow(t0.Add(time.Duration(i) * 100 * time.Millisecond)); ok {
			t.Fatalf("message %d within the second was let through", i)
		}
	}
	if ok, n := l.Allow(t0.Add(time.Second)); !ok || n != 5 {
		t.Fatalf("after a second: %v, held back %d, want 5", ok, n)
	}
}
