package main

import (
	"context"
	"fmt"
	"sync"
)

// mixedSeqOffset keeps the flood's users apart from the legitimate
// stream's, so that no reply to one is counted for the other.
const mixedSeqOffset = 1 << 12

// runMixed is the mixed scenario: a flood of forged tokens from
// -concurrency senders as fast as they can, and at the same time help
// from -mixed-senders legitimate senders at -mixed-rate activities a second,
// whose latency is measured from each one's scheduled time. It returns the
// two lines, "mixed-help" (with the bot's CPU and RSS) and "mixed-forged".
func (l *load) runMixed(ctx context.Context, pid int) ([]result, error) {
	flood, legit := *l, *l
	flood.o.rate = 0
	flood.seq = l.seq + mixedSeqOffset
	legit.o.rate, legit.o.concurrency = l.o.mixedRate, l.o.mixedSenders
	var (
		wg       sync.WaitGroup
		forged   result
		floodErr error
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		forged, floodErr = flood.run(ctx, "forged", 0)
	}()
	help, err := legit.run(ctx, "help", pid)
	wg.Wait()
	l.seq = legit.seq // the next scenario's users are new ones
	if err != nil {
		return nil, fmt.Errorf("legitimate senders: %w", err)
	}
	if floodErr != nil {
		return nil, fmt.Errorf("forged flood: %w", floodErr)
	}
	help.Scenario, forged.Scenario = "mixed-help", "mixed-forged"
	return []result{help, forged}, nil
}
