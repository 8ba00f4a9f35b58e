#!/usr/bin/env bash
# Behaviour check for refactors: runs the binary built from BASE (a git revision) and the
# binary built from the working tree over every committed fixture and, when present, every
# dump of the real-kernel harness, and compares what they print.
#
#   scripts/same-output.sh [BASE]          # BASE defaults to the merge-base with origin/main, else HEAD
#   PGSYNC_HARNESS_DIR=/work/.cache/pgsync-harness scripts/same-output.sh 8cd4728
#
# Compared, for each dump (split parts are given together):
#   analyze --format json              byte for byte (or but for ADDED_KEYS, see below), exit code
#   analyze --format json --replay     byte for byte (or but for ADDED_KEYS), and the exit code
#   analyze (table)                    byte for byte, and the exit code
#   info --format json, tasks --format json
#                                      as JSON values (key order may differ), and the exit code
#   info, tasks (tables)               byte for byte (output piped: full rows), and the exit code
#   dmesg                              byte for byte, and the exit code
#   extract -o DIR                     every written file byte for byte, and the exit code
# Exits 0 when everything is the same, 1 with a list of differences otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

base=${1:-}
if [ -z "$base" ]; then
    base=$(git merge-base HEAD origin/main 2>/dev/null || git rev-parse HEAD)
fi
base=$(git rev-parse --verify "$base^{commit}")

work=${SAME_OUTPUT_DIR:-$root/target/same-output}
mkdir -p "$work"
base_tree=$work/base-$base
# SAME_OUTPUT_OLD_BIN: a binary already built from BASE (saves a release build).
if [ -n "${SAME_OUTPUT_OLD_BIN:-}" ]; then
    old=$SAME_OUTPUT_OLD_BIN
elif [ ! -x "$base_tree/target/release/pgsync-dump" ]; then
    rm -rf "$base_tree"
    git worktree prune
    git worktree add --detach "$base_tree" "$base" >/dev/null
    (cd "$base_tree" && cargo build --release --locked --quiet --bin pgsync-dump)
fi
old=${old:-$base_tree/target/release/pgsync-dump}
cargo build --release --locked --quiet --bin pgsync-dump
new=$root/target/release/pgsync-dump

# Every directory holding dumps: the committed fixtures, then the harness's dumps.
dirs=()
while IFS= read -r d; do dirs+=("$d"); done < <(
    find fixtures -name 'vmcore*' -type f -printf '%h\n' | sort -u
    if [ -n "${PGSYNC_HARNESS_DIR:-}" ] && [ -d "$PGSYNC_HARNESS_DIR/dumps" ]; then
        find -L "$PGSYNC_HARNESS_DIR/dumps" -name 'vmcore*' -type f -printf '%h\n' | sort -u
    fi
)

# The dumps of one directory: every vmcore* file on its own, except the parts of a split
# dump (vmcore.split.N), which are one dump.
dumps_in() {
    local d=$1 f
    for f in "$d"/vmcore*; do
        case $f in
            *.split.[0-9]*) ;;
            *.json|*.log|*.txt) ;;
            *) [ -f "$f" ] && printf '%s\n' "$f" ;;
        esac
    done
    if compgen -G "$d/vmcore.split.*" >/dev/null; then
        printf '%s\n' "$(ls "$d"/vmcore.split.* | sort -V | tr '\n' ' ')"
    fi
}

# Keys a change adds to the JSON report on purpose (additive: schema stays v1).
# A report that differs from the base only by these keys (same key order, same
# values otherwise) counts as "same but for additive keys".
# A path through a list applies to each element (problems.scope: every problem's scope).
#   crash.explanation: issue 9, the crash explanation as a stable code.
#   dump.dump_level, dump_level, dump_level_excludes (info), problems.{scope,affects,
#   not_in_dump}, lost_to_filter, summary.partial_attribution, replay.kernel_has_fix:
#   issue 12 (what a filtered dump lost, and whether the kernel already has the fix).
# Table output has no such allowance: a table that gains a line is listed as a difference.
ADDED_KEYS=${ADDED_KEYS:-crash.explanation dump.dump_level dump_level dump_level_excludes problems.scope problems.affects problems.not_in_dump lost_to_filter summary.partial_attribution replay.kernel_has_fix debuginfo}
# additive_only OLD NEW [sort]: NEW equals OLD once ADDED_KEYS are dropped from it; with
# "sort", key order is free (info, tasks), else it must match too (the report).
additive_only() { # old new [sort]
    python3 - "$1" "$2" "$ADDED_KEYS" "${3:-}" <<'PY'
import json, sys
old, new = (json.load(open(p)) for p in sys.argv[1:3])
def drop(node, parts):
    if isinstance(node, list):
        for x in node:
            drop(x, parts)
    elif isinstance(node, dict):
        if len(parts) == 1:
            node.pop(parts[0], None)
        else:
            drop(node.get(parts[0]), parts[1:])
for path in sys.argv[3].split():
    drop(new, path.split("."))
sort = sys.argv[4] == "sort"
sys.exit(0 if json.dumps(old, sort_keys=sort) == json.dumps(new, sort_keys=sort) else 1)
PY
}
additive_only_json() { additive_only "$1" "$2" sort; }

diffs=0
added=0
runs=0
out=$work/run
mkdir -p "$out"
compare_run() { # name normalise(json|bytes) args...
    local name=$1 how=$2
    shift 2
    local a=$out/old b=$out/new ca=0 cb=0
    "$old" "$@" >"$a" 2>"$a.err" || ca=$?
    "$new" "$@" >"$b" 2>"$b.err" || cb=$?
    runs=$((runs + 1))
    if [ "$how" = json ] && [ -s "$a" ] && [ -s "$b" ] &&
        python3 -c 'import json,sys; [print(json.dumps(json.load(open(p)), sort_keys=True)) for p in sys.argv[1:]]' "$a" "$b" >"$out/norm" 2>/dev/null; then
        if [ "$(sed -n 1p "$out/norm")" != "$(sed -n 2p "$out/norm")" ]; then
            if additive_only_json "$a" "$b"; then
                added=$((added + 1))
            else
                echo "DIFF $name: JSON values differ"; diffs=$((diffs + 1)); return
            fi
        fi
    elif [ "$how" = report ] && ! cmp -s "$a" "$b" && additive_only "$a" "$b"; then
        added=$((added + 1))
    elif ! cmp -s "$a" "$b"; then
        echo "DIFF $name: stdout differs"; { diff "$a" "$b" || true; } | head -5; diffs=$((diffs + 1)); return
    fi
    if [ "$ca" != "$cb" ]; then
        echo "DIFF $name: exit $ca before, $cb after"; diffs=$((diffs + 1))
    fi
}

# extract: the files written must be the same bytes (and the exit code the same).
compare_extract() { # name parts...
    local name=$1 ca=0 cb=0
    shift
    rm -rf "$out/xa" "$out/xb"
    "$old" extract -o "$out/xa" "$@" >/dev/null 2>&1 || ca=$?
    "$new" extract -o "$out/xb" "$@" >/dev/null 2>&1 || cb=$?
    runs=$((runs + 1))
    if [ "$ca" != "$cb" ]; then
        echo "DIFF extract $name: exit $ca before, $cb after"; diffs=$((diffs + 1))
    elif [ -d "$out/xa" ] && ! diff -r "$out/xa" "$out/xb" >/dev/null 2>&1; then
        echo "DIFF extract $name: written files differ"; diffs=$((diffs + 1))
    fi
}

ndumps=0
for d in "${dirs[@]}"; do
    while IFS= read -r dump; do
        [ -n "$dump" ] || continue
        # shellcheck disable=SC2206
        parts=($dump)
        ndumps=$((ndumps + 1))
        compare_run "analyze json $dump" report analyze --format json "${parts[@]}"
        compare_run "analyze json --replay $dump" report analyze --format json --replay "${parts[@]}"
        compare_run "analyze table $dump" bytes analyze "${parts[@]}"
        compare_run "info json $dump" json info --format json "${parts[@]}"
        compare_run "tasks json $dump" json tasks --format json "${parts[@]}"
        compare_run "info table $dump" bytes info "${parts[@]}"
        compare_run "tasks table $dump" bytes tasks "${parts[@]}"
        compare_run "dmesg $dump" bytes dmesg "${parts[@]}"
        compare_extract "$dump" "${parts[@]}"
    done < <(dumps_in "$d")
done

echo "same-output: base $base vs working tree: $ndumps dumps, $runs runs, $diffs differences, $added the same but for the additive keys ($ADDED_KEYS)"
[ "$diffs" -eq 0 ]
