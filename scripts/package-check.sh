#!/usr/bin/env bash
# `cargo package` as crates.io would receive it (no upload), then the
# packaged crate on its own: unpacked outside the repository, its unit tests
# and doc-tests run from the packaged sources only. Proves the include list
# in Cargo.toml ships everything they need (and `cargo install pgsync-dump`
# builds). Prints the package size. .ci/run runs it.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
# A target dir of its own: cargo package verifies in the workspace's target
# dir and would put the packaged build's binary in target/debug, where the
# tests run it (with the commit the package recorded).
export CARGO_TARGET_DIR="$root/target/package-check"

version=$(cargo metadata --no-deps --format-version 1 --locked \
    | python3 -c 'import json,sys; print(next(p["version"] for p in json.load(sys.stdin)["packages"] if p["name"] == "pgsync-dump"))')
crate=$CARGO_TARGET_DIR/package/pgsync-dump-$version.crate

echo "== cargo package --locked (builds the packaged sources)"
cargo package --locked --package pgsync-dump
[ -f "$crate" ] || { echo "package-check: $crate not written" >&2; exit 1; }
echo "$crate: $(stat -c %s "$crate") bytes, $(tar tzf "$crate" | wc -l) files"
if tar tzf "$crate" | grep -E '^pgsync-dump-[^/]+/(fuzz|harness|tests|benches|crates)/'; then
    echo "package-check: the files above must not be in the package" >&2
    exit 1
fi

echo "== unit tests and doc-tests from the unpacked package"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
tar xzf "$crate" -C "$scratch"
cd "$scratch/pgsync-dump-$version"
# Outside the repository (no .git above): the build sees what a user's
# `cargo install` sees; dependencies come built from the verify step.
cargo test --locked --lib
cargo test --locked --doc
echo "package-check: ok"
