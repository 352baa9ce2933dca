package auth_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jitbot/jitbot/bot/auth"
)

func TestReadyLoadsTheSigningKeys(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	f.issuer.FailNext(1)
	if err := f.v.Ready(ctx); !errors.Is(err, auth.ErrKeysUnavailable) {
		t.Fatalf("Ready with the metadata failing: %v, want ErrKeysUnavailable", err)
	}
	f.clock.Advance(time.Minute) // past the back-off after a failed fetch
	if err := f.v.Ready(ctx); err != nil {
		t.Fatalf("Ready: %v", err)
	}
	fetched := f.issuer.KeysRequests()
	if err := f.v.Ready(ctx); err != nil || f.issuer.KeysRequests() != fetched {
		t.Errorf("Ready again: %v, %d key fetches (want none more)", err, f.issuer.KeysRequests()-fetched)
	}
	// Keys that could not be refreshed for twice their lifetime are
	// dropped: not ready.
	f.issuer.FailNext(1000)
	f.clock.Advance(2*auth.DefaultMetadataTTL + time.Minute)
	if err := f.v.Ready(ctx); err == nil {
		t.Error("ready with keys past twice their lifetime and the issuer failing")
	}
}
