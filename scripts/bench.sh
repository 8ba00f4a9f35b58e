#!/usr/bin/env bash
# Performance figures for pgsync-dump (docs/benchmarks.md):
#  1. `cargo bench --bench analyze`: the large synthetic dumps (ELF, kdump
#     zlib and zstd; 1x, 1x padded, 2x).
#  2. If the real-kernel harness has made dumps, the release binary on
#     $CACHE/dumps/<release>/<scenario>/vmcore.{elf,zlib,lzo} (with
#     --vmlinux <dir>/vmlinux): median wall time of $RUNS warm runs, max RSS;
#     and drgn's referee (harness/referee.py in the harness venv) on the same
#     files: median of $DRGN_RUNS runs, max RSS. Prints one table.
#
# Environment:
#   CARGO_TARGET_DIR      cargo's target dir (default: target)
#   SKIP_SYNTH=1          skip step 1        SKIP_DRGN=1   skip drgn
#   RUNS=5 DRGN_RUNS=3    runs per file      FORMATS="elf zlib lzo"
#   COLD_RUNS=5           cold runs per file (0: no cold table)
#   COLD_MODES="dwarf btf"  cold runs with --vmlinux, and/or with the dump's
#                         own kallsyms and BTF (--debuginfo btf)
#   PGSYNC_HARNESS_CACHE  default /work/.cache/pgsync-harness
#   PGSYNC_HARNESS_DIR    where referee.py is (default /work/main/harness)
#   PGSYNC_BENCH_*        passed to the synthetic benchmark (benches/analyze.rs)
# The machine is shared: run when it is quiet; numbers are wall-clock.
set -euo pipefail

cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}"
RUNS="${RUNS:-5}"
DRGN_RUNS="${DRGN_RUNS:-3}"
FORMATS="${FORMATS:-elf zlib lzo}"
CACHE="${PGSYNC_HARNESS_CACHE:-/work/.cache/pgsync-harness}"
HARNESS="${PGSYNC_HARNESS_DIR:-/work/main/harness}"
PY="$CACHE/venv/bin/python"
REFEREE="$HARNESS/referee.py"
TIME=/usr/bin/time

if [[ ! -x $TIME ]]; then
    echo "bench.sh: $TIME is missing (apt-get install -y time)" >&2
    exit 2
fi

if [[ "${SKIP_SYNTH:-0}" != 1 ]]; then
    # Also the in-process phase breakdown on the real Debian dumps (bug-*
    # scenarios), when the harness made them.
    extra=""
    for d in "$CACHE"/dumps/*/bug-*; do
        for f in elf zlib; do
            [[ -f $d/vmcore.$f && -f $d/vmlinux ]] || continue
            rel=$(basename "$(dirname "$d")")
            extra+="${extra:+,}${rel%%-cloud-amd64}/$(basename "$d")=$d/vmcore.$f:$d/vmlinux"
        done
    done
    echo "== synthetic: cargo bench --bench analyze =="
    PGSYNC_BENCH_EXTRA="${PGSYNC_BENCH_EXTRA:-$extra}" cargo bench --bench analyze
    echo
fi

cargo build --release --bin pgsync-dump >&2
BIN="$CARGO_TARGET_DIR/release/pgsync-dump"

shopt -s nullglob
dirs=("$CACHE"/dumps/*/*/)
if ((${#dirs[@]} == 0)); then
    echo "no real-kernel dumps under $CACHE/dumps: done"
    exit 0
fi
drgn=0
if [[ "${SKIP_DRGN:-0}" != 1 && -x $PY && -f $REFEREE ]]; then
    drgn=1
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# median of numbers on stdin
median() { sort -g | awk '{a[NR]=$1} END {if (NR==0) print "nan"; else if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }

# measure N CMD...: runs CMD once to warm the page cache, then N times under
# /usr/bin/time (for the max RSS), timing each run with date +%s%N (ms
# resolution; %e has only 10 ms). Prints "median_wall_ms max_rss_kb", or
# "fail" if a run exits 2 or above 3 (analyze: 0 consistent, 1 findings,
# 3 incomplete).
measure() {
    local n=$1
    shift
    "$@" >/dev/null 2>&1 || true
    : >"$tmp/walls"
    local max=0 i rc s e wall rss
    for ((i = 0; i < n; i++)); do
        rc=0
        s=$(date +%s%N)
        $TIME -f "%M" -o "$tmp/t" "$@" >/dev/null 2>"$tmp/err" || rc=$?
        e=$(date +%s%N)
        if ((rc == 2 || rc > 3)); then
            echo fail
            return
        fi
        echo $(((e - s) / 1000)) >>"$tmp/walls"
        rss=$(tail -n 1 "$tmp/t")
        ((rss > max)) && max=$rss
    done
    wall=$(median <"$tmp/walls")
    echo "$(awk -v w="$wall" 'BEGIN {printf "%.1f", w / 1000}') $max"
}

printf '%-28s %-12s %-5s %12s %9s %9s %9s %8s %8s\n' \
    release scenario fmt "pgsync ms" "RSS MB" "drgn s" "drgn MB" "x faster" "x less"
for d in "${dirs[@]}"; do
    d=${d%/}
    scen=$(basename "$d")
    rel=$(basename "$(dirname "$d")")
    [[ -f $d/vmlinux ]] || continue
    for f in $FORMATS; do
        v="$d/vmcore.$f"
        [[ -f $v ]] || continue
        read -r pw prss <<<"$(measure "$RUNS" "$BIN" analyze "$v" --vmlinux "$d/vmlinux" --format json)" || true
        if [[ $pw == fail ]]; then
            printf '%-28s %-12s %-5s %12s\n' "$rel" "$scen" "$f" "error"
            continue
        fi
        pms=$pw
        pmb=$(awk -v r="$prss" 'BEGIN {printf "%.1f", r / 1024}')
        ds=- dmb=- rt=- rm=-
        if ((drgn)); then
            read -r dw drss <<<"$(measure "$DRGN_RUNS" "$PY" "$REFEREE" "$v" --vmlinux "$d/vmlinux" -o "$tmp/referee.json")" || true
            if [[ $dw != fail ]]; then
                ds=$(awk -v w="$dw" 'BEGIN {printf "%.2f", w / 1000}')
                dmb=$(awk -v r="$drss" 'BEGIN {printf "%.0f", r / 1024}')
                rt=$(awk -v a="$dw" -v b="$pw" 'BEGIN {printf "%.0f", a / b}')
                rm=$(awk -v a="$drss" -v b="$prss" 'BEGIN {printf "%.1f", a / b}')
            else
                ds=fail
            fi
        fi
        printf '%-28s %-12s %-5s %12s %9s %9s %9s %8s %8s\n' \
            "$rel" "$scen" "$f" "$pms" "$pmb" "$ds" "$dmb" "$rt" "$rm"
    done
done
echo "(median of $RUNS warm runs for pgsync-dump, $DRGN_RUNS for drgn; RSS = max over the runs, mapped file pages included)"

# Cold page cache (the first look at a fresh dump): before each run, both the
# dump and the vmlinux are evicted (`dd iflag=nocache count=0` is
# posix_fadvise(POSIX_FADV_DONTNEED) on the whole file); after it, `fincore`
# says how much of each the run brought into the page cache. Needs no root,
# but only drops pages no other process has mapped. COLD_RUNS=0 skips it.
COLD_RUNS="${COLD_RUNS:-5}"
if ((COLD_RUNS > 0)); then
    if ! command -v fincore >/dev/null; then
        echo "bench.sh: fincore (util-linux) is missing: no cold figures" >&2
        exit 2
    fi
    evict() { dd if="$1" iflag=nocache count=0 status=none; }
    resident_mb() { awk -v b="$(fincore -nb -o RES "$1")" 'BEGIN {printf "%.1f", b / 1048576}'; }
    echo
    # COLD_MODES: dwarf (--vmlinux, both files evicted) and/or btf (the
    # dump's own kallsyms and BTF, `--debuginfo btf`, only the dump evicted).
    COLD_MODES="${COLD_MODES:-dwarf btf}"
    printf '%-28s %-12s %-5s %-5s %10s %10s %12s %12s\n' \
        release scenario fmt mode "cold ms" "min ms" "dump MB" "vmlinux MB"
    for d in "${dirs[@]}"; do
        d=${d%/}
        [[ -f $d/vmlinux ]] || continue
        vmlinux=$(readlink -f "$d/vmlinux")
        for f in $FORMATS; do
            v="$d/vmcore.$f"
            [[ -f $v ]] || continue
            for mode in $COLD_MODES; do
                : >"$tmp/walls"
                for ((i = 0; i < COLD_RUNS; i++)); do
                    evict "$v"
                    evict "$vmlinux"
                    s=$(date +%s%N)
                    if [[ $mode == btf ]]; then
                        "$BIN" analyze "$v" --debuginfo btf --offline --format json >/dev/null 2>&1 || true
                    else
                        "$BIN" analyze "$v" --vmlinux "$vmlinux" --format json >/dev/null 2>&1 || true
                    fi
                    e=$(date +%s%N)
                    echo $(((e - s) / 1000)) >>"$tmp/walls"
                done
                vm_mb=$(resident_mb "$vmlinux")
                [[ $mode == btf ]] && vm_mb=-
                printf '%-28s %-12s %-5s %-5s %10s %10s %12s %12s\n' \
                    "$(basename "$(dirname "$d")")" "$(basename "$d")" "$f" "$mode" \
                    "$(median <"$tmp/walls" | awk '{printf "%.1f", $1 / 1000}')" \
                    "$(sort -g "$tmp/walls" | head -n 1 | awk '{printf "%.1f", $1 / 1000}')" \
                    "$(resident_mb "$v")" "$vm_mb"
            done
        done
    done
    echo "(median and min of $COLD_RUNS cold runs; MB = page cache held by each file after the last run)"
fi
