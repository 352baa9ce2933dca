package audit_test

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/access"
	"github.com/jitbot/jitbot/audit"
)

// TestLinkSignature: a link verifies as signed; one altered to name
// another reader, another period or a later expiry, or signed with another
// key, does not.
func TestLinkSignature(t *testing.T) {
	s, err := audit.NewLinkSigner([]byte(strings.Repeat("k", 32)))
	if err != nil {
		t.Fatal(err)
	}
	other, _ := audit.NewRandomLinkSigner()
	link := access.DownloadLink{ID: "L1", UserID: alex.ObjectID, Since: at, Until: at.Add(24 * time.Hour), ExpiresAt: at.Add(10 * time.Minute)}
	tok, err := s.Sign(link)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Verify(tok)
	if err != nil || got.ID != link.ID || got.UserID != link.UserID || !got.ExpiresAt.Equal(link.ExpiresAt) || !got.Until.Equal(link.Until) {
		t.Fatalf("Verify(Sign(link)) = %+v, %v", got, err)
	}

	payload, sig, _ := strings.Cut(tok, ".")
	raw, _ := base64.RawURLEncoding.DecodeString(payload)
	swap := func(old, new string) string {
		return base64.RawURLEncoding.EncodeToString([]byte(strings.Replace(string(raw), old, new, 1))) + "." + sig
	}
	otherTok, _ := other.Sign(link)
	for name, forged := range map[string]string{
		"another reader":  swap(alex.ObjectID, riley.ObjectID),
		"a later expiry":  swap(`"exp":"2026-11-03T14:15`, `"exp":"2026-11-04T14:15`),
		"another key":     otherTok,
		"no signature":    payload,
		"empty signature": payload + ".",
		"garbage":         "not-a-token",
	} {
		if _, err := s.Verify(forged); !errors.Is(err, audit.ErrForged) {
			t.Errorf("%s: %v, want ErrForged", name, err)
		}
	}
	if _, err := audit.NewLinkSigner([]byte("short")); err == nil {
		t.Error("a short key was accepted")
	}
}

func TestParseLinkKey(t *testing.T) {
	hexKey := strings.Repeat("ab", 32)
	if k, err := audit.ParseLinkKey(" " + hexKey + "\n"); err != nil || len(k) != 32 {
		t.Errorf("hex key: %d bytes, %v", len(k), err)
	}
	if _, err := audit.ParseLinkKey(base64.StdEncoding.EncodeToString(make([]byte, 31)) + "x"); err == nil {
		t.Error("a key that is not hex was accepted")
	}
	if _, err := audit.ParseLinkKey("abcd"); err == nil {
		t.Error("a 2-byte key was accepted")
	}
}
