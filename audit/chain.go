package audit

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash"
	"strconv"
	"time"

	"github.com/jitbot/jitbot/access"
)

// encodingV1 opens every version 1 canonical encoding.
const encodingV1 = "jitbot-audit-v1"

// TimeLayout is how times are written in the canonical encoding and in
// checkpoints: RFC 3339, UTC, microseconds.
const TimeLayout = "2006-01-02T15:04:05.000000Z07:00"

// StoredTime is t as the stores keep it: UTC, microsecond precision.
func StoredTime(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// Canonical returns the version 1 canonical encoding of ev (see the
// package documentation); the storage id and Hash are not part of it.
func Canonical(ev access.AuditEvent) []byte {
	fields := [...]string{
		strconv.FormatInt(ev.Seq, 10),
		ev.PrevHash,
		StoredTime(ev.At).Format(TimeLayout),
		ev.Actor.ObjectID,
		ev.Actor.Name,
		string(ev.Action),
		ev.RequestID,
		ev.Profile,
		ev.GroupID,
		ev.TargetUserID,
		ev.Reason,
		ev.ConversationID,
		ev.ActivityID,
	}
	n := len(encodingV1)
	for _, f := range fields {
		n += 8 + len(f)
	}
	b := make([]byte, 0, n)
	b = append(b, encodingV1...)
	for _, f := range fields {
		b = binary.BigEndian.AppendUint64(b, uint64(len(f)))
		b = append(b, f...)
	}
	return b
}

// sum is the SHA-256 of ev's canonical encoding.
func sum(ev access.AuditEvent) [sha256.Size]byte { return sha256.Sum256(Canonical(ev)) }

// HashEvent returns ev's hash: the hex SHA-256 of its canonical encoding,
// which includes Seq and PrevHash.
func HashEvent(ev access.AuditEvent) string {
	s := sum(ev)
	return hex.EncodeToString(s[:])
}

// Link places ev after head in the chain: Seq is head's plus one, PrevHash
// head's hash, At as stored, and Hash computed. Every store appends
// through it.
func Link(head access.ChainHead, ev access.AuditEvent) access.AuditEvent {
	ev.Seq = head.Seq + 1
	ev.PrevHash = head.Hash
	ev.At = StoredTime(ev.At)
	ev.Hash = HashEvent(ev)
	return ev
}

// Head is the chain's head once ev is appended.
func Head(ev access.AuditEvent) access.ChainHead {
	return access.ChainHead{Seq: ev.Seq, Hash: ev.Hash}
}

// LegacyDigest accumulates the events written before the chain existed (Seq
// 0), in id order, for their genesis event. Its zero value is ready.
type LegacyDigest struct {
	h     hash.Hash
	count int64
	last  time.Time
}

// Add adds the next legacy event.
func (d *LegacyDigest) Add(ev access.AuditEvent) {
	if d.h == nil {
		d.h = sha256.New()
	}
	ev.Seq, ev.PrevHash, ev.Hash = 0, "", ""
	s := sum(ev)
	d.h.Write(s[:])
	d.count++
	if ev.At.After(d.last) {
		d.last = ev.At
	}
}

// Count is the number of events added.
func (d *LegacyDigest) Count() int64 { return d.count }

// Sum is the hex SHA-256 of the concatenated hashes of the events added.
func (d *LegacyDigest) Sum() string {
	if d.h == nil {
		d.h = sha256.New()
	}
	return hex.EncodeToString(d.h.Sum(nil))
}

// Genesis returns the event that seals the legacy events d holds, to be
// appended as the chain's first event. Its time is the latest legacy
// event's, so that sealing needs no clock.
func (d *LegacyDigest) Genesis() access.AuditEvent {
	return access.AuditEvent{
		At:     d.last,
		Actor:  access.System,
		Action: access.ActionAuditGenesis,
		Reason: genesisReason(d.count, d.Sum()),
	}
}

func genesisReason(count int64, digest string) string {
	return fmt.Sprintf("sealed %d events written before the hash chain; sha256 of their hashes in id order: %s", count, digest)
}
