#!/bin/sh
# pgsync-kdump-hook [OUTDIR]: pgsync-dump's verdict on /proc/vmcore, made in
# the kdump capture kernel before (or after) the dump is saved. POSIX sh
# (busybox, dash, bash). docs/kdump.md wires it into Debian's kdump-tools and
# into dracut-based kdump (RHEL, Fedora).
#
# Never blocks or breaks the capture: the analysis runs under `timeout`
# (PGSYNC_TIMEOUT seconds, default 30; SIGKILL), its failures are logged, and
# the hook always exits 0 (kdump.conf's kdump_pre takes a non-zero exit as a
# failed capture). It reads /proc/vmcore in place (mapped; nothing is
# copied or written there) and writes into OUTDIR (default /var/crash):
#   pgsync-dump.<UTC stamp>.json   the analyze JSON report (docs/json-schema.md)
#   pgsync-dump.<UTC stamp>.err    stderr (one line per error), and the exit code
# and one line to the kernel log (/dev/kmsg: console, netconsole, and the
# journal once the machine is back), which log pipelines pick up:
#   pgsync-dump: exit 1 verdict missing-sync file /var/crash/pgsync-dump.20261201T174200Z.json
# Environment: PGSYNC_DUMP (the binary; default pgsync-dump on PATH, else
# /usr/local/bin/pgsync-dump), PGSYNC_VMCORE (default /proc/vmcore),
# PGSYNC_ARGS (more analyze options, e.g. "--vmlinux /path" or "--replay").
out=${1:-/var/crash}
vmcore=${PGSYNC_VMCORE:-/proc/vmcore}
bin=${PGSYNC_DUMP:-$(command -v pgsync-dump || echo /usr/local/bin/pgsync-dump)}
limit=${PGSYNC_TIMEOUT:-30}
stamp=$(date -u +%Y%m%dT%H%M%SZ)
json=$out/pgsync-dump.$stamp.json
err=$out/pgsync-dump.$stamp.err

say() {
	echo "pgsync-dump: $*" > /dev/kmsg 2> /dev/null || echo "pgsync-dump: $*" >&2
}

mkdir -p "$out" 2> /dev/null
if [ ! -x "$bin" ]; then
	say "not run: no executable $bin"
	exit 0
fi
run=""
command -v timeout > /dev/null 2>&1 && run="timeout -s KILL $limit"
# shellcheck disable=SC2086 # PGSYNC_ARGS is a list of options
$run "$bin" analyze "$vmcore" --format json $PGSYNC_ARGS > "$json" 2> "$err"
rc=$?
echo "exit $rc" >> "$err"
# exit codes (docs/cli.md): 0 consistent, 1 findings, 3 incomplete, 2 cannot
# analyze; 137 = killed by the time budget
verdict=$(sed -n 's/^ *"verdict": *"\([a-z-]*\)".*/\1/p' "$json" 2> /dev/null | tail -1)
[ "$rc" = 137 ] && verdict="timeout-${limit}s"
say "exit $rc verdict ${verdict:-none} file $json"
exit 0
