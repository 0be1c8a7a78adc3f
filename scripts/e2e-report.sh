#!/usr/bin/env bash
# The HTML report in a real browser: installs headless Chromium from the Debian repository
# (chromium-headless-shell) when it is missing, writes the bundled example's comparison report
# and a one-model summary report, and opens each in the browser (scripts/e2e/report_browser.py:
# no console error, no network request, every chart drawn with a non-zero size, a screenshot that
# is not blank). Screenshots are kept in .cache/e2e-report/ for a person to look at.
# Needs root (or sudo) for apt-get on a machine without the browser.
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=.cache/e2e-report
mkdir -p "$OUT"

browser=""
for b in chromium-headless-shell chromium; do
  if command -v "$b" >/dev/null 2>&1; then browser=$(command -v "$b"); break; fi
done
if [ -z "$browser" ]; then
  t0=$SECONDS
  SUDO=""
  [ "$(id -u)" = 0 ] || SUDO=sudo
  echo "installing chromium-headless-shell (Debian package)"
  $SUDO apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
    chromium-headless-shell >/dev/null
  browser=$(command -v chromium-headless-shell)
  echo "installed in $((SECONDS - t0)) s"
fi
echo "browser: $browser ($("$browser" --version 2>/dev/null || echo unknown version))"

# scripts/test.sh passes the binary its `cargo test` step just built.
bin=${MODELBENCH_BIN:-}
if [ -z "$bin" ]; then
  cargo build --quiet --locked
  bin=target/debug/modelbench
fi

$bin report --model1 Qwen3-4B --model2 Qwen3-4B-AWQ --base-dir examples/sweep_configs \
  --all-configs -o "$OUT/report.html"
# 2 configurations × 7 metric charts.
python3 scripts/e2e/report_browser.py "$browser" "$OUT/report.html" "$OUT/report.png" 14

# A candidate named like a script: its name is shown as text, nothing runs.
evil='x/<script>alert(1)</script>'
rm -rf "$OUT/evil" && mkdir -p "$OUT/evil"
cp -r examples/sweep_configs/Qwen_Qwen3-4B "$OUT/evil/"
cp -r examples/sweep_configs/Qwen_Qwen3-4B-AWQ "$OUT/evil/x_<script>alert(1)<_script>"
sed -i 's|"model_name": "Qwen/Qwen3-4B-AWQ"|"model_name": "x/<script>alert(1)</script>"|' \
  "$OUT"/evil/x_*/run_*/benchmark_results.json
$bin report --model1 Qwen3-4B --model2 "$evil" --base-dir "$OUT/evil" --all-configs \
  -o "$OUT/evil.html" 2>/dev/null
python3 scripts/e2e/report_browser.py "$browser" "$OUT/evil.html" "$OUT/evil.png" 14 "$evil"

# summarize writes its CSV into the model folder: a copy, not the repository's example.
rm -rf "$OUT/example" && mkdir -p "$OUT/example"
cp -r examples/sweep_configs/Qwen_Qwen3-4B "$OUT/example/"
$bin summarize --model Qwen3-4B --base-dir "$OUT/example" \
  --report --report-output "$OUT/summary.html" >/dev/null
python3 scripts/e2e/report_browser.py "$browser" "$OUT/summary.html" "$OUT/summary.png" 0

# The checker itself: a page that asks the network for an image and logs an error must fail.
printf '%s\n' '<!DOCTYPE html><html><body><p>bad</p>' \
  '<img src="http://report-check.invalid/x.png" alt="">' \
  '<script>console.error("boom")</script></body></html>' >"$OUT/bad.html"
if python3 scripts/e2e/report_browser.py "$browser" "$OUT/bad.html" "$OUT/bad.png" 0 >"$OUT/bad.log" 2>&1; then
  echo "FAIL: the browser check passed a page that requests the network and logs an error"
  cat "$OUT/bad.log"
  exit 1
fi
grep -E '^FAIL' "$OUT/bad.log" | sed 's/^/  (expected) /'
echo "the browser check fails a page with a network request and a console error, as it should"
