package graphtest

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

// StaticCredential is an azcore.TokenCredential that returns a fixed token
// and records the scopes it was asked for.
type StaticCredential struct {
	token string

	mu     sync.Mutex
	scopes [][]string
}

var _ azcore.TokenCredential = (*StaticCredential)(nil)

// NewStaticCredential returns a credential yielding token.
func NewStaticCredential(token string) *StaticCredential {
	return &StaticCredential{token: token}
}

// GetToken implements azcore.TokenCredential.
func (c *StaticCredential) GetToken(ctx context.Context, opts policy.TokenRequestOptions) (azcore.AccessToken, error) {
	if err := ctx.Err(); err != nil {
		return azcore.AccessToken{}, err
	}
	c.mu.Lock()
	c.scopes = append(c.scopes, slices.Clone(opts.Scopes))
	c.mu.Unlock()
	return azcore.AccessToken{Token: c.token, ExpiresOn: time.Now().Add(time.Hour)}, nil
}

// Scopes returns the scopes of every GetToken call, oldest first.
func (c *StaticCredential) Scopes() [][]string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.scopes)
}
