package audit

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/jitbot/jitbot/access"
)

// LinkKeySize is the size in bytes of a download link key.
const LinkKeySize = 32

// ErrForged: a download link whose signature does not verify (altered,
// truncated, or made with another key).
var ErrForged = errors.New("download link signature invalid")

// LinkSigner signs and checks download links with HMAC-SHA256. A token is
// base64url(JSON of the access.DownloadLink) "." base64url(HMAC of that
// text): it names the reader it was made for and its expiry, and cannot be
// altered without the key. Replicas that share a database must share the
// key, or a link made by one is refused by the others.
type LinkSigner struct {
	key []byte
}

// NewLinkSigner returns a signer with key (at least LinkKeySize bytes).
func NewLinkSigner(key []byte) (*LinkSigner, error) {
	if len(key) < LinkKeySize {
		return nil, fmt.Errorf("download link key: %d bytes, want at least %d", len(key), LinkKeySize)
	}
	return &LinkSigner{key: append([]byte(nil), key...)}, nil
}

// NewRandomLinkSigner returns a signer with a fresh random key, for one
// process: its links work on that process only and die with it.
func NewRandomLinkSigner() (*LinkSigner, error) {
	key := make([]byte, LinkKeySize)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("download link key: %w", err)
	}
	return NewLinkSigner(key)
}

// ParseLinkKey reads a key as written in a key file: at least LinkKeySize
// bytes in hex (`openssl rand -hex 32`), surrounding space ignored.
func ParseLinkKey(text string) ([]byte, error) {
	t := strings.TrimSpace(text)
	if b, err := hex.DecodeString(t); err == nil && len(b) >= LinkKeySize {
		return b, nil
	}
	return nil, fmt.Errorf("download link key: want at least %d random bytes in hex (e.g. `openssl rand -hex 32`)", LinkKeySize)
}

func (s *LinkSigner) mac(payload string) []byte {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(payload))
	return m.Sum(nil)
}

// Sign returns the token of a link.
func (s *LinkSigner) Sign(l access.DownloadLink) (string, error) {
	b, err := json.Marshal(l)
	if err != nil {
		return "", fmt.Errorf("sign download link: %w", err)
	}
	payload := base64.RawURLEncoding.EncodeToString(b)
	return payload + "." + base64.RawURLEncoding.EncodeToString(s.mac(payload)), nil
}

// Verify checks a token's signature and returns its link; ErrForged when
// the signature does not verify. Whether the link may be used (expiry,
// single use, reader) is access.Service.RedeemDownload's to decide.
func (s *LinkSigner) Verify(token string) (access.DownloadLink, error) {
	payload, sig, ok := strings.Cut(token, ".")
	if !ok || len(token) > 4096 {
		return access.DownloadLink{}, ErrForged
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !hmac.Equal(got, s.mac(payload)) {
		return access.DownloadLink{}, ErrForged
	}
	raw, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return access.DownloadLink{}, ErrForged
	}
	var l access.DownloadLink
	if err := json.Unmarshal(raw, &l); err != nil {
		return access.DownloadLink{}, fmt.Errorf("%w: %v", ErrForged, err)
	}
	return l, nil
}
