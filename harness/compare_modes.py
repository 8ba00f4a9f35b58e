#!/usr/bin/env python3
"""Every harness dump analyzed twice: with the kernel's DWARF vmlinux, and with
nothing but the dump (its VMCOREINFO kallsyms and in-memory BTF; for kernels
without VMCOREINFO kallsyms, a System.map). The two JSON reports must be equal
but for where the debug information came from (`debuginfo`, `dump.vmlinux`):
findings, pids, slots, crash section, replay, problems, exit code.

    harness/compare_modes.py [--bin target/release/pgsync-dump] [--kernel REL]...

Debian's image packages ship a placeholder /boot/System.map ("The real
System.map is in the linux-image-<version>-dbg package"); where a kernel needs
one, it is made here from the -dbg vmlinux the way kbuild's scripts/mksysmap
makes it (`nm -n`, without the local labels and absolute symbols mksysmap
drops), and kept as kernels/<release>/System.map-<release>.
"""

import argparse
import concurrent.futures
import json
import os
import re
import subprocess
import sys
import threading
from collections import defaultdict

HARNESS = os.environ.get("PGSYNC_HARNESS_DIR", "/work/.cache/pgsync-harness")
# scripts/mksysmap drops these (local labels, compiler and linker artefacts).
MKSYSMAP_DROP = re.compile(r" ([aNUw]) | \$[adt]| \.L|__crc_|__kstrtab|__kstrtabns|__ksymtab")


MAP_LOCK = threading.Lock()


def system_map(release, vmlinux):
    with MAP_LOCK:
        return make_system_map(release, vmlinux)


def make_system_map(release, vmlinux):
    path = os.path.join(HARNESS, "kernels", release, f"System.map-{release}")
    if not os.path.exists(path):
        out = subprocess.run(["nm", "-n", vmlinux], capture_output=True, text=True, check=True).stdout
        lines = [l for l in out.splitlines() if not MKSYSMAP_DROP.search(l)]
        with open(path + ".tmp", "w") as f:
            f.write("\n".join(lines) + "\n")
        os.rename(path + ".tmp", path)
    return path


def needs_system_map(release, dump_dir):
    """VMCOREINFO has the kallsyms tables from Linux 6.0 (the harness's
    vmcoreinfo.txt tells; a directory without one, by its release)."""
    try:
        with open(os.path.join(dump_dir, "vmcoreinfo.txt")) as f:
            return "SYMBOL(kallsyms_names)" not in f.read()
    except OSError:
        return int(release.split(".")[0]) < 6


def run(binary, args):
    r = subprocess.run([binary, "analyze", "--format", "json", "--replay", *args],
                       capture_output=True, text=True)
    try:
        report = json.loads(r.stdout)
    except ValueError:
        return r.returncode, None, r.stderr.strip()[-400:]
    source = report.pop("debuginfo", {}).get("source")
    report["dump"].pop("vmlinux", None)
    return r.returncode, report, source


def compare(binary, release, dump_dir, file):
    vmcore = os.path.join(dump_dir, file)
    vmlinux = os.path.join(dump_dir, "vmlinux")
    dwarf = run(binary, [vmcore, "--vmlinux", vmlinux, "--debuginfo", "dwarf"])
    btf_args = [vmcore, "--debuginfo", "btf"]
    if needs_system_map(release, dump_dir):
        btf_args += ["--system-map", system_map(release, os.path.realpath(vmlinux))]
    btf = run(binary, btf_args)
    same = dwarf[0] == btf[0] and dwarf[1] is not None and dwarf[1] == btf[1] and btf[2] == "btf"
    why = "" if same else f"exit {dwarf[0]} vs {btf[0]}; btf: {btf[2] if btf[1] is None else 'reports differ'}"
    return release, os.path.basename(dump_dir), file, same, why


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default="target/release/pgsync-dump")
    ap.add_argument("--kernel", action="append", default=[])
    ap.add_argument("--jobs", type=int, default=2)
    a = ap.parse_args()
    jobs = []
    root = os.path.join(HARNESS, "dumps")
    for release in sorted(os.listdir(root)):
        if not os.path.isdir(os.path.join(root, release)):
            continue
        if a.kernel and not any(release.startswith(k) for k in a.kernel):
            continue
        for scenario in sorted(os.listdir(os.path.join(root, release))):
            d = os.path.join(root, release, scenario)
            if not os.path.exists(os.path.join(d, "vmlinux")):
                continue
            for f in sorted(os.listdir(d)):
                if f.startswith("vmcore.") or f == "vmcore":
                    jobs.append((release, d, f))
    per = defaultdict(lambda: [0, 0])
    bad = []
    with concurrent.futures.ThreadPoolExecutor(a.jobs) as ex:
        for release, scenario, file, same, why in ex.map(lambda j: compare(a.bin, *j), jobs):
            fmt = file.split(".", 1)[1] if "." in file else "elf"
            per[(release, fmt)][0 if same else 1] += 1
            if not same:
                bad.append(f"{release}/{scenario}/{file}: {why}")
    print("| kernel | format | same | different |")
    print("|---|---|---|---|")
    for (release, fmt), (s, d) in sorted(per.items()):
        print(f"| {release} | {fmt} | {s} | {d} |")
    total = sum(s for s, _ in per.values())
    diff = sum(d for _, d in per.values())
    print(f"\n{total + diff} dumps: {total} the same in both modes, {diff} different")
    for b in bad:
        print("DIFF", b)
    return 1 if diff else 0


if __name__ == "__main__":
    sys.exit(main())
