#!/usr/bin/env python3
"""SHA-256 of every 4 KiB page of an ELF vmcore's PT_LOAD segments, keyed by
physical page frame number: the truth a dump in another format of the same
machine must reproduce (read independently of pgsync-dump, stdlib only).

usage: elf_page_digests.py VMCORE.elf > digests.json
"""
import hashlib
import json
import struct
import sys

data = open(sys.argv[1], "rb").read()
assert data[:4] == b"\x7fELF" and data[4] == 2 and data[5] == 1, "ELF64 little-endian expected"
phoff, = struct.unpack_from("<Q", data, 0x20)
phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
pages = {}
for i in range(phnum):
    p_type, _flags, off, _vaddr, paddr, filesz, memsz, _align = struct.unpack_from("<IIQQQQQQ", data, phoff + i * phentsize)
    if p_type != 1:
        continue
    seg = data[off:off + filesz] + b"\0" * (memsz - filesz)
    for o in range(0, memsz - memsz % 4096, 4096):
        pages[str((paddr + o) >> 12)] = hashlib.sha256(seg[o:o + 4096]).hexdigest()
json.dump({"source": sys.argv[1].split("/")[-1], "page_size": 4096, "pages": pages}, sys.stdout, indent=0, sort_keys=True)
print()
