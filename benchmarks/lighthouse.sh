#!/usr/bin/env bash
# Lighthouse over the live dashboard of `pymetrix demo` (synthetic visitors, live
# updates), as a desktop and as a phone; prints the four scores of each and leaves the
# full reports in test-artifacts/lighthouse-{desktop,mobile}.{json,html}.
#
# Needs Node (npm ci installs the Lighthouse pinned in benchmarks/lighthouse/) and
# Chromium (CHROME_PATH, /usr/bin/chromium by default). `make lighthouse` runs it.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
pymetrix="${PYMETRIX:-$root/.venv/bin/pymetrix}"
export CHROME_PATH="${CHROME_PATH:-/usr/bin/chromium}"
out="$root/test-artifacts"
mkdir -p "$out"

npm ci --prefix "$root/benchmarks/lighthouse" --no-audit --no-fund --silent
lighthouse="$root/benchmarks/lighthouse/node_modules/.bin/lighthouse"

work="$(mktemp -d)"
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
"$pymetrix" demo --store "sqlite:///$work/demo.db" --port "$port" --duration 600 >"$work/demo.log" 2>&1 &
demo=$!
trap 'kill "$demo" 2>/dev/null; wait "$demo" 2>/dev/null; rm -rf "$work"' EXIT
url="http://127.0.0.1:$port/pymetrix/"
for _ in $(seq 100); do
    curl -fs -o /dev/null "$url" && break
    sleep 0.1
done
# A few seconds of visitors: the page has hits, a flow and live updates to show.
sleep 5

flags="--headless=new --no-sandbox --disable-gpu"
for form in desktop mobile; do
    preset=()
    [ "$form" = desktop ] && preset=(--preset=desktop)
    "$lighthouse" "$url" "${preset[@]}" --chrome-flags="$flags" --quiet \
        --output=json --output=html --output-path="$out/lighthouse-$form"
    node -e '
        const report = require(process.argv[1]);
        const scores = Object.values(report.categories)
            .map(c => `${c.title} ${Math.round(c.score * 100)}`).join(", ");
        const metrics = ["first-contentful-paint", "largest-contentful-paint",
            "total-blocking-time", "cumulative-layout-shift"]
            .map(id => `${report.audits[id].title} ${report.audits[id].displayValue}`).join(", ");
        console.log(`${process.argv[2]} (Lighthouse ${report.lighthouseVersion}): ${scores}`);
        console.log(`  ${metrics}`);
    ' "$out/lighthouse-$form.report.json" "$form"
done
