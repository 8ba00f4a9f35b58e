//! `struct disk_dump_header` and `struct kdump_sub_header` (makedumpfile
//! diskdump_mod.h), as laid out by an x86-64 (LP64) makedumpfile or QEMU.
//!
//! ```text
//! disk_dump_header (464 bytes)          kdump_sub_header (104 bytes, v6)
//!   0 signature[8] "KDUMP   "            0 phys_base          u64
//!   8 header_version   i32               8 dump_level         i32  (v1+)
//!  12 utsname 6 x 65 bytes              12 split              i32  (v2+)
//! 408 timestamp {tv_sec, tv_usec} i64   16 start_pfn          u64  (v2+, 32-bit)
//! 424 status           u32              24 end_pfn            u64  (v2+, 32-bit)
//! 428 block_size       i32              32 offset_vmcoreinfo  i64  (v3+)
//! 432 sub_hdr_size     i32 (blocks)     40 size_vmcoreinfo    u64  (v3+)
//! 436 bitmap_blocks    u32              48 offset_note        i64  (v4+)
//! 440 max_mapnr        u32 (obsolete)   56 size_note          u64  (v4+)
//! 444 total_ram_blocks u32              64 offset_eraseinfo   i64  (v5+)
//! 448 device_blocks    u32              72 size_eraseinfo     u64  (v5+)
//! 452 written_blocks   u32              80 start_pfn_64       u64  (v6+)
//! 456 current_cpu      u32              88 end_pfn_64         u64  (v6+)
//! 460 nr_cpus          i32              96 max_mapnr_64       u64  (v6+)
//! ```
//! The sub-header sits at block 1; the two bitmaps follow it at block
//! `1 + sub_hdr_size`, each half of `bitmap_blocks` blocks; then the
//! `page_desc` array (24 bytes each), then page data.

use super::source::{le_u32, le_u64};

pub const KDUMP_SIGNATURE: &[u8; 8] = b"KDUMP   ";
/// The old diskdump facility's signature: same layout family, never written
/// by makedumpfile, not supported.
pub(crate) const DISKDUMP_SIGNATURE: &[u8; 8] = b"DISKDUMP";
pub(crate) const HEADER_SIZE: usize = 464;
pub(crate) const SUB_HEADER_SIZE: usize = 104;
pub const PAGE_DESC_SIZE: u64 = 24;
/// The newest header_version (makedumpfile 1.5.x and later, QEMU).
pub(crate) const MAX_HEADER_VERSION: i32 = 6;
pub(crate) const UTS_FIELD_LEN: usize = 65;

/// `status` and `page_desc.flags` bits.
pub(crate) const DUMP_DH_COMPRESSED_ZLIB: u32 = 0x1;
pub(crate) const DUMP_DH_COMPRESSED_LZO: u32 = 0x2;
pub(crate) const DUMP_DH_COMPRESSED_SNAPPY: u32 = 0x4;
pub(crate) const DUMP_DH_COMPRESSED_INCOMPLETE: u32 = 0x8;
#[expect(dead_code, reason = "kept so the constants list the whole kernel set")]
pub(crate) const DUMP_DH_EXCLUDED_VMEMMAP: u32 = 0x10;
pub(crate) const DUMP_DH_COMPRESSED_ZSTD: u32 = 0x20;
pub(crate) const COMPRESSION_MASK: u32 = DUMP_DH_COMPRESSED_ZLIB
    | DUMP_DH_COMPRESSED_LZO
    | DUMP_DH_COMPRESSED_SNAPPY
    | DUMP_DH_COMPRESSED_ZSTD;

/// Field offsets in the common header.
pub mod off {
    pub const VERSION: u64 = 8;
    pub(crate) const UTSNAME: u64 = 12;
    pub(crate) const TIMESTAMP: u64 = 408;
    pub(crate) const STATUS: u64 = 424;
    pub const BLOCK_SIZE: u64 = 428;
    pub const SUB_HDR_SIZE: u64 = 432;
    pub const BITMAP_BLOCKS: u64 = 436;
    pub const MAX_MAPNR: u64 = 440;
    pub(crate) const NR_CPUS: u64 = 460;
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskDumpHeader {
    pub signature: [u8; 8],
    pub header_version: i32,
    /// sysname, nodename, release, version, machine, domainname.
    pub utsname: [[u8; UTS_FIELD_LEN]; 6],
    pub timestamp_sec: i64,
    pub timestamp_usec: i64,
    pub status: u32,
    pub block_size: i32,
    pub sub_hdr_size: i32,
    pub bitmap_blocks: u32,
    pub max_mapnr: u32,
    pub total_ram_blocks: u32,
    pub device_blocks: u32,
    pub written_blocks: u32,
    pub current_cpu: u32,
    pub nr_cpus: i32,
}

impl Default for DiskDumpHeader {
    fn default() -> Self {
        DiskDumpHeader {
            signature: *KDUMP_SIGNATURE,
            header_version: MAX_HEADER_VERSION,
            utsname: [[0; UTS_FIELD_LEN]; 6],
            timestamp_sec: 0,
            timestamp_usec: 0,
            status: 0,
            block_size: 4096,
            sub_hdr_size: 1,
            bitmap_blocks: 0,
            max_mapnr: 0,
            total_ram_blocks: 0,
            device_blocks: 0,
            written_blocks: 0,
            current_cpu: 0,
            nr_cpus: 1,
        }
    }
}

fn c_string(b: &[u8]) -> String {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    String::from_utf8_lossy(&b[..end]).into_owned()
}

impl DiskDumpHeader {
    /// Decodes the fixed part; `b` must hold [`HEADER_SIZE`] bytes.
    pub(crate) fn parse(b: &[u8; HEADER_SIZE]) -> DiskDumpHeader {
        let mut signature = [0u8; 8];
        signature.copy_from_slice(&b[..8]);
        let mut utsname = [[0u8; UTS_FIELD_LEN]; 6];
        for (i, f) in utsname.iter_mut().enumerate() {
            let start = off::UTSNAME as usize + i * UTS_FIELD_LEN;
            f.copy_from_slice(&b[start..start + UTS_FIELD_LEN]);
        }
        let u32_at = |o: u64| le_u32(b, o as usize);
        DiskDumpHeader {
            signature,
            header_version: u32_at(off::VERSION) as i32,
            utsname,
            timestamp_sec: le_u64(b, off::TIMESTAMP as usize) as i64,
            timestamp_usec: le_u64(b, off::TIMESTAMP as usize + 8) as i64,
            status: u32_at(off::STATUS),
            block_size: u32_at(off::BLOCK_SIZE) as i32,
            sub_hdr_size: u32_at(off::SUB_HDR_SIZE) as i32,
            bitmap_blocks: u32_at(off::BITMAP_BLOCKS),
            max_mapnr: u32_at(off::MAX_MAPNR),
            total_ram_blocks: u32_at(444),
            device_blocks: u32_at(448),
            written_blocks: u32_at(452),
            current_cpu: u32_at(456),
            nr_cpus: u32_at(off::NR_CPUS) as i32,
        }
    }

    pub fn encode(&self) -> [u8; HEADER_SIZE] {
        let mut b = [0u8; HEADER_SIZE];
        b[..8].copy_from_slice(&self.signature);
        b[8..12].copy_from_slice(&self.header_version.to_le_bytes());
        for (i, f) in self.utsname.iter().enumerate() {
            let start = off::UTSNAME as usize + i * UTS_FIELD_LEN;
            b[start..start + UTS_FIELD_LEN].copy_from_slice(f);
        }
        b[408..416].copy_from_slice(&self.timestamp_sec.to_le_bytes());
        b[416..424].copy_from_slice(&self.timestamp_usec.to_le_bytes());
        let fields: [(usize, u32); 10] = [
            (424, self.status),
            (428, self.block_size as u32),
            (432, self.sub_hdr_size as u32),
            (436, self.bitmap_blocks),
            (440, self.max_mapnr),
            (444, self.total_ram_blocks),
            (448, self.device_blocks),
            (452, self.written_blocks),
            (456, self.current_cpu),
            (460, self.nr_cpus as u32),
        ];
        for (o, v) in fields {
            b[o..o + 4].copy_from_slice(&v.to_le_bytes());
        }
        b
    }

    /// utsname field `i` (0 sysname .. 5 domainname) as text.
    pub(crate) fn uts(&self, i: usize) -> String {
        self.utsname.get(i).map(|f| c_string(f)).unwrap_or_default()
    }

    // Used by `extract` only (feature `write`).
    #[cfg_attr(not(feature = "write"), allow(dead_code))]
    pub(crate) fn set_uts(&mut self, i: usize, s: &str) {
        if let Some(f) = self.utsname.get_mut(i) {
            *f = [0; UTS_FIELD_LEN];
            let n = s.len().min(UTS_FIELD_LEN - 1);
            f[..n].copy_from_slice(&s.as_bytes()[..n]);
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SubHeader {
    pub phys_base: u64,
    pub dump_level: i32,
    pub split: i32,
    pub start_pfn: u64,
    pub end_pfn: u64,
    pub offset_vmcoreinfo: i64,
    pub size_vmcoreinfo: u64,
    pub offset_note: i64,
    pub size_note: u64,
    pub offset_eraseinfo: i64,
    pub size_eraseinfo: u64,
    pub start_pfn_64: u64,
    pub end_pfn_64: u64,
    pub max_mapnr_64: u64,
}

impl SubHeader {
    /// Decodes the sub-header, keeping only the fields `version` defines
    /// (older producers leave garbage or other data after their fields).
    pub(crate) fn parse(b: &[u8; SUB_HEADER_SIZE], version: i32) -> SubHeader {
        let u = |o: usize| le_u64(b, o);
        let i = |o: usize| le_u32(b, o) as i32;
        let mut s = SubHeader {
            phys_base: u(0),
            ..SubHeader::default()
        };
        if version >= 1 {
            s.dump_level = i(8);
        }
        if version >= 2 {
            s.split = i(12);
            s.start_pfn = u(16);
            s.end_pfn = u(24);
        }
        if version >= 3 {
            s.offset_vmcoreinfo = u(32) as i64;
            s.size_vmcoreinfo = u(40);
        }
        if version >= 4 {
            s.offset_note = u(48) as i64;
            s.size_note = u(56);
        }
        if version >= 5 {
            s.offset_eraseinfo = u(64) as i64;
            s.size_eraseinfo = u(72);
        }
        if version >= 6 {
            s.start_pfn_64 = u(80);
            s.end_pfn_64 = u(88);
            s.max_mapnr_64 = u(96);
        }
        s
    }

    pub fn encode(&self) -> [u8; SUB_HEADER_SIZE] {
        let mut b = [0u8; SUB_HEADER_SIZE];
        let fields: [(usize, u64); 12] = [
            (0, self.phys_base),
            (16, self.start_pfn),
            (24, self.end_pfn),
            (32, self.offset_vmcoreinfo as u64),
            (40, self.size_vmcoreinfo),
            (48, self.offset_note as u64),
            (56, self.size_note),
            (64, self.offset_eraseinfo as u64),
            (72, self.size_eraseinfo),
            (80, self.start_pfn_64),
            (88, self.end_pfn_64),
            (96, self.max_mapnr_64),
        ];
        for (o, v) in fields {
            b[o..o + 8].copy_from_slice(&v.to_le_bytes());
        }
        b[8..12].copy_from_slice(&self.dump_level.to_le_bytes());
        b[12..16].copy_from_slice(&self.split.to_le_bytes());
        b
    }
}

/// `struct page_desc`: where one dumpable page's data is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PageDesc {
    pub offset: i64,
    pub size: u32,
    pub flags: u32,
    pub page_flags: u64,
}

impl PageDesc {
    pub fn parse(b: &[u8; PAGE_DESC_SIZE as usize]) -> PageDesc {
        PageDesc {
            offset: le_u64(b, 0) as i64,
            size: le_u32(b, 8),
            flags: le_u32(b, 12),
            page_flags: le_u64(b, 16),
        }
    }

    pub fn encode(&self) -> [u8; PAGE_DESC_SIZE as usize] {
        let mut b = [0u8; PAGE_DESC_SIZE as usize];
        b[..8].copy_from_slice(&self.offset.to_le_bytes());
        b[8..12].copy_from_slice(&self.size.to_le_bytes());
        b[12..16].copy_from_slice(&self.flags.to_le_bytes());
        b[16..24].copy_from_slice(&self.page_flags.to_le_bytes());
        b
    }
}

/// The compression a header's `status` announces, named as in the report.
pub(crate) fn compression_name(status: u32) -> &'static str {
    match status & COMPRESSION_MASK {
        0 => "none",
        DUMP_DH_COMPRESSED_ZLIB => "zlib",
        DUMP_DH_COMPRESSED_LZO => "lzo",
        DUMP_DH_COMPRESSED_SNAPPY => "snappy",
        DUMP_DH_COMPRESSED_ZSTD => "zstd",
        _ => "mixed",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trips() {
        let mut h = DiskDumpHeader {
            header_version: 6,
            status: DUMP_DH_COMPRESSED_ZSTD,
            bitmap_blocks: 2,
            max_mapnr: 0x1234,
            nr_cpus: 3,
            timestamp_sec: 1_700_000_000,
            timestamp_usec: 42,
            ..DiskDumpHeader::default()
        };
        h.set_uts(2, "6.1.0-test");
        h.set_uts(4, "x86_64");
        let b = h.encode();
        assert_eq!(&b[..8], b"KDUMP   ");
        assert_eq!(DiskDumpHeader::parse(&b), h);
        assert_eq!(h.uts(2), "6.1.0-test");
        let s = SubHeader {
            phys_base: 0x1000000,
            dump_level: 31,
            split: 1,
            start_pfn: 5,
            end_pfn: 9,
            offset_vmcoreinfo: 0x2000,
            size_vmcoreinfo: 77,
            offset_note: 0x1068,
            size_note: 500,
            offset_eraseinfo: 0,
            size_eraseinfo: 0,
            start_pfn_64: 5,
            end_pfn_64: 9,
            max_mapnr_64: 0x1234,
        };
        assert_eq!(SubHeader::parse(&s.encode(), 6), s);
        // Version 3 ignores the note, eraseinfo and 64-bit fields.
        let v3 = SubHeader::parse(&s.encode(), 3);
        assert_eq!(v3.size_vmcoreinfo, 77);
        assert_eq!(v3.size_note, 0);
        assert_eq!(v3.max_mapnr_64, 0);
    }

    #[test]
    fn compression_names() {
        assert_eq!(compression_name(0), "none");
        assert_eq!(
            compression_name(DUMP_DH_COMPRESSED_ZLIB | DUMP_DH_COMPRESSED_INCOMPLETE),
            "zlib"
        );
        assert_eq!(
            compression_name(DUMP_DH_COMPRESSED_ZLIB | DUMP_DH_COMPRESSED_ZSTD),
            "mixed"
        );
    }
}
