package auth

import (
	"crypto/sha256"
	"slices"
	"sync"
	"time"
)

// verifiedFor bounds how long a checked token is remembered, whatever its
// own expiry.
const verifiedFor = 5 * time.Minute

// maxVerified bounds the tokens remembered (a channel uses one token for
// many activities, and a few are in use at a time).
const maxVerified = 1024

// verifiedTokens remembers tokens whose signature and claims were checked,
// by a digest of the token and the channel it was checked for (a key's
// endorsement depends on the channel), with the claims found. A remembered
// token is taken as checked until its expiry (with the clock skew) or
// verifiedFor, whichever comes first, and not before its not-before time:
// it is the same token, signed by the same key, for the same issuer and
// audience. What depends on the activity (its service URL) and on the key
// set (the key still published and endorsed) is checked every time by the
// caller. Only tokens that passed are remembered; a refused one is checked
// in full each time. Safe for concurrent use.
type verifiedTokens struct {
	mu     sync.Mutex
	tokens map[[sha256.Size]byte]verifiedToken
}

type verifiedToken struct {
	claims Claims
	until  time.Time // when it was checked + verifiedFor
}

func newVerifiedTokens() *verifiedTokens {
	return &verifiedTokens{tokens: map[[sha256.Size]byte]verifiedToken{}}
}

// tokenID is the digest a token checked for a channel is remembered by.
func tokenID(raw, channelID string) [sha256.Size]byte {
	return sha256.Sum256([]byte(channelID + "\x00" + raw))
}

// get returns the claims of a remembered token that is still valid at now.
func (v *verifiedTokens) get(id [sha256.Size]byte, now time.Time, skew time.Duration) (Claims, bool) {
	v.mu.Lock()
	t, ok := v.tokens[id]
	v.mu.Unlock()
	if !ok {
		return Claims{}, false
	}
	c := t.claims
	if !now.Before(t.until) || !now.Before(c.ExpiresAt.Add(skew)) || (!c.NotBefore.IsZero() && now.Add(skew).Before(c.NotBefore)) {
		v.forget(id)
		return Claims{}, false
	}
	c.Audience = slices.Clone(c.Audience)
	return c, true
}

// put remembers a token checked at now.
func (v *verifiedTokens) put(id [sha256.Size]byte, c Claims, now time.Time) {
	c.Audience = slices.Clone(c.Audience)
	v.mu.Lock()
	defer v.mu.Unlock()
	if len(v.tokens) >= maxVerified {
		for k, t := range v.tokens {
			if !now.Before(t.until) || !now.Before(t.claims.ExpiresAt) {
				delete(v.tokens, k)
			}
		}
		if len(v.tokens) >= maxVerified {
			clear(v.tokens) // checked again in full, one each
		}
	}
	v.tokens[id] = verifiedToken{claims: c, until: now.Add(verifiedFor)}
}

// forget drops a remembered token.
func (v *verifiedTokens) forget(id [sha256.Size]byte) {
	v.mu.Lock()
	defer v.mu.Unlock()
	delete(v.tokens, id)
}
