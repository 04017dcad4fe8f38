#!/usr/bin/env bash
# Whole-process benchmark of `sift serve` (BENCHMARKS.md, "serve"): the release binary on a
# workspace holding the NLBSE'24 issues, a local model trained on them, and 32 concurrent
# clients sending those issues' real titles and bodies. Prints one JSON line per run and the
# medians. Needs ../shared/data (or CSV=path).
set -euo pipefail
cd "$(dirname "$0")/.."
CSV=${CSV:-../shared/data/nlbse24/issues_train.csv}
RUNS=${RUNS:-5}
LOCAL_REQUESTS=${LOCAL_REQUESTS:-20000}
SLOW_REQUESTS=${SLOW_REQUESTS:-3200}
FLAT_REQUESTS=${FLAT_REQUESTS:-100000}
cargo build --release --bin sift --example serve_load >&2
SIFT=$PWD/target/release/sift
LOAD=$PWD/target/release/examples/serve_load
W=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$W"' EXIT

"$SIFT" demo --no-tui --path "$W/ws" >/dev/null
# Remote requests of the slow-provider rows must not stop at the daily budget.
sed -i 's/^daily_token_budget = .*/daily_token_budget = 0/' "$W/ws/sift.toml"
"$SIFT" --workspace "$W/ws" --annotator nlbse import "$CSV" --dataset nlbse --label-column label >/dev/null
"$SIFT" --workspace "$W/ws" train >/dev/null

# start_serve ARGS...: sets URL and PID.
start_serve() {
  "$SIFT" --workspace "$W/ws" serve --addr 127.0.0.1:0 "$@" >"$W/serve.out" 2>"$W/serve.err" &
  PID=$!
  for _ in $(seq 600); do
    if grep -q '^listening on ' "$W/serve.out" 2>/dev/null; then break; fi
    sleep 0.05
  done
  URL=$(sed -n 's/^listening on //p' "$W/serve.out")
}
stop_serve() { kill -TERM "$PID"; wait "$PID"; }

echo "# local provider, 32 clients, $LOCAL_REQUESTS requests per run"
for _ in $(seq "$RUNS"); do
  start_serve --provider local
  "$LOAD" load --url "$URL" --csv "$CSV" --clients 32 --requests "$LOCAL_REQUESTS" --pid "$PID" | tee -a "$W/local.jsonl"
  stop_serve
done

echo "# provider answering in 100 ms (stand-in), 32 clients, $SLOW_REQUESTS unique requests per run"
"$LOAD" stand-in --delay-ms 100 >"$W/standin.out" &
for _ in $(seq 600); do grep -q '^listening on ' "$W/standin.out" 2>/dev/null && break; sleep 0.05; done
STANDIN=$(sed -n 's/^listening on //p' "$W/standin.out")
for _ in $(seq "$RUNS"); do
  start_serve --provider openai --base-url "$STANDIN" --max-concurrent 64
  "$LOAD" load --url "$URL" --csv "$CSV" --clients 32 --requests "$SLOW_REQUESTS" --unique --pid "$PID" | tee -a "$W/slow.jsonl"
  stop_serve
done

echo "# memory over $FLAT_REQUESTS requests, local provider (RSS at each tenth)"
start_serve --provider local
"$LOAD" load --url "$URL" --csv "$CSV" --clients 32 --requests "$FLAT_REQUESTS" --unique --pid "$PID" | tee "$W/flat.json"
stop_serve

python3 - "$W" <<'PY'
import json, statistics, sys, pathlib
w = pathlib.Path(sys.argv[1])
for name in ("local", "slow"):
    runs = [json.loads(l) for l in (w / f"{name}.jsonl").read_text().splitlines() if l.strip()]
    med = lambda k: statistics.median(r[k] for r in runs)
    print(f"{name}: median of {len(runs)} runs: p50 {med('p50_ms'):.2f} ms, p95 {med('p95_ms'):.2f} ms, "
          f"p99 {med('p99_ms'):.2f} ms, {med('rps'):.0f} req/s, peak RSS {med('peak_rss_kb')/1024:.1f} MB, "
          f"statuses {[r['statuses'] for r in runs]}")
flat = json.loads((w / "flat.json").read_text())
print("flat: RSS (MB) at each tenth:", [round(kb / 1024, 1) for _, kb in flat["rss_kb_by_decile"]],
      "statuses", flat["statuses"])
PY
