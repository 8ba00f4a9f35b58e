#!/usr/bin/env python3
"""Make a copy of a QEMU `dump-guest-memory` ELF dump that makedumpfile reads.

QEMU 7.2 writes the ELF header, then 2 section headers at offset 64, then the
program headers at e_phoff = 192, and sets e_ehsize = 8. makedumpfile 1.7.2
assumes the program headers follow the ELF header (offset 64) and misreads
the file. The copy gets: program headers moved to offset 64 (they are small,
and the first segment's data starts after the old program headers, so they
fit), e_phoff = 64, e_ehsize = 64, no section headers (e_shoff = e_shnum =
e_shstrndx = 0). Segment data and offsets are untouched.

usage: elf_normalize.py IN OUT   (OUT is written sparse)
"""
import shutil
import struct
import subprocess
import sys

EH = "<16sHHIQQQIHHHHHH"


def main():
    src, dst = sys.argv[1], sys.argv[2]
    with open(src, "rb") as f:
        raw = f.read(64)
        (ident, e_type, e_machine, e_version, e_entry, e_phoff, e_shoff,
         e_flags, e_ehsize, e_phentsize, e_phnum, e_shentsize, e_shnum,
         e_shstrndx) = struct.unpack(EH, raw)
        if ident[:4] != b"\x7fELF" or ident[4] != 2 or ident[5] != 1:
            sys.exit(f"{src}: not a little-endian ELF64 file")
        if e_phnum == 0xFFFF:
            sys.exit(f"{src}: PN_XNUM program header count is not handled")
        f.seek(e_phoff)
        ph = f.read(e_phnum * e_phentsize)
    first_data = min((struct.unpack_from("<IIQQQQQQ", ph, i * e_phentsize)[2]
                      for i in range(e_phnum)), default=0)
    if 64 + len(ph) > first_data:
        sys.exit(f"{src}: program headers do not fit at offset 64")
    if shutil.which("cp"):
        subprocess.run(["cp", "--sparse=always", src, dst], check=True)
    else:
        shutil.copyfile(src, dst)
    with open(dst, "r+b") as f:
        f.seek(64)
        f.write(ph)
        f.seek(0)
        f.write(struct.pack(EH, ident, e_type, e_machine, e_version, e_entry,
                            64, 0, e_flags, 64, e_phentsize, e_phnum, 0, 0, 0))
    print(f"normalised {src} -> {dst}: e_phoff {e_phoff} -> 64, "
          f"e_ehsize {e_ehsize} -> 64, e_shnum {e_shnum} -> 0, "
          f"{e_phnum} program headers")


if __name__ == "__main__":
    main()
