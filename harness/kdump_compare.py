#!/usr/bin/env python3
"""Check the kdump-path dumps (harness/run --kdump): three ways must agree.

For each dumps/<release>/kdump-<scenario>-<mode>/ directory:
1. the capture kernel's own `pgsync-dump analyze /proc/vmcore` JSON
   (capture/analyze*.json, made inside the capture kernel);
2. the host's `pgsync-dump analyze` of the two files the capture kernel saved
   (vmcore.kdump-elf: plain copy; vmcore.kdump-d31: makedumpfile -c -d 31);
3. the drgn referee on those files (referee-kdump-elf.json is the truth).
Compared: page tables, sources, pids, mm, slots (harness/compare.py), and the
crash: pid, CPU, fault address, the crashing page table; the `--replay`
sections of the capture kernel and of the host runs must be equal. Also
checked: the dump's NT_PRSTATUS notes (one per CPU of the crashed kernel,
the crashing CPU's pr_pid is the crashing pid) and the capture kernel's CPU
count (nr_cpus=1).

The capture kernel's run without a vmlinux reads the dump's own kallsyms
and BTF (issue 10): its `debuginfo.source` must be "btf". Runs from before
that mode ended in an error, listed as "no-debuginfo"; --require-no-vmlinux
(harness/run and kdump.sh pass it) makes that a failure. The host also
analyzes both saved files with `--debuginfo btf`: same findings, crash and
replay as with the vmlinux. Directories made without the vmlinux disk
(kdump-*-novmlinux, capture/vmlinux-disk "none") have no "--vmlinux" runs.
Any other difference fails (exit 1). Arguments: releases (none: every
release) or dump directories.
"""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import compare as cmp  # noqa: E402
import elf_notes  # noqa: E402

REQUIRE_NO_VMLINUX = "--require-no-vmlinux" in sys.argv
ARGS = [a for a in sys.argv[1:] if not a.startswith("--")]
# a dump directory as argument: check that one only
DIRS = [a for a in ARGS if os.path.isdir(a)]


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def crash_problems(rep, ref, who):
    out = []
    crash = rep.get("crash")
    if crash is None:
        # a sysrq crash panics without an oops: no crash section, as for
        # QEMU dumps; a page fault must have one
        if ref.get("fault_address") is None:
            return out
        return [f"{who}: no crash section (referee: pid {ref.get('crash_pid')})"]
    for ours, theirs in (("pid", "crash_pid"), ("cpu", "crash_cpu"), ("fault_address", "fault_address"),
                         ("pgd_va", "crash_pgd_va")):
        if crash.get(ours) != ref.get(theirs):
            out.append(f"{who}: crash {ours} {crash.get(ours)} vs referee {ref.get(theirs)}")
    return out


def host_report(d, fmt, replay, btf=False):
    dbg = ["--debuginfo", "btf"] if btf else ["--vmlinux", os.path.join(d, "vmlinux")]
    argv = [cmp.BIN, "analyze", "--format", "json"] + dbg + \
        [os.path.join(d, "vmcore." + fmt)] + (["--replay"] if replay else [])
    p = subprocess.run(argv, capture_output=True, text=True)
    try:
        return json.loads(p.stdout)
    except ValueError:
        return {"error": f"exit {p.returncode}: {p.stderr.strip()}"}


def check_dir(d):
    """(status, problems, row facts)"""
    stored = load(os.path.join(d, "kdump-compare.json"))
    if not os.path.exists(os.path.join(d, "vmcore.kdump-elf")) and stored:
        # the plain copy was deleted after its check (harness/kdump.sh keeps
        # only the small files unless PGSYNC_KDUMP_KEEP=1): that check stands
        stored["facts"]["stored"] = True
        return stored["status"], stored["problems"], stored["facts"]
    problems, facts = [], {}
    ref = load(os.path.join(d, "referee-kdump-elf.json"))
    if ref is None:
        return "NOREF", ["no referee-kdump-elf.json"], facts
    refd31 = load(os.path.join(d, "referee-kdump-d31.json"))
    lossy = bool(refd31 and refd31.get("errors"))
    # the notes: the crashed kernel's crash_notes, one per possible CPU
    notes = elf_notes.summarize(os.path.join(d, "vmcore.kdump-elf"))
    pids = [c["pr_pid"] for c in notes["prstatus"]]
    facts["prstatus_pids"] = pids
    facts["qemu_notes"] = len(notes["qemu_cpus"])
    if facts["qemu_notes"]:
        problems.append("a QEMU CPU note in a kdump dump")
    cpu = ref.get("crash_cpu")
    if cpu is None or cpu >= len(pids) or pids[cpu] != ref.get("crash_pid"):
        problems.append(f"PRSTATUS pids {pids}: crashing CPU {cpu} should carry pid {ref.get('crash_pid')}")
    facts["capture_cpus"] = open(os.path.join(d, "capture", "capture-cpus")).read().strip()
    # 2. the host on both saved files
    host = {}
    for fmt in ("kdump-elf", "kdump-d31"):
        r = cmp.compare(d, fmt, ref, lossy and fmt == "kdump-d31")
        if r is None:
            problems.append(f"no vmcore.{fmt}")
            continue
        p, ms, verdict = r
        problems += [f"host {fmt}: {x}" for x in p]
        facts[f"host-{fmt}"] = verdict
        rep = host_report(d, fmt, replay=True)
        if "error" in rep:
            problems.append(f"host {fmt} --replay: {rep['error']}")
            continue
        problems += crash_problems(rep, ref, f"host {fmt}")
        host[fmt] = rep
        # the same file with only its own kallsyms and BTF
        btf = host_report(d, fmt, replay=True, btf=True)
        who = f"host {fmt} --debuginfo btf"
        if "error" in btf:
            problems.append(f"{who}: {btf['error']}")
            continue
        problems += [f"{who}: {x}" for x in cmp.compare_report(btf, ref, lossy and fmt == "kdump-d31")]
        problems += crash_problems(btf, ref, who)
        if btf.get("replay") != rep.get("replay"):
            problems.append(f"{who}: --replay differs from the run with the vmlinux")
        facts[f"host-{fmt}-btf"] = btf["summary"]["verdict"]
    # the hook (scripts/kdump-hook.sh) ran in the capture kernel, exited 0
    # and left its files, whatever the analysis did
    hook = os.path.join(d, "capture", "hook")
    errs = sorted(f for f in os.listdir(hook) if f.endswith(".err")) if os.path.isdir(hook) else []
    hook_exit = open(os.path.join(d, "capture", "hook.exit")).read().strip() \
        if os.path.exists(os.path.join(d, "capture", "hook.exit")) else None
    if hook_exit != "hook exit 0" or len(errs) != 1:
        problems.append(f"hook: {hook_exit}, files {errs}")
    else:
        facts["hook"] = open(os.path.join(hook, errs[0])).read().strip().splitlines()[-1]
    # 1. the capture kernel
    disk_file = os.path.join(d, "capture", "vmlinux-disk")
    no_disk = (open(disk_file).read().strip() == "none") if os.path.exists(disk_file) \
        else os.environ.get("PGSYNC_KDUMP_NO_VMLINUX") == "1"
    facts["vmlinux-disk"] = "none" if no_disk else "present"
    for name, label in (("analyze-vmlinux", "capture --vmlinux"), ("analyze", "capture (no vmlinux)")):
        stat = load(os.path.join(d, "capture", name + ".stat"))
        if stat is None:
            if name == "analyze" or not no_disk:
                problems.append(f"{label}: not run")
            continue
        facts[name] = stat
        rep = load(os.path.join(d, "capture", name + ".json"))
        if rep is None:
            err = open(os.path.join(d, "capture", name + ".err")).read().strip().splitlines()
            facts[name + "-error"] = err[-1] if err else ""
            if name == "analyze" and not REQUIRE_NO_VMLINUX:
                facts[name + "-status"] = "no-debuginfo"
            else:
                problems.append(f"{label}: exit {stat['exit']}, no JSON: {err[-1:] }")
            continue
        problems += [f"{label}: {x}" for x in cmp.compare_report(rep, ref, False)]
        problems += crash_problems(rep, ref, label)
        facts[name + "-status"] = rep["summary"]["verdict"]
        dbg = rep.get("debuginfo") or {}
        facts[name + "-debuginfo"] = {k: dbg.get(k) for k in ("source", "found_by", "tried")}
        want_source = "dwarf" if name == "analyze-vmlinux" else "btf"
        if dbg.get("source") != want_source:
            problems.append(f"{label}: debuginfo.source {dbg.get('source')}, expected {want_source}")
        facts[name + "-pgd_source"] = (rep.get("crash") or {}).get("pgd_source")
        replay = load(os.path.join(d, "capture", name + "-replay.json"))
        for fmt, h in host.items():
            if replay is None or replay.get("replay") != h.get("replay"):
                problems.append(f"{label} --replay differs from the host's on vmcore.{fmt}")
    return ("DIFF" if problems else ("lossy" if lossy else "ok")), problems, facts


def main():
    root = cmp.ROOT
    failures, rows = 0, []
    if DIRS:
        todo = [os.path.abspath(d) for d in DIRS]
    else:
        todo = [os.path.join(root, rel, scen)
                for rel in sorted(os.listdir(root))
                if os.path.isdir(os.path.join(root, rel)) and (not ARGS or rel in ARGS)
                for scen in sorted(os.listdir(os.path.join(root, rel)))]
    for d in todo:
        rel, scen = d.split("/")[-2:]
        if not scen.startswith("kdump-") or not os.path.exists(os.path.join(d, ".done")):
            continue
        status, problems, facts = check_dir(d)
        failures += status in ("DIFF", "NOREF")
        for p in problems:
            print(f"  {rel}/{scen}: {p}")
        if not facts.get("stored"):
            with open(os.path.join(d, "kdump-compare.json"), "w") as f:
                json.dump({"status": status, "problems": problems, "facts": facts}, f, indent=1)
        rows.append((rel, scen, status, facts))
    for rel, scen, status, f in rows:
        cap = f.get("analyze-vmlinux") or {}
        nov = f.get("analyze") or {}
        src = (f.get("analyze-debuginfo") or {}).get("source", "-")
        print(f"{rel:28} {scen:31} {status:6} capture(--vmlinux) {f.get('analyze-vmlinux-status', '-')}"
              f" {cap.get('wall_ms', '-')} ms {cap.get('maxrss_kb', '-')} KiB;"
              f" capture(no vmlinux) {f.get('analyze-status', '-')} ({src})"
              f" {nov.get('wall_ms', '-')} ms {nov.get('maxrss_kb', '-')} KiB;"
              f" host btf {f.get('host-kdump-elf-btf', '-')}/{f.get('host-kdump-d31-btf', '-')};"
              f" PRSTATUS pids {f.get('prstatus_pids')}; capture cpus {f.get('capture_cpus')}")
    print(f"{len(rows)} kdump dumps checked, {failures} with differences")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
