#!/bin/sh
# Builds jitbot as the container ships it: a static binary (CGO_ENABLED=0,
# pure-Go SQLite), without local paths (-trimpath), stamped with the
# version control information Go records (vcs.revision, vcs.time,
# vcs.modified; `go version -m jitbot` shows them). The Dockerfile and CI
# both build through this script, so that CI checks the binary the image
# holds.
#
# Usage: build/static.sh [output path]       (default: ./jitbot)
#   JITBOT_VERSION  overrides the version `jitbot version` prints (default:
#                   `git describe`, else the module version Go stamps)
#   GOOS, GOARCH    cross-compile, as for go build
set -eu

out="${1:-jitbot}"
cd "$(dirname "$0")/.."

# Go stamps the revision only from a working git checkout. Without one (a
# source tarball, a build context without .git) it builds unstamped and
# says so, rather than failing.
buildvcs=false
if command -v git >/dev/null 2>&1 && git rev-parse --is-inside-work-tree >/dev/null 2>&1 && git status --porcelain >/dev/null 2>&1; then
  buildvcs=true
else
  echo "build/static.sh: no git checkout here: the binary carries no revision (set JITBOT_VERSION to name it)" >&2
fi

version="${JITBOT_VERSION:-}"
if [ -z "$version" ] && [ "$buildvcs" = true ]; then
  version="$(git describe --tags --always --dirty 2>/dev/null || true)"
fi
ldflags="-s -w"
if [ -n "$version" ]; then
  ldflags="$ldflags -X main.version=$version"
fi

CGO_ENABLED=0 go build -trimpath -buildvcs="$buildvcs" -ldflags "$ldflags" -o "$out" ./cmd/jitbot
