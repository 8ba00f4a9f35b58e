#!/usr/bin/env python3
"""Referee for the pgsync-dump harness: the missing-sync check done with drgn.

usage: referee.py VMCORE --vmlinux VMLINUX [-o OUT.json]

Collects every distinct page table of the dump:
  - each task's mm->pgd (all threads: leaders from init_task.tasks, their
    threads from signal->thread_head/thread_node or thread_group, plus
    whatever drgn's for_each_task finds),
  - each pgd on pgd_list (6.1: struct page linked through `lru`, owner in
    page->pt_mm; 6.6+: struct ptdesc linked through `pt_list`, owner in
    ptdesc->pt_mm),
  - each CPU's per-cpu cpu_tlbstate.loaded_mm,
and compares its kernel top-level slots, from pgd_index(page_offset_base)
(KERNEL_PGD_BOUNDARY, what pgd_ctor clones) to 511, with init_mm.pgd's,
ignoring the Accessed and Dirty bits (5, 6).  Kinds: missing (present in
init_mm, absent here), mismatch (both present, different), stale (present
here, absent in init_mm).  efi_mm's table, if any, is labelled and never
compared.  The oops line "BUG: unable to handle page fault for address:"
gives fault_address; panic_cpu and the "CPU: n PID: p" line give the crash
CPU and pid.
"""
import argparse
import json
import os
import re
import struct
import sys
import time

import drgn
from drgn import Object, cast
from drgn.helpers.linux.cpumask import for_each_online_cpu, for_each_possible_cpu
from drgn.helpers.linux.list import list_for_each_entry
from drgn.helpers.linux.percpu import per_cpu
from drgn.helpers.linux.pid import for_each_task
from drgn.helpers.linux.printk import get_dmesg

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import elf_notes  # noqa: E402

AD_MASK = (1 << 5) | (1 << 6)
ERRORS = []  # memory that could not be read (e.g. pages makedumpfile excluded)


def hx(v):
    return None if v is None else f"0x{v:x}"


def try_(f, default=None):
    try:
        return f()
    except (LookupError, drgn.FaultError, AttributeError, ValueError):
        return default


def walk_threads(prog):
    """All tasks: thread-group leaders from init_task.tasks, then threads."""
    init_task = prog["init_task"]
    ts = prog.type("struct task_struct")
    sig_t = prog.type("struct signal_struct")
    seen = {}
    try:
        for leader in list_for_each_entry(ts, init_task.tasks.address_of_(), "tasks"):
            seen[leader.value_()] = leader
            try:
                if sig_t.has_member("thread_head") and ts.has_member("thread_node"):
                    head = leader.signal.thread_head.address_of_()
                    for t in list_for_each_entry(ts, head, "thread_node"):
                        seen[t.value_()] = t
                elif ts.has_member("thread_group"):
                    for t in list_for_each_entry(ts, leader.thread_group.address_of_(),
                                                 "thread_group"):
                        seen[t.value_()] = t
            except drgn.FaultError as e:
                ERRORS.append(f"threads of task {hx(leader.value_())}: {e}")
    except drgn.FaultError as e:
        ERRORS.append(f"init_task.tasks walk: {e}")
    try:
        for t in for_each_task(prog):
            seen.setdefault(t.value_(), t)
    except Exception as e:  # keep the explicit walk if the helper fails
        ERRORS.append(f"drgn for_each_task: {e}")
    return list(seen.values())


def page_to_va(prog, page_addr):
    """struct page (or ptdesc) address -> direct-map address (SPARSEMEM_VMEMMAP)."""
    vmemmap = prog["vmemmap_base"].value_()
    psize = prog.type("struct page").size
    pfn = (page_addr - vmemmap) // psize
    return prog["page_offset_base"].value_() + pfn * 4096


def pgd_list_tables(prog):
    """(pgd_va, mm) for every pgd on pgd_list, and a description of the layout."""
    head = prog["pgd_list"].address_of_()
    out = []
    ptdesc = try_(lambda: prog.type("struct ptdesc"))
    if ptdesc is not None and ptdesc.has_member("pt_list"):
        layout = "struct ptdesc.pt_list, owner ptdesc.pt_mm"
        for d in list_for_each_entry(ptdesc, head, "pt_list"):
            out.append((page_to_va(prog, d.value_()), d.pt_mm.value_()))
    else:
        page = prog.type("struct page")
        layout = "struct page.lru, owner page.pt_mm" if page.has_member("pt_mm") \
            else "struct page.lru, owner page.index"
        for p in list_for_each_entry(page, head, "lru"):
            mm = p.pt_mm.value_() if page.has_member("pt_mm") else p.index.value_()
            out.append((page_to_va(prog, p.value_()), mm))
    return out, layout


def read_table(prog, va):
    data = prog.read(va, 4096)
    return [int.from_bytes(data[i * 8:i * 8 + 8], "little") for i in range(512)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("vmcore")
    ap.add_argument("--vmlinux", required=True)
    ap.add_argument("-o", "--output")
    a = ap.parse_args()

    t0 = time.time()
    prog = drgn.Program()
    prog.set_core_dump(a.vmcore)
    prog.load_debug_info([a.vmlinux])
    t_load = time.time() - t0

    osrelease = prog["UTS_RELEASE"].string_().decode() if try_(lambda: prog["UTS_RELEASE"]) \
        else prog["init_uts_ns"].name.release.string_().decode()
    l5 = try_(lambda: prog["__pgtable_l5_enabled"].value_())
    if l5 is None:
        l5 = try_(lambda: prog["pgdir_shift"].value_() == 48, False)
    shift = 48 if l5 else 39
    page_offset_base = prog["page_offset_base"].value_()
    boundary = (page_offset_base >> shift) & 511
    init_pgd = prog["init_mm"].pgd.value_()
    sme_mask = try_(lambda: prog["sme_me_mask"].value_(), 0) or 0
    # init_top_pgt is in the kernel image: pa = va - __START_KERNEL_map + phys_base
    phys_base = prog.read_u64(prog.symbol("phys_base").address)  # asm symbol, no DWARF
    # (phys_base is often "negative": the sum wraps; NUMBER(phys_base) in
    # VMCOREINFO is printed as a signed decimal)
    init_pgd_pa = (init_pgd - 0xFFFFFFFF80000000 + phys_base) & 0xFFFFFFFFFFFFFFFF
    init = read_table(prog, init_pgd)

    tables = {}  # pgd_va -> record

    def rec(pgd_va, mm):
        r = tables.get(pgd_va)
        if r is None:
            r = tables[pgd_va] = {"pgd_va": pgd_va, "mm": mm, "pids": set(),
                                  "comms": set(), "sources": set()}
        if mm and not r["mm"]:
            r["mm"] = mm
        return r

    init_mm_addr = prog["init_mm"].address_of_().value_()
    efi_pgd = try_(lambda: prog["efi_mm"].pgd.value_())
    poking_mm = try_(lambda: prog["poking_mm"].value_())
    efi_mm = try_(lambda: prog["efi_mm"].address_of_().value_())

    tasks = walk_threads(prog)
    ntasks = 0
    for t in tasks:
        ntasks += 1
        try:
            mm = t.mm.value_()
            if not mm:
                continue
            pgd = t.mm.pgd.value_()
            r = rec(pgd, mm)
            r["pids"].add(t.pid.value_())
            r["comms"].add(t.comm.string_().decode(errors="replace"))
            r["sources"].add("task")
        except drgn.FaultError as e:
            ERRORS.append(f"task {hx(t.value_())}: {e}")

    try:
        pl, pgd_list_layout = pgd_list_tables(prog)
    except drgn.FaultError as e:
        ERRORS.append(f"pgd_list: {e}")
        pl, pgd_list_layout = [], "unreadable"
    for pgd, mm in pl:
        rec(pgd, mm)["sources"].add("pgd_list")

    # after panic the other CPUs are stopped and marked offline: use the
    # possible mask (sized by the hardware, not NR_CPUS)
    cpus = list(for_each_possible_cpu(prog))
    online = list(for_each_online_cpu(prog))
    for cpu in cpus:
        try:
            mm = per_cpu(prog["cpu_tlbstate"], cpu).loaded_mm
            if not mm.value_():
                continue
            r = rec(mm.pgd.value_(), mm.value_())
            r["sources"].add(f"cpu_loaded_mm:{cpu}")
        except drgn.FaultError as e:
            ERRORS.append(f"cpu_tlbstate of CPU {cpu}: {e}")

    # QEMU ELF dumps (and makedumpfile -E copies) carry each vCPU's CR3
    cr3_note = "not an ELF dump"
    cr3_by_cpu = {}
    with open(a.vmcore, "rb") as f:
        is_elf = f.read(4) == b"\x7fELF"
    if is_elf:
        try:
            cpus_qemu = elf_notes.summarize(a.vmcore)["qemu_cpus"]
            cr3_note = f"{len(cpus_qemu)} QEMU CPU notes"
            cr3_by_cpu = {}
            for i, c in enumerate(cpus_qemu):
                cr3 = int(c["cr3"], 16)
                # PCID bits 0-11, PTI user-copy bit 12, SME bit
                pa = cr3 & 0x000FFFFFFFFFE000 & ~sme_mask
                va = init_pgd if pa == init_pgd_pa else page_offset_base + pa
                cr3_by_cpu[i] = va
                mm = init_mm_addr if va == init_pgd else tables.get(va, {}).get("mm", 0)
                rec(va, mm)["sources"].add(f"cr3:{i}")
        except (OSError, ValueError, struct.error) as e:
            cr3_note = f"notes unreadable: {e}"

    page_tables = []
    for pgd_va in sorted(tables):
        r = tables[pgd_va]
        entry = {"pgd_va": hx(pgd_va), "mm": hx(r["mm"]), "pids": sorted(r["pids"]),
                 "comms": sorted(r["comms"]), "sources": sorted(r["sources"])}
        if pgd_va == init_pgd or r["mm"] == init_mm_addr:
            entry["note"] = "init_mm (reference)"
            entry["diff_slots"] = []
            page_tables.append(entry)
            continue
        if poking_mm and r["mm"] == poking_mm:
            entry["note"] = "poking_mm"
        if efi_pgd and (pgd_va == efi_pgd or r["mm"] == efi_mm):
            entry["note"] = "efi_mm (not compared)"
            entry["diff_slots"] = []
            page_tables.append(entry)
            continue
        try:
            mine = read_table(prog, pgd_va)
        except drgn.FaultError as e:
            ERRORS.append(f"page table {hx(pgd_va)}: {e}")
            entry["note"] = f"unreadable: {e}"
            entry["diff_slots"] = None
            page_tables.append(entry)
            continue
        diffs = []
        for slot in range(boundary, 512):
            e, m = init[slot], mine[slot]
            if (e & ~AD_MASK) == (m & ~AD_MASK):
                continue
            if e & 1 and not m & 1:
                kind = "missing"
            elif m & 1 and not e & 1:
                kind = "stale"
            else:
                kind = "mismatch"
            diffs.append({"slot": slot, "kind": kind, "expected": hx(e), "actual": hx(m)})
        entry["diff_slots"] = diffs
        page_tables.append(entry)

    # the crash
    try:
        dmesg = get_dmesg(prog).decode(errors="replace")
    except drgn.FaultError as e:
        ERRORS.append(f"dmesg: {e}")
        dmesg = ""
    m = re.search(r"BUG: unable to handle page fault for address: ([0-9a-fx]+)", dmesg)
    fault = hx(int(m.group(1), 16)) if m else None
    walk = None
    if m:
        w = re.search(r"\]\s*(PGD [0-9a-f]+.*)", dmesg[m.end():])
        walk = w.group(1).strip() if w else None
    crash_pid = crash_comm = None
    cm = None
    for cm in re.finditer(r"CPU: (\d+) (?:UID: \d+ )?PID: (\d+) Comm: (\S+)", dmesg):
        break
    if cm:
        crash_pid = int(cm.group(2))
        crash_comm = cm.group(3)
    crash_cpu = try_(lambda: prog["panic_cpu"].counter.value_())
    if crash_cpu is None or crash_cpu < 0:
        crash_cpu = int(cm.group(1)) if cm else None
    crash_pgd = crash_pgd_source = None
    if crash_cpu is not None and crash_cpu in cr3_by_cpu:
        crash_pgd, crash_pgd_source = cr3_by_cpu[crash_cpu], "cr3"
    elif crash_cpu is not None:
        lm = try_(lambda: per_cpu(prog["cpu_tlbstate"], crash_cpu).loaded_mm)
        if lm is not None and lm.value_():
            crash_pgd, crash_pgd_source = lm.pgd.value_(), "cpu_loaded_mm"
    panic_line = None
    pm = re.search(r"Kernel panic - not syncing: ([^\n]*)", dmesg)
    if pm:
        panic_line = pm.group(1).strip()

    compared = [p for p in page_tables if p["diff_slots"] is not None
                and p.get("note", "").split(" ")[0] not in ("init_mm", "efi_mm")]
    diverged = [p for p in page_tables if p["diff_slots"]]
    unreadable = [p for p in page_tables if p["diff_slots"] is None]
    slots = {}
    for p in diverged:
        for d in p["diff_slots"]:
            slots.setdefault(f"{d['slot']}:{d['kind']}", 0)
            slots[f"{d['slot']}:{d['kind']}"] += 1

    def slot_base(slot):
        return ((slot - 512) << shift) & 0xFFFFFFFFFFFFFFFF

    result = {
        "vmcore": a.vmcore,
        "osrelease": osrelease,
        "paging_levels": 5 if l5 else 4,
        "page_offset_base": hx(page_offset_base),
        "vmalloc_base": hx(prog["vmalloc_base"].value_()),
        "vmemmap_base": hx(prog["vmemmap_base"].value_()),
        "kernel_pgd_boundary": boundary,
        "init_mm": hx(init_mm_addr),
        "init_mm_pgd": hx(init_pgd),
        "init_mm_pgd_pa": hx(init_pgd_pa),
        "phys_base": hx(phys_base & 0xFFFFFFFFFFFFFFFF),
        "init_present_kernel_slots": [s for s in range(boundary, 512) if init[s] & 1],
        "pti": "Kernel/User page tables isolation: enabled" in dmesg,
        "pgd_list_layout": pgd_list_layout,
        "pgd_list_len": len(pl),
        "cr3": cr3_note,
        "tasks": ntasks,
        "cpus_possible": cpus,
        "cpus_online": online,
        "efi_mm_pgd": hx(efi_pgd) if efi_pgd else None,
        "has_arch_sync_kernel_mappings": try_(
            lambda: prog.symbol("arch_sync_kernel_mappings") is not None, False),
        "page_tables": page_tables,
        "summary": {"page_tables": len(page_tables), "compared": len(compared),
                    "diverged": len(diverged),
                    "unreadable": len(unreadable),
                    "findings": sum(len(p["diff_slots"]) for p in diverged),
                    "slots": slots},
        "fault_address": fault,
        "fault_slot": ((int(fault, 16) >> shift) & 511) if fault else None,
        "fault_walk": walk,
        "panic": panic_line,
        "crash_pid": crash_pid,
        "crash_comm": crash_comm,
        "crash_cpu": crash_cpu,
        "crash_pgd_va": hx(crash_pgd),
        "crash_pgd_source": crash_pgd_source,
        "errors": ERRORS,
        "complete": not ERRORS,
        "seconds": {"load": round(t_load, 3), "total": round(time.time() - t0, 3)},
    }
    # sanity: slot_base is used by readers of this file for labels
    result["diverged_slot_bases"] = {s.split(":")[0]: hx(slot_base(int(s.split(":")[0])))
                                     for s in slots}
    text = json.dumps(result, indent=1)
    if a.output:
        with open(a.output, "w") as f:
            f.write(text + "\n")
    else:
        print(text)


if __name__ == "__main__":
    main()
