#!/usr/bin/env bash
# side-by-side.sh runs the same load against jitbot and against the Bot
# Framework JavaScript SDK's echo bot (bench/echo: botbuilder's CloudAdapter
# behind restify, token validation on), one after the other in one run, and
# prints the ratio of their throughput.
#
# Each bot is pinned to one CPU (BOT_CPU, default 0) and the load tool with
# its fakes of the Microsoft endpoints to another (LOAD_CPU, default 1), with
# taskset. Both bots get the same signed activities and reply through the
# same fake Bot Connector over TLS, which counts the replies. Besides the
# throughput it prints the requests served per CPU second of each bot: on a
# machine shared with other work, a pinned bot may get only part of its CPU,
# and that ratio does not depend on how much it got.
#
#   bash bench/side-by-side.sh                     # help, 32 senders, 10 s
#   SCENARIO=help CONCURRENCY=8 DURATION=5s ROUNDS=2 bash bench/side-by-side.sh
#
# Needs Go, Node.js 18 or later with npm (the echo bot's packages are
# installed with npm ci from bench/echo/package-lock.json) and taskset
# (util-linux).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
scenario=${SCENARIO:-help}
concurrency=${CONCURRENCY:-32}
duration=${DURATION:-10s}
rounds=${ROUNDS:-1}
bot_cpu=${BOT_CPU:-0}
load_cpu=${LOAD_CPU:-1}

for tool in go node npm taskset; do
	command -v "$tool" >/dev/null || { echo "side-by-side: $tool is needed" >&2; exit 1; }
done
case $scenario in
help | forged) ;;
*) echo "side-by-side: SCENARIO must be help or forged (what an echo bot can answer)" >&2; exit 1 ;;
esac

work=$(mktemp -d)
echo_pid=
cleanup() {
	if [ -n "$echo_pid" ]; then kill "$echo_pid" 2>/dev/null || true; fi
	rm -rf "$work"
}
trap cleanup EXIT

echo "building jitbot and the load tool" >&2
(cd "$root" && go build -o "$work/jitbot" ./cmd/jitbot && go build -o "$work/jitbot-bench" ./cmd/jitbot-bench)
echo "installing the echo bot's packages (npm ci)" >&2
(cd "$root/bench/echo" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)

load=(taskset -c "$load_cpu" "$work/jitbot-bench" -scenario "$scenario" -concurrency "$concurrency" -duration "$duration")

# run_jitbot N: the load tool starts jitbot on the bot CPU itself.
run_jitbot() {
	"${load[@]}" -bin "$work/jitbot" -bot-cpus "$bot_cpu" >"$work/jitbot-$1.txt" 2>"$work/jitbot-$1.log" ||
		{ cat "$work/jitbot-$1.log" >&2; exit 1; }
}

# run_echo N: the load tool starts its fakes and writes the bot's
# environment, then waits for the echo bot, started here against them.
run_echo() {
	local dir="$work/echo-$1" port
	mkdir -p "$dir"
	port=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
	"${load[@]}" -url "http://127.0.0.1:$port" -write-config "$dir/bot.yaml" -pid-file "$dir/pid" \
		>"$work/echo-$1.txt" 2>"$work/echo-$1.log" &
	local bench=$!
	for _ in $(seq 100); do [ -s "$dir/bot.yaml.env" ] && break; sleep 0.1; done
	[ -s "$dir/bot.yaml.env" ] || { cat "$work/echo-$1.log" >&2; exit 1; }
	(
		set -a
		# shellcheck disable=SC1091
		. "$dir/bot.yaml.env"
		PORT=$port
		exec taskset -c "$bot_cpu" node "$root/bench/echo/index.js"
	) >"$dir/echo.log" 2>&1 &
	echo_pid=$!
	echo "$echo_pid" >"$dir/pid"
	if ! wait "$bench"; then
		cat "$work/echo-$1.log" "$dir/echo.log" >&2
		exit 1
	fi
	kill "$echo_pid" 2>/dev/null || true
	wait "$echo_pid" 2>/dev/null || true
	echo_pid=
}

# row FILE: the scenario's line of a table the load tool printed.
row() { awk -v s="$scenario" '$1 == s' "$1"; }

echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), load average $(cut -d' ' -f1-3 /proc/loadavg)" >&2
for n in $(seq "$rounds"); do
	echo "round $n: jitbot" >&2
	run_jitbot "$n"
	echo "round $n: botbuilder-js echo" >&2
	run_echo "$n"
done

echo
echo "$scenario, $concurrency concurrent senders, $duration each, bots on CPU $bot_cpu, load tool and fakes on CPU $load_cpu"
head -1 "$work/jitbot-1.txt" | sed 's/^/            /'
for n in $(seq "$rounds"); do
	echo "jitbot      $(row "$work/jitbot-$n.txt")"
	echo "botbuilder  $(row "$work/echo-$n.txt")"
done
# Columns: scenario requests req/s p50 p99 errors replies ...
awk -v s="$scenario" '
	FNR == 1 { bot = (FILENAME ~ /jitbot-[0-9]+\.txt$/) ? "jitbot" : "echo" }
	$1 == s { rps[bot] += $3; req[bot] += $2; rep[bot] += $7; err[bot] += $6; cpu[bot] += $10 }
	END {
		printf "\njitbot %.0f req/s, botbuilder-js echo %.0f req/s (mean of the rounds): ratio %.1fx\n", rps["jitbot"] / n, rps["echo"] / n, rps["jitbot"] / rps["echo"]
		if (cpu["jitbot"] > 0 && cpu["echo"] > 0) {
			je = req["jitbot"] / cpu["jitbot"]; ee = req["echo"] / cpu["echo"]
			printf "per CPU second of the bot: jitbot %.0f, echo %.0f requests: ratio %.1fx\n", je, ee, je / ee
		}
		printf "errors: jitbot %d, echo %d; replies: jitbot %d of %d, echo %d of %d\n", err["jitbot"], err["echo"], rep["jitbot"], req["jitbot"], rep["echo"], req["echo"]
	}' n="$rounds" "$work"/jitbot-*.txt "$work"/echo-*.txt
