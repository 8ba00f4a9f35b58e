#!/usr/bin/env python3
"""Write the support matrix of docs/kernels.md from the harness's dumps.

For every release and scenario under $PGSYNC_HARNESS_DIR/dumps, analyzes each
dump format with pgsync-dump and compares it with the drgn referee exactly as
compare.py does (same comparison code), timing each run and taking its peak
RSS. The table replaces what lies between the matrix markers of the output
file; the rest of the file (the facts each kernel taught) is left as is.

usage: matrix.py [--write docs/kernels.md] [RELEASE...]
Exit 1 when any dump differs from the referee.
"""
import json
import os
import platform
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import compare  # noqa: E402  (same directory)

BEGIN = "<!-- matrix:begin (harness/matrix.py writes this table) -->"
END = "<!-- matrix:end -->"


def release_key(rel):
    """Sort 5.10 before 6.1 before 6.12 before 7.2."""
    return [int(x) if x.isdigit() else x for x in re.split(r"[.+-]", rel)]


def kernel_version(d):
    """The uname -r plus the Debian version string from the oops banner, if any."""
    try:
        for line in open(os.path.join(d, "serial.log"), errors="replace"):
            m = re.search(r"Linux version \S+ .* Debian (\S+) \(\d{4}-", line)
            if m:
                return m.group(1)
    except OSError:
        pass
    return None


def makedumpfile_version(d):
    try:
        text = open(os.path.join(d, "makedumpfile.log"), errors="replace").read()
    except OSError:
        return None
    m = re.search(r"makedumpfile:? version (\S+)", text)
    return m.group(1) if m else None


def rows_for(rel):
    base = os.path.join(compare.ROOT, rel)
    out = []
    for scen in sorted(os.listdir(base)):
        d = os.path.join(base, scen)
        refp = os.path.join(d, "referee.json")
        if not os.path.exists(refp):
            continue
        ref = json.load(open(refp))
        fmts, lossy_fmts, diffs, verdicts, times, rss = [], [], [], set(), [], []
        for fmt in compare.FORMATS:
            fref = os.path.join(d, f"referee-{fmt}.json")
            lossy = bool(os.path.exists(fref) and json.load(open(fref)).get("errors"))
            r = compare.compare(d, fmt, ref, lossy)
            if r is None:
                continue
            problems, ms, verdict = r
            fmts.append(fmt)
            if lossy:
                lossy_fmts.append(fmt)
            if problems:
                diffs.append((fmt, problems))
            verdicts.add(verdict or "error")
            times.append(ms)
            if compare.last_peak_rss_kb:
                rss.append(compare.last_peak_rss_kb / 1024)
        mode, scenario = scen.rsplit("-", 1)[1], scen.rsplit("-", 1)[0]
        out.append({
            "release": rel,
            "version": kernel_version(d),
            "makedumpfile": makedumpfile_version(d),
            "paging": mode,
            "scenario": scenario,
            "formats": fmts,
            "lossy": lossy_fmts,
            "diffs": diffs,
            "verdicts": sorted(verdicts),
            "ms": (min(times), max(times)) if times else None,
            "rss": max(rss) if rss else None,
        })
    return out


def table(rows):
    lines = [
        "| kernel | paging | scenario | formats | referee agreement | verdict | time (ms, min-max) | peak RSS (MB) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        n = len(r["formats"])
        agree = f"{n - len(r['diffs'])}/{n}"
        if r["lossy"]:
            agree += f" ({len(r['lossy'])} lossy: {', '.join(r['lossy'])})"
        kernel = r["release"].replace("-cloud-amd64", "")
        if r["version"]:
            kernel += f" ({r['version']})"
        ms = f"{r['ms'][0]:.0f}-{r['ms'][1]:.0f}" if r["ms"] else "-"
        rss = f"{r['rss']:.0f}" if r["rss"] else "-"
        lines.append(
            f"| {kernel} | {r['paging']} | {r['scenario']} | {n} | {agree} | "
            f"{' / '.join(r['verdicts'])} | {ms} | {rss} |"
        )
    return "\n".join(lines)


def totals(rows):
    by = {}
    for r in rows:
        t = by.setdefault(r["release"], [0, 0])
        t[0] += len(r["formats"])
        t[1] += len(r["diffs"])
    lines = ["| kernel | dumps | differences |", "|---|---|---|"]
    for rel, (n, d) in by.items():
        lines.append(f"| {rel.replace('-cloud-amd64', '')} | {n} | {d} |")
    n = sum(v[0] for v in by.values())
    d = sum(v[1] for v in by.values())
    lines.append(f"| all | {n} | {d} |")
    return "\n".join(lines), n, d


def main():
    args = sys.argv[1:]
    write = None
    if args[:1] == ["--write"]:
        write, args = args[1], args[2:]
    wanted = set(args)
    rels = sorted(
        (r for r in os.listdir(compare.ROOT)
         if os.path.isdir(os.path.join(compare.ROOT, r)) and (not wanted or r in wanted)),
        key=release_key,
    )
    rows = [row for rel in rels for row in rows_for(rel)]
    for r in rows:
        for fmt, problems in r["diffs"]:
            for p in problems:
                print(f"  {r['release']}/{r['scenario']}-{r['paging']}/{fmt}: {p}", file=sys.stderr)
    tot, n, d = totals(rows)
    mdf = sorted({r["makedumpfile"] for r in rows if r["makedumpfile"]})
    bin_version = subprocess.run([compare.BIN, "--version"], capture_output=True, text=True).stdout.strip()
    text = "\n".join([
        BEGIN,
        f"Written by `harness/matrix.py` with {bin_version or 'pgsync-dump'} on {platform.machine()}; "
        + (f"makedumpfile {', '.join(mdf)} made" if mdf else "the host's makedumpfile (Debian 12: 1.7.2) made")
        + " the `-d 31` and `-d 0` conversions. Time is the "
        "wall time of `pgsync-dump analyze --format json` per dump (min-max over the formats), peak "
        "RSS its maximum resident set; \"lossy\" formats are the `-d 31` conversions the referee itself "
        "could not fully read (pages makedumpfile left out): they must show the same page tables and "
        "slot differences and report what was lost.",
        "",
        table(rows),
        "",
        tot,
        END,
    ])
    if write:
        old = open(write).read() if os.path.exists(write) else f"{BEGIN}\n{END}\n"
        if BEGIN not in old or END not in old:
            old = old.rstrip("\n") + f"\n\n{BEGIN}\n{END}\n"
        head, rest = old.split(BEGIN, 1)
        _, tail = rest.split(END, 1)
        open(write, "w").write(head + text + tail)
    else:
        print(text)
    print(f"{n} dumps compared, {d} with differences", file=sys.stderr)
    return 1 if d else 0


if __name__ == "__main__":
    sys.exit(main())
