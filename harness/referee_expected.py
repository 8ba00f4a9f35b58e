#!/usr/bin/env python3
"""Turn the drgn referee's result on an original dump (referee.json) into the
expected.json of an extracted real-kernel fixture: the truth comes from drgn on
the full dump, never from pgsync-dump.

usage: referee_expected.py REFEREE_JSON > expected.json
"""
import json
import sys

ref = json.load(open(sys.argv[1]))
mask = (1 << 64) - 1
init_pa = int(ref["init_mm_pgd_pa"], 16) & mask
pob = int(ref["page_offset_base"], 16)
tables = []
for t in ref["page_tables"]:
    if (t.get("note") or "").startswith("init_mm"):
        continue
    if int(t["pgd_va"], 16) - pob == init_pa:
        continue  # a CR3 on init_top_pgt through its direct-map alias
    tables.append({
        "pgd_va": t["pgd_va"],
        "mm": t["mm"],
        "pids": sorted(t["pids"]),
        "sources": sorted({s.split(":")[0] for s in t["sources"]}),
        "diffs": sorted(([d["slot"], d["kind"], d["expected"], d["actual"]] for d in t["diff_slots"])),
    })
tables.sort(key=lambda t: t["pgd_va"])
kinds = {d[1] for t in tables for d in t["diffs"]}
verdict = ("inconsistent" if kinds & {"mismatch", "stale"} else
           "missing-sync" if "missing" in kinds else "consistent")
out = {
    "source": "drgn referee (harness/referee.py) on the original dump " + ref["vmcore"].split("/dumps/")[-1],
    "osrelease": ref["osrelease"],
    "paging_levels": ref["paging_levels"],
    "page_tables": tables,
    "verdict": verdict,
    "fault_address": ref.get("fault_address"),
    "crash_pid": ref.get("crash_pid"),
    "crash_cpu": ref.get("crash_cpu"),
    # how drgn found the table the crashing CPU ran on (QEMU's CR3 note, else
    # cpu_tlbstate.loaded_mm): the kdump-path fixtures have no CR3 note
    "crash_pgd_va": ref.get("crash_pgd_va"),
    "crash_pgd_source": ref.get("crash_pgd_source"),
}
json.dump(out, sys.stdout, indent=1, sort_keys=True)
print()
