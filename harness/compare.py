#!/usr/bin/env python3
"""Compare `pgsync-dump analyze --format json` with the drgn referee on every
harness dump, in every format; exit 1 on any difference.

For each dump directory with a referee.json (drgn on vmcore.elf), every
vmcore.* there is analyzed and compared with the ELF's truth (drgn cannot open
QEMU's kdump files, so the ELF twin's result stands for them). Compared: the
set of page tables (pgd_va), each table's sources, pids and mm, each table's
differing slots (slot, kind, expected, actual entries), the verdict, and the
fault address of the crash (once the crash section is filled).

Dumps whose referee reported read errors (makedumpfile -d 31 dropping slab
pages on 6.12) must come out `incomplete` or with the same findings, and are
listed separately.

Arguments: kernel releases (directory names under dumps/) to compare; none
compares every release in the cache.
"""
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.environ.get("PGSYNC_HARNESS_DIR", "/work/.cache/pgsync-harness") + "/dumps"
HERE = os.path.dirname(os.path.abspath(__file__))
BIN = os.environ.get("PGSYNC_DUMP", os.path.join(HERE, "..", "target", "release", "pgsync-dump"))
FORMATS = ["elf", "elf-d31", "none", "zlib", "lzo", "qemu-kdump", "qemu-kdump-flat"]


def referee_truth(ref):
    """pgd_va -> (sources, pids, mm, diffs) from the referee, init_mm excluded."""
    init_pa = int(ref["init_mm_pgd_pa"], 16) & ((1 << 64) - 1)
    out = {}
    for t in ref["page_tables"]:
        if (t.get("note") or "").startswith("init_mm"):
            continue
        va = int(t["pgd_va"], 16)
        pa = va - int(ref["page_offset_base"], 16)
        if pa == init_pa:
            continue  # a CPU's CR3 on init_top_pgt through its direct-map alias
        sources = sorted({s.split(":")[0] for s in t["sources"]})
        diffs = sorted((d["slot"], d["kind"], d["expected"], d["actual"]) for d in t["diff_slots"])
        out[t["pgd_va"]] = (sources, sorted(t["pids"]), t["mm"], diffs)
    return out


def ours_truth(rep):
    out = {}
    diffs = {}
    for f in rep["findings"]:
        diffs.setdefault(f["pgd_va"], []).append((f["pgd_index"], f["kind"], f["expected"], f["actual"]))
    for t in rep["page_tables"]:
        if t["status"] == "skipped":
            continue
        out[t["pgd_va"]] = (
            sorted(t["sources"]),
            sorted(x["pid"] for x in t["tasks"]),
            t["mm"] or "0x0",
            sorted(diffs.get(t["pgd_va"], [])),
        )
    return out


# Peak RSS (KiB) of the last pgsync-dump run compare() made (harness/matrix.py).
last_peak_rss_kb = None


def run_measured(argv):
    """subprocess.run(capture_output, text) plus the child's peak RSS in KiB
    (GNU time's %M; None without /usr/bin/time)."""
    if not os.path.exists("/usr/bin/time"):
        done = subprocess.run(argv, capture_output=True, text=True)
        done.peak_rss_kb = None
        return done
    with tempfile.NamedTemporaryFile("r", suffix=".rss") as f:
        done = subprocess.run(["/usr/bin/time", "-q", "-f", "%M", "-o", f.name, *argv],
                              capture_output=True, text=True)
        text = f.read().strip().splitlines()
    done.peak_rss_kb = int(text[-1]) if text and text[-1].isdigit() else None
    return done


def compare(d, fmt, ref, lossy):
    path = os.path.join(d, "vmcore." + fmt)
    if not os.path.exists(path):
        return None
    global last_peak_rss_kb
    t0 = time.monotonic()
    p = run_measured([BIN, "analyze", "--format", "json", "--vmlinux", os.path.join(d, "vmlinux"), path])
    ms = (time.monotonic() - t0) * 1000
    last_peak_rss_kb = p.peak_rss_kb
    if p.returncode not in (0, 1, 3):
        return [f"exit {p.returncode}: {p.stderr.strip()}"], ms, None
    try:
        rep = json.loads(p.stdout)
    except ValueError as e:
        return [f"exit {p.returncode}, output is not JSON ({e}): {p.stderr.strip()}"], ms, None
    return compare_report(rep, ref, lossy), ms, rep["summary"]["verdict"]


def compare_report(rep, ref, lossy):
    """Differences between one pgsync-dump JSON report and the referee's
    result (harness/kdump_compare.py also checks the capture kernel's)."""
    problems = []
    want, got = referee_truth(ref), ours_truth(rep)
    for va in sorted(set(want) | set(got)):
        if va not in got:
            problems.append(f"page table {va} found by drgn only: {want[va]}")
        elif va not in want:
            problems.append(f"page table {va} found by pgsync-dump only: {got[va]}")
        elif lossy and want[va][3] != got[va][3]:
            problems.append(f"page table {va}: drgn {want[va][3]} vs pgsync-dump {got[va][3]}")
        elif not lossy and want[va] != got[va]:
            problems.append(f"page table {va}: drgn {want[va]} vs pgsync-dump {got[va]}")
    if lossy and not rep["problems"]:
        problems.append("pages are missing from this dump but pgsync-dump reported no problem")
    crash = rep.get("crash")
    if ref.get("fault_address") and crash is not None:
        if crash.get("fault_address") != ref["fault_address"]:
            problems.append(f"fault address: drgn {ref['fault_address']} vs {crash.get('fault_address')}")
        if crash.get("pid") != ref.get("crash_pid"):
            problems.append(f"crash pid: drgn {ref.get('crash_pid')} vs {crash.get('pid')}")
    return problems


def main():
    failures = 0
    rows = []
    wanted = set(sys.argv[1:])
    for rel in sorted(os.listdir(ROOT)):
        if not os.path.isdir(os.path.join(ROOT, rel)) or (wanted and rel not in wanted):
            continue
        for scen in sorted(os.listdir(os.path.join(ROOT, rel))):
            d = os.path.join(ROOT, rel, scen)
            refp = os.path.join(d, "referee.json")
            if not os.path.exists(refp):
                continue
            ref = json.load(open(refp))
            for fmt in FORMATS:
                # A format the referee itself could not fully read (makedumpfile
                # dropped slab pages): the same slot differences per table, task
                # attribution may be partial, and the loss must be reported.
                fref = os.path.join(d, f"referee-{fmt}.json")
                lossy = bool(os.path.exists(fref) and json.load(open(fref)).get("errors"))
                r = compare(d, fmt, ref, lossy)
                if r is None:
                    continue
                problems, ms, verdict = r
                status = ("lossy" if lossy else "ok") if not problems else "DIFF"
                if status == "DIFF":
                    failures += 1
                rows.append((rel, scen, fmt, status, verdict, ms))
                for p in problems if status == "DIFF" else []:
                    print(f"  {rel}/{scen}/{fmt}: {p}")
    for r in rows:
        print(f"{r[0]:32} {r[1]:12} {r[2]:16} {r[3]:6} {r[4] or '-':14} {r[5]:7.1f} ms")
    print(f"{len(rows)} dumps compared, {failures} with differences")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
