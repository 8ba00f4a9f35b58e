#!/usr/bin/env python3
"""Checks a harness/live run: the guest's analyses of its own /proc/kcore
(between PGSYNC-LIVE markers in serial.log) against pgsync-dump's analysis of
the dump taken right after (dump.json).

usage: live_compare.py DUMP_DIR SCENARIO [dwarf|btf]    (exit 0: as expected)

The third argument: the `debuginfo.source` every live run must report
(btf: harness/live --no-vmlinux, the kernel's own kallsyms and BTF).
"""
import json
import os
import re
import sys

KLOG = re.compile(r"^\[\s*\d+\.\d+\]")


def blocks(serial):
    """{tag: (exit, json or None, stderr lines)} and the churn runs [(n, exit, changed)]."""
    out, runs, cur, lines, err = {}, [], None, [], {}
    for raw in serial:
        line = raw.rstrip("\r\n")
        m = re.match(r"^PGSYNC-LIVE-BEGIN (\S+)", line)
        if m:
            cur, lines = m.group(1), []
            continue
        m = re.match(r"^PGSYNC-LIVE-END (\S+) exit=(\d+)", line)
        if m and cur == m.group(1):
            try:
                doc = json.loads("\n".join(lines)) if lines else None
            except json.JSONDecodeError:
                doc = None
            out[cur] = (int(m.group(2)), doc)
            cur = None
            continue
        m = re.match(r"^PGSYNC-LIVE-RUN (\d+) exit=(\d+) changed=(\S+)(?:.* source=(\S+))?", line)
        if m:
            runs.append((int(m.group(1)), int(m.group(2)), m.group(3), m.group(4)))
            continue
        m = re.match(r"^PGSYNC-LIVE-STDERR (.*)", line)
        if m:
            err.setdefault(cur or "last", []).append(m.group(1))
            continue
        if cur is not None and not KLOG.match(line):
            lines.append(line)
    return out, runs, err


def keys(doc):
    return sorted(
        (f["pgd_index"], f["kind"], f["pgd_va"], f["mm"], tuple(f["pids"]), f["expected"], f["actual"])
        for f in doc["findings"]
    )


def show(ks):
    slots = sorted({k[0] for k in ks})
    pids = sorted({p for k in ks for p in k[4]})
    return f"{len(ks)} findings, slots {slots}, {len({k[2] for k in ks})} page tables, pids {pids}"


def main():
    d, sc = sys.argv[1], sys.argv[2]
    want_source = sys.argv[3] if len(sys.argv) > 3 else None
    with open(os.path.join(d, "serial.log"), errors="replace") as f:
        got, runs, err = blocks(f)
    try:
        with open(os.path.join(d, "dump.json")) as f:
            dump = json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        print(f"FAIL {sc}: no analysis of the dump ({e})")
        return 1
    dk = keys(dump)
    print(f"dump right after: verdict {dump['summary']['verdict']}, {show(dk)}")
    bad = []
    if sc in ("live-bug", "live-healthy"):
        tag = sc.split("-", 1)[1]
        if tag not in got:
            print(f"FAIL {sc}: no live output in serial.log; stderr {err}")
            return 1
        code, doc = got[tag]
        if doc is None:
            print(f"FAIL {sc}: live exit {code}, output not JSON; stderr {err}")
            return 1
        lk = keys(doc)
        live = doc.get("live") or {}
        print(f"live: exit {code}, verdict {doc['summary']['verdict']}, {show(lk)}, "
              f"{doc['summary']['page_tables']} page tables, changed {live.get('changed_while_reading')}, "
              f"release {live.get('kernel_release')}, format {doc['dump']['format']}, "
              f"debuginfo {(doc.get('debuginfo') or {}).get('source')} "
              f"(found by {(doc.get('debuginfo') or {}).get('found_by')})")
        if want_source and (doc.get("debuginfo") or {}).get("source") != want_source:
            bad.append(f"live debuginfo {doc.get('debuginfo')}, expected source {want_source}")
        want = 1 if sc == "live-bug" else 0
        if code != want:
            bad.append(f"live exit {code}, expected {want}")
        if lk != dk:
            bad.append(f"live findings differ from the dump's: live-only {sorted(set(lk) - set(dk))}, dump-only {sorted(set(dk) - set(lk))}")
        if not live.get("snapshot") or live.get("kernel_release") != dump["dump"]["osrelease"]:
            bad.append(f"live object {live}")
        if sc == "live-bug" and not lk:
            bad.append("no findings")
    else:
        want = 1 if sc == "live-churn-bug" else 0
        codes = {}
        sources = {}
        for _, code, _, source in runs:
            codes[code] = codes.get(code, 0) + 1
            sources[source] = sources.get(source, 0) + 1
        changed = sum(int(c) for _, _, c, _ in runs if c.isdigit())
        print(f"churn: {len(runs)} runs, exit codes {codes}, tables changed while reading (sum over runs) {changed}, "
              f"debuginfo sources {sources}")
        if want_source and runs and sources.get(want_source, 0) != len(runs):
            bad.append(f"runs not all debuginfo.source {want_source}: {sources}")
        if not runs or codes.get(want, 0) != len(runs):
            bad.append(f"runs not all exit {want}: {codes}")
            for tag, (code, doc) in sorted(got.items()):
                if code != want and doc:
                    print(f"  {tag}: exit {code}: {show(keys(doc))}; problems {doc['problems']}; "
                          f"unreadable {[t for t in doc['page_tables'] if t['status'] == 'unreadable']}")
        if want == 1:
            for tag, (code, doc) in sorted(got.items()):
                if doc is not None and keys(doc) != dk:
                    bad.append(f"{tag}: findings differ from the dump's: live-only {sorted(set(keys(doc)) - set(dk))}, dump-only {sorted(set(dk) - set(keys(doc)))}")
    for b in bad:
        print(f"FAIL {sc}: {b}")
    if not bad:
        print(f"OK {sc}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
