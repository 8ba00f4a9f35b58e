#!/bin/sh
# Runs one fuzz target's campaign on this machine's stable toolchain.
#
#   fuzz/run.sh TARGET [RUNS] [SECONDS]     e.g. fuzz/run.sh kdump 1000000 1800
#   fuzz/run.sh --merge TARGET              minimise corpus-raw/TARGET into corpus/TARGET
#
# cargo-fuzz needs nightly rustc flags (-Zsanitizer, -Cpasses=sancov-module);
# RUSTC_BOOTSTRAP=1 lets the stable compiler accept them. The targets are
# safe Rust (the only unsafe code is the two mmaps, which fuzzing does not
# use), so they are built without a sanitizer (-s none) but, as cargo-fuzz
# does by default, optimised *with* debug assertions and overflow checks:
# an arithmetic overflow is a crash. Crashes land in artifacts/TARGET/;
# replay one with `target/x86_64-unknown-linux-gnu/release/TARGET FILE`.
# New corpus entries go to corpus-raw/TARGET (not committed), seeded from
# the committed corpus/TARGET.
set -eu
cd "$(dirname "$0")"
export RUSTC_BOOTSTRAP=1
B=target/x86_64-unknown-linux-gnu/release
if [ "$1" = "--merge" ]; then
  t=$2
  cargo fuzz build -s none "$t"
  mkdir -p "corpus/$t.new"
  # A set cover of the features; for whole-file targets, of the edges only
  # (hit-count buckets would keep many near-copies of 200 KB dumps).
  case "$t" in
    kdump|elf_vmcore|dwarf_types|task_walk) edges="-use_counters=0" ;;
    *) edges="" ;;
  esac
  "$B/$t" -set_cover_merge=1 $edges -rss_limit_mb=2048 -timeout=10 \
    "corpus/$t.new" "corpus/$t" "corpus-raw/$t"
  rm -rf "corpus/$t" && mv "corpus/$t.new" "corpus/$t"
  exit 0
fi
t=$1
runs=${2:-1000000}
secs=${3:-1800}
cargo fuzz build -s none "$t"
mkdir -p "artifacts/$t" "corpus-raw/$t" "corpus/$t"
exec "$B/$t" "corpus-raw/$t" "corpus/$t" -runs="$runs" -max_total_time="$secs" \
  -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 -artifact_prefix="artifacts/$t/"
