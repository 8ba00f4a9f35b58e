#!/usr/bin/env bash
# The archive mode against one process per dump (docs/benchmarks.md, "Many dumps"):
#   scripts/bench-archive.sh [DIR] [RUNS]
# DIR defaults to the harness's dumps (/work/.cache/pgsync-harness/dumps). Warm page cache:
# one untimed archive run first. Prints, per run: wall s, user s, sys s, peak RSS KB.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-${PGSYNC_HARNESS_DIR:-/work/.cache/pgsync-harness}/dumps}
runs=${2:-3}
cargo build --release --locked --quiet --bin pgsync-dump
bin=$PWD/target/release/pgsync-dump
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
"$bin" analyze --quiet "$dir" > "$out/lines.jsonl" || true
jq -r .path "$out/lines.jsonl" > "$out/paths"
echo "$(wc -l < "$out/paths") dumps in $dir; load: $(cut -d' ' -f1-3 /proc/loadavg)"
fmt='%e s wall, %U s user, %S s sys, %M KB peak RSS'
for i in $(seq "$runs"); do
    for jobs in 1 2; do
        /usr/bin/time -f "archive --jobs $jobs: $fmt" \
            "$bin" analyze --quiet --jobs "$jobs" "$dir" > "$out/j$jobs.jsonl" || true
        cmp -s "$out/j$jobs.jsonl" "$out/lines.jsonl" || echo "archive --jobs $jobs: output differs"
    done
    /usr/bin/time -f "one process per dump: $fmt (RSS: the largest one)" \
        bash -c 'while read -r p; do "$0" analyze --format json "$p" > /dev/null 2>&1 || true; done < "$1"' \
        "$bin" "$out/paths"
done
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
