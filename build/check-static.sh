#!/usr/bin/env bash
# Checks the binary the container image ships, without a Docker daemon: it
# builds it exactly as the Dockerfile does (build/static.sh), checks that it
# is statically linked and stamped (-trimpath, CGO_ENABLED=0, the git
# revision), then runs it as the image's non-root user (65532:65532, the
# distroless "nonroot" user): `jitbot version`, then `jitbot serve` with a
# configuration file and a SQLite database in a directory that user owns,
# until it listens and `jitbot healthcheck` (the image's HEALTHCHECK) finds
# it healthy, and a clean stop on SIGTERM.
set -euo pipefail
cd "$(dirname "$0")/.."

uid=65532
fail() { echo "check-static: $*" >&2; exit 1; }

tmp="$(mktemp -d)"
pid=""
cleanup() {
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT
chmod 0755 "$tmp"

build/static.sh "$tmp/jitbot"

# Statically linked: no interpreter, no shared libraries (the distroless
# static image has no libc).
file "$tmp/jitbot" | grep -q 'statically linked' || fail "not statically linked: $(file "$tmp/jitbot")"
if ldd "$tmp/jitbot" >/dev/null 2>&1; then fail "ldd lists shared libraries: $(ldd "$tmp/jitbot")"; fi
info="$(go version -m "$tmp/jitbot")"
for want in 'CGO_ENABLED=0' '-trimpath=true'; do
  grep -qF -- "$want" <<<"$info" || fail "build setting $want missing from the binary's build info"
done
if [ -d .git ]; then
  # A plain checkout (as in CI and in a Docker build context) must stamp
  # the revision; a git worktree (.git is a file) is not seen by Go.
  grep -q 'vcs.revision=' <<<"$info" || fail "no vcs.revision in the binary's build info"
fi
grep -E 'vcs\.(revision|time|modified)=' <<<"$info" || echo "no version control stamp (not a plain git checkout)"

# Run as the image's user: as root through setpriv, else as the non-root
# user running this.
as_user=()
if [ "$(id -u)" = 0 ]; then
  as_user=(setpriv --reuid "$uid" --regid "$uid" --clear-groups)
else
  uid="$(id -u)"
fi
run() { env -i PATH=/usr/bin:/bin HOME=/nonexistent "${as_user[@]}" "$@"; }

run "$tmp/jitbot" version

mkdir -p "$tmp/etc" "$tmp/data"
[ "$(id -u)" = 0 ] && chown "$uid:$uid" "$tmp/data"
chmod 0700 "$tmp/data"
cat >"$tmp/etc/jitbot.yaml" <<YAML
listen: "127.0.0.1:0"
database: "sqlite:$tmp/data/jitbot.db"
tenant_id: "4f3c2b1a-0d9e-4c8b-9a7f-6e5d4c3b2a10"
cloud:
  bot_service_url: "http://127.0.0.1:9/"
  bot_service_hosts: ["127.0.0.1"]
drift:
  disabled: true
profiles:
  - name: prod-db
    description: "Read access to the production databases"
    group_id: "aaaaaaaa-0000-4000-8000-000000000001"
    max_duration: 4h
    requesters: { groups: ["aaaaaaaa-0000-4000-8000-000000000002"] }
    approvers: { groups: ["aaaaaaaa-0000-4000-8000-000000000003"], channel_id: "19:abc@thread.tacv2" }
YAML
chmod 0644 "$tmp/etc/jitbot.yaml"

# --local: no Azure credential here. It still reads the configuration
# file, creates and migrates the database and serves HTTP as the image
# does.
# Started directly, not through run: $! must be the server itself (env and
# setpriv exec it).
env -i PATH=/usr/bin:/bin HOME=/nonexistent "${as_user[@]}" "$tmp/jitbot" serve --local --config "$tmp/etc/jitbot.yaml" >"$tmp/log" 2>&1 &
pid=$!
addr=""
for _ in $(seq 1 300); do
  addr="$(sed -n 's/.*msg="jitbot listening" addr=\([^ ]*\).*/\1/p' "$tmp/log" | head -n 1)"
  [ -n "$addr" ] && break
  kill -0 "$pid" 2>/dev/null || { cat "$tmp/log" >&2; fail "jitbot serve exited before listening"; }
  sleep 0.1
done
[ -n "$addr" ] || { cat "$tmp/log" >&2; fail "jitbot serve did not listen within 30 s"; }

running_uid="$(awk '/^Uid:/ {print $2}' "/proc/$pid/status")"
[ "$running_uid" = "$uid" ] || fail "jitbot serve runs as uid $running_uid, want $uid"
# The image's HEALTHCHECK: the binary asks /healthz itself, as that user.
run "$tmp/jitbot" healthcheck --url "http://$addr/healthz" || { cat "$tmp/log" >&2; fail "jitbot healthcheck failed"; }
[ "$(stat -c %u "$tmp/data/jitbot.db")" = "$uid" ] || fail "the database is not owned by uid $uid"

kill -TERM "$pid"
status=0
wait "$pid" || status=$?
pid=""
[ "$status" = 0 ] || { cat "$tmp/log" >&2; fail "jitbot serve exited $status on SIGTERM"; }
echo "static binary ok: serve ran as uid $uid, listened on $addr, was healthy and stopped cleanly"
