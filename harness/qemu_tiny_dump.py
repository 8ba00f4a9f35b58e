#!/usr/bin/env python3
"""Make QEMU's own dump files of a tiny machine (no kernel: SeaBIOS runs,
finds nothing to boot, and the CPU idles), small enough to commit as an
outside oracle for the dump-format readers: the same memory as ELF and as
QEMU's kdump-zlib (makedumpfile's flattened format on QEMU 7.2, with a blank
machine name in the header), plus kdump-lzo/-snappy when QEMU offers them.

usage: qemu_tiny_dump.py OUTDIR [--memory 2M]
"""
import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time


def qmp(sock, name, **args):
    msg = {"execute": name}
    if args:
        msg["arguments"] = args
    sock.sendall(json.dumps(msg).encode() + b"\n")
    buf = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            raise RuntimeError("QMP closed")
        buf += chunk
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            r = json.loads(line)
            if "return" in r or "error" in r:
                return r


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("outdir")
    ap.add_argument("--memory", default="2M")
    a = ap.parse_args()
    os.makedirs(a.outdir, exist_ok=True)
    tmp = tempfile.mkdtemp()
    path = os.path.join(tmp, "qmp.sock")
    q = subprocess.Popen(["qemu-system-x86_64", "-machine", "pc", "-accel", "tcg", "-m", a.memory,
                          "-display", "none", "-nodefaults", "-no-reboot",
                          "-qmp", f"unix:{path},server=on,wait=off"],
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 20
        while not os.path.exists(path):
            if time.time() > deadline:
                raise RuntimeError("QEMU did not start")
            time.sleep(0.05)
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(path)
        s.recv(65536)
        qmp(s, "qmp_capabilities")
        time.sleep(2)  # let SeaBIOS run and give up booting
        qmp(s, "stop")
        formats = qmp(s, "query-dump-guest-memory-capability")["return"]["formats"]
        made = {}
        for fmt, name in (("elf", "vmcore.elf"), ("kdump-zlib", "vmcore.kdump-zlib"),
                          ("kdump-lzo", "vmcore.kdump-lzo"), ("kdump-snappy", "vmcore.kdump-snappy")):
            if fmt not in formats:
                continue
            out = os.path.abspath(os.path.join(a.outdir, name))
            r = qmp(s, "dump-guest-memory", paging=False, protocol=f"file:{out}", format=fmt)
            if "error" in r:
                print(f"{fmt}: {r['error']}", file=sys.stderr)
                continue
            made[fmt] = os.path.getsize(out)
        qmp(s, "quit")
        version = subprocess.run(["qemu-system-x86_64", "--version"], capture_output=True, text=True).stdout.splitlines()[0]
        json.dump({"qemu": version, "memory": a.memory, "files": made}, open(os.path.join(a.outdir, "qemu.json"), "w"), indent=1)
        print(json.dumps(made))
    finally:
        q.kill()
        q.wait()


if __name__ == "__main__":
    main()
