#!/usr/bin/env bash
# End-to-end test of `jitbot demo` against Microsoft 365 Agents Playground.
# Needs Node.js >= 20 with npm, and Go (unless JITBOT_BIN names a built jitbot).
# Usage: e2e/run.sh            (from anywhere; builds ./cmd/jitbot into a temp dir)
#        JITBOT_BIN=/path/to/jitbot e2e/run.sh
set -euo pipefail
cd "$(dirname "$0")"
npm ci --no-audit --no-fund --loglevel=error
exec node --test --test-reporter=spec playground.test.js
