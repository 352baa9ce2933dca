package audit

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jitbot/jitbot/access"
)

// checkpointV1 opens every version 1 signed checkpoint message.
const checkpointV1 = "jitbot-audit-checkpoint-v1\n"

// SignedMessage is the message a checkpoint's signature covers.
func SignedMessage(c access.Checkpoint) []byte {
	return []byte(checkpointV1 + strconv.FormatInt(c.Seq, 10) + "\n" + c.Hash + "\n" + StoredTime(c.At).Format(TimeLayout) + "\n")
}

// KeyID names a public key: the first 16 hex digits of its SHA-256.
func KeyID(pub ed25519.PublicKey) string {
	s := sha256.Sum256(pub)
	return hex.EncodeToString(s[:8])
}

// Sign returns the checkpoint of head at time at, signed with key.
func Sign(key ed25519.PrivateKey, head access.ChainHead, at time.Time) access.Checkpoint {
	c := access.Checkpoint{Seq: head.Seq, Hash: head.Hash, At: StoredTime(at)}
	c.KeyID = KeyID(key.Public().(ed25519.PublicKey))
	c.Signature = base64.StdEncoding.EncodeToString(ed25519.Sign(key, SignedMessage(c)))
	return c
}

// CheckSignature reports whether c is signed by pub; the error says why
// not.
func CheckSignature(pub ed25519.PublicKey, c access.Checkpoint) error {
	sig, err := base64.StdEncoding.DecodeString(c.Signature)
	if err != nil || len(sig) != ed25519.SignatureSize {
		return errors.New("its signature is not a base64 Ed25519 signature")
	}
	if !ed25519.Verify(pub, SignedMessage(c), sig) {
		if c.KeyID != KeyID(pub) {
			return fmt.Errorf("its signature does not verify: it names another key (%s) than the given public key (%s)", c.KeyID, KeyID(pub))
		}
		return errors.New("its signature does not verify: the checkpoint was altered or forged")
	}
	return nil
}

// ParsePrivateKey reads an Ed25519 private key: PEM "PRIVATE KEY" (PKCS#8)
// or the standard base64 encoding of the 32-byte seed.
func ParsePrivateKey(data []byte) (ed25519.PrivateKey, error) {
	if block, _ := pem.Decode(data); block != nil {
		if block.Type != "PRIVATE KEY" {
			return nil, fmt.Errorf("PEM block is %q, want \"PRIVATE KEY\" (PKCS#8)", block.Type)
		}
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parse PKCS#8 private key: %w", err)
		}
		ek, ok := k.(ed25519.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("private key is %T, want Ed25519", k)
		}
		return ek, nil
	}
	seed, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(data)))
	if err != nil {
		return nil, errors.New("signing key is neither PEM PKCS#8 nor a base64 Ed25519 seed")
	}
	if len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("base64 signing key has %d bytes, an Ed25519 seed has %d", len(seed), ed25519.SeedSize)
	}
	return ed25519.NewKeyFromSeed(seed), nil
}

// ParsePublicKey reads an Ed25519 public key: PEM "PUBLIC KEY" (PKIX) or the
// standard base64 encoding of the 32-byte key.
func ParsePublicKey(data []byte) (ed25519.PublicKey, error) {
	if block, _ := pem.Decode(data); block != nil {
		if block.Type != "PUBLIC KEY" {
			return nil, fmt.Errorf("PEM block is %q, want \"PUBLIC KEY\"", block.Type)
		}
		k, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parse public key: %w", err)
		}
		ek, ok := k.(ed25519.PublicKey)
		if !ok {
			return nil, fmt.Errorf("public key is %T, want Ed25519", k)
		}
		return ek, nil
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(data)))
	if err != nil {
		return nil, errors.New("public key is neither PEM nor base64")
	}
	if len(raw) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("base64 public key has %d bytes, an Ed25519 key has %d", len(raw), ed25519.PublicKeySize)
	}
	return ed25519.PublicKey(raw), nil
}

// GenerateKey returns a new key as PEM PKCS#8 and its public key as PEM
// PKIX.
func GenerateKey() (privatePEM, publicPEM []byte, err error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generate Ed25519 key: %w", err)
	}
	p8, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, nil, fmt.Errorf("encode private key: %w", err)
	}
	pk, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, nil, fmt.Errorf("encode public key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p8}),
		pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pk}), nil
}

// RetentionCut returns the checkpoint below which the log may be pruned at
// now with the given retention: the newest checkpoint at least retention
// old. ok is false when retention is 0 (keep forever) or no checkpoint is
// old enough. Every event up to the checkpoint's Seq was appended before
// it was signed, so it is at least as old.
func RetentionCut(checkpoints []access.Checkpoint, now time.Time, retention time.Duration) (access.Checkpoint, bool) {
	if retention <= 0 {
		return access.Checkpoint{}, false
	}
	cs := append([]access.Checkpoint(nil), checkpoints...)
	sort.Slice(cs, func(i, j int) bool { return cs[i].Seq < cs[j].Seq })
	limit := now.Add(-retention)
	for i := len(cs) - 1; i >= 0; i-- {
		if !cs[i].At.After(limit) {
			return cs[i], true
		}
	}
	return access.Checkpoint{}, false
}
