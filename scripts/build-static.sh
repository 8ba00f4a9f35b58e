#!/usr/bin/env bash
# A fully static pgsync-dump for a kdump capture kernel's initramfs
# (docs/kdump.md): glibc linked in with `-C target-feature=+crt-static`,
# the installed toolchain's own x86_64-unknown-linux-gnu target (no
# toolchain or target download), reader only (no `write` feature: the
# capture kernel analyzes, it never extracts).
#
#   scripts/build-static.sh [--check]
#
# Prints the path of the stripped copy,
# target/x86_64-unknown-linux-gnu/release/pgsync-dump-static (the build,
# pgsync-dump next to it, keeps its debug info; an explicit --target keeps
# RUSTFLAGS away from build scripts and proc macros). Then checks
# that `file` calls it statically linked and `ldd` finds no dynamic
# dependency; --check only runs that check on an existing build.
set -euo pipefail
cd "$(dirname "$0")/.."
target=x86_64-unknown-linux-gnu
built=target/$target/release/pgsync-dump
bin=$built-static
if [ "${1:-}" != --check ]; then
    RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+crt-static" \
        cargo build --release --locked --quiet --target "$target" \
        --no-default-features --bin pgsync-dump >&2
    # an initramfs carries it: debug info and symbols are 3/4 of the size
    strip -o "$bin" "$built"
fi
[ -x "$bin" ] || { echo "build-static: no $bin" >&2; exit 1; }
desc=$(file -b "$bin")
case $desc in
*"statically linked"* | *"static-pie linked"*) ;;
*) echo "build-static: $bin is not static: $desc" >&2; exit 1 ;;
esac
# ldd says "not a dynamic executable" (exit 1) or, for static-pie,
# "statically linked"; any "=>" line is a shared library it would load.
if ldd "$bin" 2>&1 | grep -q '=>'; then
    echo "build-static: ldd finds shared libraries in $bin:" >&2
    ldd "$bin" >&2
    exit 1
fi
echo "$bin"
