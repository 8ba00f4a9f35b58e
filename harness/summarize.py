#!/usr/bin/env python3
"""Summarise one or more harness dump directories (referee JSON + timings).

usage: summarize.py DUMPDIR...   (or a parent: every */referee.json under it)
"""
import glob
import json
import os
import re
import sys


def time_v(path):
    """(wall seconds, peak RSS MB) from a /usr/bin/time -v file."""
    try:
        text = open(path).read()
    except OSError:
        return None, None
    wall = rss = None
    m = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)", text)
    if m:
        secs = 0.0
        for part in m.group(1).split(":"):
            secs = secs * 60 + float(part)
        wall = round(secs, 2)
    m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", text)
    if m:
        rss = round(int(m.group(1)) / 1024)
    return wall, rss


def key(r):
    return sorted((p["pgd_va"], json.dumps(p["diff_slots"])) for p in r["page_tables"])


def one(d):
    p = os.path.join(d, "referee.json")
    if not os.path.exists(p):
        print(f"{d}: no referee.json")
        return
    r = json.load(open(p))
    s = r["summary"]
    wall, rss = time_v(os.path.join(d, "referee.time"))
    print(f"{d}")
    print(f"  {r['osrelease']} {r['paging_levels']}-level boundary={r['kernel_pgd_boundary']} "
          f"tasks={r['tasks']} page_tables={s['page_tables']} pgd_list={r['pgd_list_len']} "
          f"diverged={s['diverged']} findings={s['findings']} slots={s['slots']}")
    print(f"  panic={r['panic']!r} fault={r['fault_address']} fault_slot={r['fault_slot']} "
          f"crash_pid={r['crash_pid']} ({r['crash_comm']}) crash_cpu={r['crash_cpu']}")
    print(f"  referee on vmcore.elf: wall {wall} s, peak RSS {rss} MB "
          f"(drgn load {r['seconds']['load']} s, total {r['seconds']['total']} s)")
    for q in sorted(glob.glob(os.path.join(d, "referee-*.json"))):
        fmt = os.path.basename(q)[len("referee-"):-len(".json")]
        try:
            o = json.load(open(q))
        except (OSError, ValueError):
            print(f"  {fmt}: unreadable output")
            continue
        w, m = time_v(q[:-5] + ".time")
        same = "same result" if key(o) == key(r) else "DIFFERENT result"
        if o.get("errors"):
            same += f", {len(o['errors'])} read errors (first: {o['errors'][0][:100]})"
        print(f"  referee on vmcore.{fmt}: {same}, wall {w} s, peak RSS {m} MB")
    for q in sorted(glob.glob(os.path.join(d, "referee-*.time"))):
        if not os.path.exists(q[:-5] + ".json"):
            fmt = os.path.basename(q)[len("referee-"):-len(".time")]
            print(f"  referee on vmcore.{fmt}: drgn could not open it")


def main():
    dirs = []
    for a in sys.argv[1:]:
        if os.path.exists(os.path.join(a, "referee.json")) or os.path.exists(os.path.join(a, "serial.log")):
            dirs.append(a)
        else:
            dirs += sorted(os.path.dirname(p) for p in glob.glob(os.path.join(a, "**", "serial.log"), recursive=True))
    for d in dirs:
        one(d)


if __name__ == "__main__":
    main()
