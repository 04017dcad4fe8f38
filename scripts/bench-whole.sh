#!/usr/bin/env bash
# Whole-process benchmarks (BENCHMARKS.md, "Whole processes"): the commands as a user runs
# them, on real text from ../shared/data resampled to SIZE items (examples/resample.rs), each
# timed as a separate process with /usr/bin/time: wall seconds and peak RSS from the OS,
# median of RUNS. The first frame of the review screen is timed in a real terminal (tmux),
# from process start to the queue being drawn.
#
#   SIZE=100000 bash scripts/bench-whole.sh          # release build, 5 runs per row
#   SIZE=1000000 RUNS=3 bash scripts/bench-whole.sh
#   SMOKE=1 SIZE=10000 bash scripts/bench-whole.sh   # CI: debug build, one run, fails on an
#                                                    # error, never on time
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE=${SIZE:-100000}
SHARED=${SHARED:-../shared/data}
if [ ! -d "$SHARED" ]; then
  echo "bench-whole: $SHARED is missing; nothing to resample (skipped)"
  exit 0
fi
if [ -n "${SMOKE:-}" ]; then
  RUNS=1
  cargo build --quiet --bin sift --example resample
  BIN=${CARGO_TARGET_DIR:-$PWD/target}/debug
  RESAMPLE=$BIN/examples/resample
else
  RUNS=${RUNS:-5}
  cargo build --quiet --release --bin sift --example resample
  BIN=${CARGO_TARGET_DIR:-$PWD/target}/release
  RESAMPLE=$BIN/examples/resample
fi
SIFT=$BIN/sift
W=$(mktemp -d)
trap 'tmux kill-session -t sift-bench 2>/dev/null || true; rm -rf "$W"' EXIT

# fresh NAME: an empty workspace, as `sift init` makes it.
fresh() {
  rm -rf "$W/$1"
  "$SIFT" init "$W/$1" >/dev/null 2>&1
}

# measure ROW CMD...: run CMD RUNS times (a failure ends the script), keep "seconds rss_kb".
measure() {
  local row=$1
  shift
  for _ in $(seq "$RUNS"); do
    [ -n "${BEFORE:-}" ] && eval "$BEFORE"
    /usr/bin/time -f "%e %M" -o "$W/time" "$@" >"$W/out" 2>"$W/err" \
      || { echo "bench-whole: $row failed:"; tail -5 "$W/err"; exit 1; }
    echo "$row $(cat "$W/time")" >>"$W/results"
  done
}

# first_frame WORKSPACE: time from the process's start to the queue on screen, in tmux
# (polled every 10 ms).
first_frame() {
  command -v tmux >/dev/null 2>&1 || return 0
  for _ in $(seq "$RUNS"); do
    # The clock starts in the pane, as sift starts (exec), not when tmux's server does.
    rm -f "$W/t0"
    tmux new-session -d -s sift-bench -x 160 -y 48 \
      "date +%s.%N >$W/t0; exec $SIFT --workspace $1 --annotator bench review 2>$W/tui.err"
    shown=
    for _ in $(seq 6000); do
      if tmux capture-pane -t sift-bench -p 2>/dev/null | grep -q 'queue 0/'; then shown=$(date +%s.%N); break; fi
      sleep 0.01
    done
    # Then the whole queue: the worker has read the rows after the first page.
    whole=
    for _ in $(seq 6000); do
      [ -n "$shown" ] || break
      pane=$(tmux capture-pane -t sift-bench -p 2>/dev/null) || break
      if ! grep -q 'reading' <<<"$pane"; then whole=$(date +%s.%N); break; fi
      sleep 0.01
    done
    tmux send-keys -t sift-bench q 2>/dev/null || true
    sleep 0.3
    tmux kill-session -t sift-bench 2>/dev/null || true
    [ -n "$shown" ] && [ -n "$whole" ] \
      || { echo "bench-whole: the review screen never appeared whole"; cat "$W/tui.err"; exit 1; }
    echo "first frame $(echo "$shown - $(cat "$W/t0")" | bc) 0" >>"$W/results"
    echo "queue whole on screen $(echo "$whole - $(cat "$W/t0")" | bc) 0" >>"$W/results"
  done
}

summary() {
python3 - "$W/results" "$SIZE" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    name, secs, rss = line.rsplit(" ", 2)
    rows.setdefault(name, []).append((float(secs), int(rss)))
print(f"| command ({int(sys.argv[2]):,} items) | median wall | runs | peak RSS |")
print("|---|---|---|---|")
for name, runs in rows.items():
    secs = [s for s, _ in runs]
    rss = max(r for _, r in runs)
    shown = ", ".join(f"{s:.2f}" for s in secs)
    if len(secs) > 10:
        slow = sum(1 for s in secs if s > 1)
        shown = f"{len(secs)} runs, max {max(secs):.2f}, {slow} over 1 s"
    mem = f"{rss / 1024:.0f} MB" if rss else "–"
    print(f"| {name} | {statistics.median(secs):.2f} s | {shown} | {mem} |")
PY
}

: >"$W/results"
# SCALE=1: the rows that matter at a million items, on small records (bodies cut to 300
# characters): import, status, similar, the first frame.
if [ -n "${SCALE:-}" ]; then
  "$RESAMPLE" issues "$SIZE" "$W/small.jsonl" --shared "$SHARED" --max-body 300
  BEFORE="fresh imp" measure "import $SIZE small records" \
    "$SIFT" --workspace "$W/imp" import "$W/small.jsonl" --dataset big
  BEFORE= measure "status" "$SIFT" --workspace "$W/imp" status
  "$SIFT" --workspace "$W/imp" similar big:1 >/dev/null
  for key in 7 $((SIZE / 3)) $((SIZE / 2)) $((SIZE - 11)) 42; do
    BEFORE= RUNS=1 measure "similar" "$SIFT" --workspace "$W/imp" similar "big:$key"
  done
  first_frame "$W/imp"
  summary
  exit 0
fi

"$RESAMPLE" issues "$SIZE" "$W/issues.jsonl" --shared "$SHARED"
"$RESAMPLE" chats "$SIZE" "$W/chats.jsonl" --shared "$SHARED"
# The second annotator disagrees on about a fifth of the issues.
"$RESAMPLE" relabel "$W/issues.jsonl" "$W/issues-b.jsonl" --share 0.2

BEFORE="fresh imp" measure "import $SIZE conversations" \
  "$SIFT" --workspace "$W/imp" import "$W/chats.jsonl" --dataset chats --taxonomy sft
BEFORE="fresh imp" measure "import $SIZE issues (with labels)" \
  "$SIFT" --workspace "$W/imp" --annotator a import "$W/issues.jsonl" --dataset big --label-column labels

# One workspace for the rest: the issues answered by two annotators, who disagree at times.
fresh ws
"$SIFT" --workspace "$W/ws" --annotator a import "$W/issues.jsonl" --dataset big --label-column labels >/dev/null
"$SIFT" --workspace "$W/ws" --annotator b import "$W/issues-b.jsonl" --dataset big --label-column labels >/dev/null
BEFORE= measure "status" "$SIFT" --workspace "$W/ws" status
for key in 7 $((SIZE / 3)) $((SIZE / 2)) $((SIZE - 11)) 42; do
  BEFORE= RUNS=1 measure "similar" "$SIFT" --workspace "$W/ws" similar "big:$key"
done
BEFORE= measure "stats --no-ci (2 annotators)" "$SIFT" --workspace "$W/ws" stats --dataset big --no-ci
BEFORE= measure "stats with intervals (2 annotators)" "$SIFT" --workspace "$W/ws" stats --dataset big
BEFORE="rm -rf $W/export" measure "export gold" \
  "$SIFT" --workspace "$W/ws" export --dataset big --out "$W/export"

# One record far over the limit on a single line: reported and skipped, memory bounded.
"$RESAMPLE" huge "$([ -n "${SMOKE:-}" ] && echo 40 || echo 200)" "$W/huge.jsonl" --shared "$SHARED"
BEFORE="fresh imp" measure "import one huge record (skipped)" \
  "$SIFT" --workspace "$W/imp" import "$W/huge.jsonl" --dataset huge

# Saving one answer while another process imports: each save as a whole process. Not in
# the debug smoke: there a save can wait seconds for the import's transactions, near the
# 5 s busy timeout on a loaded machine, and CI must not fail on time (the lock order itself
# is tested in store::tests::transactions_take_the_write_lock_when_they_begin).
if [ -z "${SMOKE:-}" ]; then
# -a keeps the logs' times: freshly copied logs would be verified again by every process
# in their first two seconds (see workspace::log::settled_mtime_ns), which no real
# workspace sees.
cp -a "$W/ws" "$W/busy"
"$SIFT" --workspace "$W/busy" import "$W/chats.jsonl" --dataset busy --taxonomy sft \
  >/dev/null 2>"$W/busy.err" &
busy=$!
# Saves every 0.1 s until the import (its index refresh included) is done.
for i in $(seq 1 400); do
  kill -0 "$busy" 2>/dev/null || break
  BEFORE= RUNS=1 measure "annotate during an import" "$SIFT" --workspace "$W/busy" \
    --annotator c annotate "big:$i" --labels bug
  sleep 0.1
done
wait "$busy" || { echo "bench-whole: the import beside the saves failed:"; tail -5 "$W/busy.err"; exit 1; }
fi

# The first frame in a real terminal: from the process's start to the queue on screen.
first_frame "$W/ws"
summary
