#!/usr/bin/env python3
"""Boot a kernel under QEMU (TCG), wait for the guest to panic, dump it.

After the QMP event GUEST_PANICKED (the guest is paused by
`-device pvpanic -action panic=pause`), writes two dumps with QMP
`dump-guest-memory` (paging=false): format "elf" -> vmcore.elf and
format "kdump-zlib" -> vmcore.qemu-kdump-flat (QEMU 7.2 writes
makedumpfile's flattened format). Writes timing.json and qemu.json.
Standard library only.
"""
import argparse
import json
import os
import socket
import subprocess
import sys
import time


class QMP:
    def __init__(self, path, deadline):
        self.sock = None
        while True:
            try:
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.connect(path)
                self.sock = s
                break
            except OSError:
                if time.time() > deadline:
                    raise
                time.sleep(0.05)
        self.buf = b""
        self.events = []
        greeting = self._recv(deadline)
        assert "QMP" in greeting, greeting

    def _recv(self, deadline):
        while b"\n" not in self.buf:
            left = deadline - time.time()
            if left <= 0:
                raise TimeoutError("QMP: no message before the deadline")
            self.sock.settimeout(left)
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("QMP: connection closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def cmd(self, name, deadline, **args):
        msg = {"execute": name}
        if args:
            msg["arguments"] = args
        self.sock.sendall(json.dumps(msg).encode() + b"\n")
        while True:
            m = self._recv(deadline)
            if "event" in m:
                self.events.append(m)
                continue
            if "error" in m:
                raise RuntimeError(f"QMP {name}: {m['error']}")
            return m.get("return")

    def wait_event(self, names, deadline):
        for i, e in enumerate(self.events):
            if e["event"] in names:
                return self.events.pop(i)
        while True:
            m = self._recv(deadline)
            if "event" in m:
                if m["event"] in names:
                    return m
                self.events.append(m)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--qemu", default="qemu-system-x86_64")
    ap.add_argument("--kernel", required=True)
    ap.add_argument("--initrd", required=True)
    ap.add_argument("--append", required=True)
    ap.add_argument("--outdir", required=True)
    ap.add_argument("--memory", default="512M")
    ap.add_argument("--smp", default="2")
    ap.add_argument("--drive", help="a raw image attached read-only as a virtio disk "
                    "(harness/live: the vmlinux the guest analyzes its own kcore with)")
    ap.add_argument("--timeout", type=float, default=600.0,
                    help="seconds allowed from start to the panic")
    a = ap.parse_args()

    out = os.path.abspath(a.outdir)
    os.makedirs(out, exist_ok=True)
    sock = os.path.join(out, "qmp.sock")
    if os.path.exists(sock):
        os.unlink(sock)
    serial = os.path.join(out, "serial.log")
    argv = [a.qemu, "-nodefaults", "-no-user-config",
            "-machine", "q35", "-accel", "tcg", "-cpu", "max",
            "-m", a.memory, "-smp", a.smp,
            "-display", "none", "-monitor", "none",
            "-serial", "file:" + serial,
            "-kernel", a.kernel, "-initrd", a.initrd, "-append", a.append,
            "-device", "vmcoreinfo",
            "-device", "pvpanic", "-action", "panic=pause",
            "-no-reboot",
            "-qmp", f"unix:{sock},server=on,wait=on"]
    if a.drive:
        argv += ["-drive", f"file={a.drive},format=raw,if=virtio,readonly=on"]
    with open(os.path.join(out, "qemu.json"), "w") as f:
        json.dump({"argv": argv}, f, indent=1)
    qlog = open(os.path.join(out, "qemu.log"), "w")
    t0 = time.time()
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=qlog,
                            stderr=subprocess.STDOUT)
    timing = {}
    ok = False
    try:
        deadline = t0 + a.timeout
        q = QMP(sock, deadline)
        q.cmd("qmp_capabilities", deadline)
        ev = q.wait_event({"GUEST_PANICKED", "SHUTDOWN", "RESET"}, deadline)
        timing["boot_to_panic_s"] = round(time.time() - t0, 3)
        if ev["event"] != "GUEST_PANICKED":
            print(f"qemu_dump: guest did not panic: {ev}", file=sys.stderr)
            return 1
        timing["panic_event"] = ev.get("data")
        for fmt, name in (("elf", "vmcore.elf"),
                          ("kdump-zlib", "vmcore.qemu-kdump-flat")):
            path = os.path.join(out, name)
            tmp = path + ".part"
            t1 = time.time()
            q.cmd("dump-guest-memory", time.time() + 600, paging=False,
                  protocol="file:" + tmp, format=fmt)
            os.replace(tmp, path)
            timing[f"qemu_dump_{fmt}_s"] = round(time.time() - t1, 3)
        try:
            q.cmd("quit", time.time() + 30)
        except (EOFError, OSError):
            pass
        ok = True
    except (TimeoutError, EOFError, OSError, RuntimeError) as e:
        print(f"qemu_dump: {e}", file=sys.stderr)
    finally:
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if os.path.exists(sock):
            os.unlink(sock)
        with open(os.path.join(out, "timing-qemu.json"), "w") as f:
            json.dump(timing, f, indent=1)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
