#!/usr/bin/env python3
"""Read the notes of an ELF vmcore (QEMU dump-guest-memory or makedumpfile -E).

usage: elf_notes.py VMCORE [--vmcoreinfo OUT.txt] [--json OUT.json]

Prints/writes: VMCOREINFO text, and per CPU (in note order) the NT_PRSTATUS
pr_pid (QEMU: vCPU index + 1, not a task pid) and, from QEMU's "QEMU" notes
(QEMUCPUState, target/i386/arch_dump.c), rip and cr0/cr3/cr4.
Respects e_phoff (QEMU puts the program headers at 192).
"""
import argparse
import json
import struct

NT_PRSTATUS = 1
# QEMUCPUState: u32 version, u32 size, 18 x u64 (rax..r15, rip, rflags),
# 10 x QEMUCPUSegment (24 bytes), u64 cr[5], ...
QEMU_RIP = 8 + 16 * 8
QEMU_CR = 8 + 18 * 8 + 10 * 24


def read_notes(path):
    notes = []
    with open(path, "rb") as f:
        eh = f.read(64)
        if eh[:4] != b"\x7fELF":
            raise ValueError(f"{path}: not an ELF file")
        e_phoff, = struct.unpack_from("<Q", eh, 32)
        e_phentsize, e_phnum = struct.unpack_from("<HH", eh, 54)
        f.seek(e_phoff)
        phs = f.read(e_phentsize * e_phnum)
        for i in range(e_phnum):
            p_type, _, p_offset, _, _, p_filesz, _, _ = struct.unpack_from(
                "<IIQQQQQQ", phs, i * e_phentsize)
            if p_type != 4:  # PT_NOTE
                continue
            f.seek(p_offset)
            data = f.read(p_filesz)
            off = 0
            while off + 12 <= len(data):
                namesz, descsz, ntype = struct.unpack_from("<III", data, off)
                off += 12
                name = data[off:off + namesz].rstrip(b"\0").decode(errors="replace")
                off += (namesz + 3) & ~3
                desc = data[off:off + descsz]
                off += (descsz + 3) & ~3
                notes.append((name, ntype, desc))
    return notes


def summarize(path):
    out = {"vmcoreinfo": None, "prstatus": [], "qemu_cpus": []}
    for name, ntype, desc in read_notes(path):
        if name == "VMCOREINFO":
            out["vmcoreinfo"] = desc.rstrip(b"\0").decode(errors="replace")
        elif name == "CORE" and ntype == NT_PRSTATUS:
            pid, = struct.unpack_from("<I", desc, 32)
            out["prstatus"].append({"pr_pid": pid})
        elif name == "QEMU":
            version, size = struct.unpack_from("<II", desc, 0)
            rip, = struct.unpack_from("<Q", desc, QEMU_RIP)
            cr = struct.unpack_from("<5Q", desc, QEMU_CR)
            out["qemu_cpus"].append({"version": version, "size": size,
                                     "rip": f"0x{rip:x}", "cr0": f"0x{cr[0]:x}",
                                     "cr3": f"0x{cr[3]:x}", "cr4": f"0x{cr[4]:x}"})
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("vmcore")
    ap.add_argument("--vmcoreinfo")
    ap.add_argument("--json")
    a = ap.parse_args()
    s = summarize(a.vmcore)
    if a.vmcoreinfo and s["vmcoreinfo"]:
        with open(a.vmcoreinfo, "w") as f:
            f.write(s["vmcoreinfo"])
    text = json.dumps({k: v for k, v in s.items() if k != "vmcoreinfo"} |
                      {"vmcoreinfo_lines": len((s["vmcoreinfo"] or "").splitlines())},
                      indent=1)
    if a.json:
        with open(a.json, "w") as f:
            f.write(text + "\n")
    else:
        print(text)


if __name__ == "__main__":
    main()
