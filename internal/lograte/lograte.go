// Package lograte bounds how often a kind of message is logged, so that a
// flood of forged or malformed requests cannot flood the log.
package lograte

import (
	"sync"
	"time"
)

// Limiter lets one message a second through and counts the ones it holds
// back. Its zero value is ready to use; it is safe for concurrent use.
type Limiter struct {
	mu         sync.Mutex
	last       time.Time
	suppressed int
}

// Allow reports whether a message may be logged at now and, when it may,
// how many were held back since the last one.
func (l *Limiter) Allow(now time.Time) (ok bool, suppressed int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.last) < time.Second {
		l.suppressed++
		return false, 0
	}
	suppressed = l.suppressed
	l.last, l.suppressed = now, 0
	return true, suppressed
}
