// Package audit makes jitbot's audit log tamper-evident and checks it.
//
// # The hash chain
//
// Every audit event has a place in the deployment's one chain: Seq (1, 2,
// ...), PrevHash (the previous event's Hash, "" for the first) and Hash,
// the lower-case hex SHA-256 of the event's canonical encoding. The
// encoding (version 1) is the byte string
//
//	"jitbot-audit-v1" field field ... field
//
// where each field is written as its length in bytes, an 8-byte big-endian
// unsigned integer, followed by its UTF-8 bytes, in this fixed order:
//
//	seq              decimal, no leading zeros
//	prev_hash        hex, "" for the first event
//	at               RFC 3339 in UTC with exactly six fractional digits
//	                 (microseconds, as stored), e.g. 2026-12-01T09:30:00.123456Z
//	actor_id         the actor's Entra object id
//	actor_name
//	action           e.g. request.created
//	request_id
//	profile
//	group_id
//	target_user_id
//	reason
//	conversation_id
//	activity_id
//
// The storage row id is not part of the content: an event's place is its
// Seq. Anyone can recompute a hash with a few lines of code in any language
// (see Canonical).
//
// # Genesis
//
// Events written before the chain existed keep Seq 0. The first time a
// database holding such events is opened, they are sealed by one event,
// audit.genesis, whose Reason records how many there were and the SHA-256 of
// their canonical encodings (each with Seq 0 and PrevHash "", in id order,
// each hash's 32 bytes concatenated): see LegacyDigest. Editing, deleting or
// inserting such an event afterwards breaks the genesis.
//
// # Checkpoints
//
// A checkpoint is the chain head (Seq, Hash) at a time, signed with an
// Ed25519 key the database never holds. The signed message is
//
//	"jitbot-audit-checkpoint-v1\n" seq "\n" hash "\n" at "\n"
//
// with seq in decimal and at as above. A database administrator who edits
// events and recomputes every hash after a checkpoint cannot sign a new one,
// so Verifier reports the checkpoint that no longer matches.
//
// Verify (with Options from the deployment) also reports: rows after the
// chain head; a chain that does not start at seq 1 while retention is off,
// or that starts after a checkpoint younger than the retention; and, with
// public keys, an event older than twice the checkpoint interval that no
// signed checkpoint covers. Checkpoints are checked with the key their
// KeyID names, so a rotated key's checkpoints verify when its public key is
// given too.
//
// Deleted checkpoint rows are detected only with a copy outside the
// database: a checkpoint file or the checkpoints a SIEM pulled from the feed
// (passed as Options.Extra), or the age rule above once the rewritten events
// are old enough. The Checkpointer refuses to sign when the last checkpoint
// it signed (kept in memory, or the last line of its File) is missing or
// differs, or when a stored checkpoint is not signed by its key or one of
// PreviousKeys; and it prunes only a segment that verifies. Keep a
// checkpoint file where the database administrator cannot write, or feed a
// SIEM.
//
// Private keys are read as PEM "PRIVATE KEY" (PKCS#8, as `openssl genpkey
// -algorithm ed25519` and `jitbot audit keygen` write) or as the standard
// base64 encoding of the 32-byte seed; public keys as PEM "PUBLIC KEY"
// (PKIX) or the standard base64 encoding of the 32-byte key.
//
// # Exports and reports
//
// Writer streams an export (CSV, JSON, JSON lines) of the events view (one
// row per event, every field, hashes included) or the grants view (one row
// per request, see access.GrantRecord), holding no row after it is
// written. CSV cells are made inert for spreadsheets (see Inert).
// LinkSigner signs the short-lived, single-use download links of the
// reports shown in Teams.
package audit
