#!/usr/bin/env bash
# Installs the .deb that `cargo deb` built (target/debian/) on this machine,
# checks it the way a user meets it, then removes it: the binary from
# /usr/bin analyzes a fixture, `man -w pgsync-dump-analyze` finds the page,
# bash completes `pgsync-dump an<TAB>` to analyze. Fails loudly on any
# mismatch. Needs root (dpkg -i); .ci/run runs it.
set -euo pipefail
cd "$(dirname "$0")/.."

fail() {
    echo "deb-smoke: FAIL: $*" >&2
    exit 1
}

debs=(target/debian/pgsync-dump_*_amd64.deb)
[ ${#debs[@]} -eq 1 ] && [ -f "${debs[0]}" ] || fail "expected one target/debian/pgsync-dump_*_amd64.deb (run cargo deb), found: ${debs[*]}"
deb=${debs[0]}
[ "$(id -u)" -eq 0 ] || fail "dpkg -i needs root"
command -v man >/dev/null || {
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq man-db
}
if dpkg -s pgsync-dump >/dev/null 2>&1; then
    fail "pgsync-dump is already installed here; refusing to replace or remove a package this script did not install"
fi

dpkg -i "$deb" >/dev/null
# Removed however the checks end.
trap 'dpkg -r pgsync-dump >/dev/null || echo "deb-smoke: dpkg -r pgsync-dump failed" >&2' EXIT

echo "== files in the standard places"
want=(
    /usr/bin/pgsync-dump
    /usr/share/man/man1/pgsync-dump.1.gz
    /usr/share/man/man1/pgsync-dump-analyze.1.gz
    /usr/share/man/man1/pgsync-dump-info.1.gz
    /usr/share/man/man1/pgsync-dump-tasks.1.gz
    /usr/share/man/man1/pgsync-dump-dmesg.1.gz
    /usr/share/man/man1/pgsync-dump-vtop.1.gz
    /usr/share/man/man1/pgsync-dump-extract.1.gz
    /usr/share/bash-completion/completions/pgsync-dump
    /usr/share/zsh/vendor-completions/_pgsync-dump
    /usr/share/fish/vendor_completions.d/pgsync-dump.fish
    /usr/share/doc/pgsync-dump/README.md
    /usr/share/doc/pgsync-dump/copyright
)
listed=$(dpkg -L pgsync-dump)
for f in "${want[@]}"; do
    grep -qxF "$f" <<<"$listed" || fail "$f is not in the package"
    [ -e "$f" ] || fail "$f is listed but not on disk (a dpkg path-exclude?)"
done
for page in /usr/share/man/man1/pgsync-dump*.1.gz; do
    gzip -t "$page" || fail "$page is not a valid gzip file"
done
echo "${#want[@]} files present"

echo "== /usr/bin/pgsync-dump analyze fixtures/missing-4l/vmcore (exit 1 = findings)"
set +e
out=$(/usr/bin/pgsync-dump analyze fixtures/missing-4l/vmcore)
code=$?
set -e
[ "$code" -eq 1 ] || fail "analyze exited $code, expected 1"
first=$(head -n1 <<<"$out")
expected="missing-sync: kernel PGD slot 469 (vmemmap) present in init_mm, missing in 4 of 7 page tables"
[ "$first" = "$expected" ] || fail "analyze said: $first; expected: $expected"
echo "$first"
version=$(/usr/bin/pgsync-dump --version)
[[ "$version" =~ ^pgsync-dump\ [0-9]+\.[0-9]+\.[0-9]+\ \(git\ [0-9a-f]{12}(-dirty)?\)$ ]] \
    || fail "--version said: $version"
echo "$version"

echo "== man -w pgsync-dump-analyze"
page=$(man -w pgsync-dump-analyze) || fail "man -w pgsync-dump-analyze found no page"
[ "$page" = /usr/share/man/man1/pgsync-dump-analyze.1.gz ] || fail "man -w gave $page"
text=$(man pgsync-dump-analyze 2>/dev/null) || fail "man pgsync-dump-analyze failed"
grep -q "pgsync-dump analyze" <<<"$text" || fail "man pgsync-dump-analyze does not show the analyze synopsis"
echo "$page"

echo "== bash: pgsync-dump an<TAB>"
# The function the completion registers, as bash-completion would call it.
reply=$(bash -c '
    source /usr/share/bash-completion/completions/pgsync-dump
    spec=$(complete -p pgsync-dump) || exit 3
    fn=$(sed -n "s/.*-F \([^ ]*\).*/\1/p" <<<"$spec")
    COMP_WORDS=(pgsync-dump an); COMP_CWORD=1
    COMP_LINE="pgsync-dump an"; COMP_POINT=${#COMP_LINE}
    "$fn" pgsync-dump an pgsync-dump
    echo "${COMPREPLY[*]}"
') || fail "the bash completion did not load or register for pgsync-dump"
[ "$reply" = analyze ] || fail "pgsync-dump an<TAB> completed to '$reply', expected 'analyze'"
echo "$reply"

echo "== dpkg -r"
trap - EXIT
dpkg -r pgsync-dump >/dev/null
[ ! -e /usr/bin/pgsync-dump ] || fail "/usr/bin/pgsync-dump still there after dpkg -r"
[ ! -e /usr/share/man/man1/pgsync-dump-analyze.1.gz ] || fail "the man page is still there after dpkg -r"
echo "deb-smoke: ok ($deb)"
