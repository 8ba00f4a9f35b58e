//! The lockless printk ring buffer, Linux 5.10 and later
//! (kernel/printk/printk_ringbuffer.h and printk_ringbuffer.c).
//!
//! `struct printk_ringbuffer` holds two rings:
//! - the descriptor ring `desc_ring`: `1 << count_bits` descriptors
//!   (`struct prb_desc`: `state_var`, `text_blk_lpos {begin, next}`) and as
//!   many `struct printk_info` (seq, ts_nsec, text_len, facility, level,
//!   caller_id). Descriptor ids grow without bound; id `n` lives at index
//!   `n & (count - 1)`. Valid ids run from `tail_id` to `head_id`. A
//!   descriptor's `state_var` holds its id in the low 62 bits and its state
//!   in the top two (`DESC_STATE()`): reserved 0 (a writer is filling it),
//!   committed 1, finalized 2 (both readable), reusable 3 (free). An id in
//!   `state_var` different from the one expected is `desc_miss`.
//!   The kernel keeps `info.seq & (count - 1) == id & (count - 1)`
//!   (`prb_reserve()`), which the reader checks.
//! - the text data ring `text_data_ring`: `1 << size_bits` bytes of data
//!   blocks (`struct prb_data_block { unsigned long id; char data[]; }`),
//!   addressed by logical positions (lpos) that grow without bound; index =
//!   `lpos & (size - 1)`, wrap = `lpos >> size_bits`. Valid data lies from
//!   `tail_lpos` to `head_lpos`. A block that does not fit before the end
//!   of the ring is stored at the ring's start, and its `begin` stays in the
//!   previous wrap (`data_alloc()`, `get_data()`); since 6.18 ("don't
//!   needlessly wrap data blocks around") a block may also end exactly at
//!   the end of the ring. Data-less records have odd lpos values:
//!   `FAILED_LPOS` (1: the text was lost) and `EMPTY_LINE_LPOS` (3, named
//!   `NO_LPOS` before 6.7: an empty line).
//!
//! The reader walks ids from tail to head (as drgn's and crash's do), skips
//! descriptors that are not committed or finalized, validates each block
//! the way `get_data()` does, and also checks that the block's id is the
//! descriptor's (the kernel writes it in `data_alloc()`), which catches
//! text overwritten by newer records.

use crate::debuginfo::TypeInfo;
use crate::dump::VmcoreInfo;

use super::{
    BitFieldPos, KernelLog, KernelMemory, LayoutError, LogRecord, PagedReader, PrintkError,
    ProblemTally, le,
};

/// `DESC_FLAGS_SHIFT` for a 64-bit `unsigned long` (printk_ringbuffer.h).
pub(crate) const DESC_FLAGS_SHIFT: u32 = 62;
/// `DESC_ID_MASK`: the id bits of `state_var`.
pub(crate) const DESC_ID_MASK: u64 = !(3u64 << DESC_FLAGS_SHIFT);
/// `enum desc_state` values (printk_ringbuffer.h).
pub(crate) const DESC_RESERVED: u64 = 0;
pub(crate) const DESC_COMMITTED: u64 = 1;
pub(crate) const DESC_FINALIZED: u64 = 2;
#[expect(dead_code, reason = "kept so the constants list the whole kernel set")]
pub(crate) const DESC_REUSABLE: u64 = 3;
/// Data-less lpos values (printk_ringbuffer.h).
pub(crate) const FAILED_LPOS: u64 = 0x1;
pub(crate) const EMPTY_LINE_LPOS: u64 = 0x3;
/// Size of `prb_data_block.id` (an unsigned long).
const BLOCK_ID_SIZE: u64 = 8;

/// Largest `count_bits` accepted: the kernel caps log_buf_len at 2 GiB
/// (`LOG_BUF_LEN_MAX`, kernel/printk/printk.c) and uses one descriptor per
/// 32 bytes of text (`PRB_AVGBITS` = 5), so 26 bits.
pub(crate) const MAX_COUNT_BITS: u32 = 26;
/// Largest `size_bits` accepted (2 GiB, `LOG_BUF_LEN_MAX`).
pub(crate) const MAX_SIZE_BITS: u32 = 31;

/// Byte offsets of everything the reader touches. Offsets of
/// `atomic_long_t` members include `atomic_long_t.counter`. Member types
/// are the C ones (`unsigned int` bits, `unsigned long` ids and lpos, `u64`
/// seq and ts_nsec, `u16` text_len, `u8` facility, `u32` caller_id).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrbLayout {
    /// `printk_ringbuffer.desc_ring`
    pub rb_desc_ring: u64,
    /// `printk_ringbuffer.text_data_ring`
    pub rb_text_data_ring: u64,
    /// `prb_desc_ring.count_bits`
    pub desc_ring_count_bits: u64,
    /// `prb_desc_ring.descs`
    pub desc_ring_descs: u64,
    /// `prb_desc_ring.infos`
    pub desc_ring_infos: u64,
    /// `prb_desc_ring.head_id.counter`
    pub desc_ring_head_id: u64,
    /// `prb_desc_ring.tail_id.counter`
    pub desc_ring_tail_id: u64,
    /// `sizeof(struct prb_desc)`
    pub desc_size: u64,
    /// `prb_desc.state_var.counter`
    pub desc_state_var: u64,
    /// `prb_desc.text_blk_lpos.begin`
    pub desc_text_begin: u64,
    /// `prb_desc.text_blk_lpos.next`
    pub desc_text_next: u64,
    /// `sizeof(struct printk_info)`
    pub info_size: u64,
    pub info_seq: u64,
    pub info_ts_nsec: u64,
    pub info_text_len: u64,
    pub info_facility: u64,
    pub info_level: BitFieldPos,
    pub info_caller_id: Option<u64>,
    /// `prb_data_ring.size_bits`
    pub data_ring_size_bits: u64,
    /// `prb_data_ring.data`
    pub data_ring_data: u64,
    /// `prb_data_ring.head_lpos.counter`
    pub data_ring_head_lpos: u64,
    /// `prb_data_ring.tail_lpos.counter`
    pub data_ring_tail_lpos: u64,
    /// "vmcoreinfo" or "dwarf".
    pub source: &'static str,
}

impl PrbLayout {
    /// From the entries of kernel/printk/printk.c `log_buf_vmcoreinfo_setup()`.
    /// VMCOREINFO has no entry for `printk_info.facility` and `.level`: they
    /// are the two bytes after `u16 text_len` (`u8 facility; u8 flags:5;
    /// u8 level:3;`, unchanged since 5.10), level in bits 5-7.
    pub fn from_vmcoreinfo(info: &VmcoreInfo) -> Result<PrbLayout, LayoutError> {
        let off = |k: &str| {
            info.offsets
                .get(k)
                .copied()
                .ok_or_else(|| LayoutError::MissingEntry(format!("OFFSET({k})")))
        };
        let size = |k: &str| {
            info.sizes
                .get(k)
                .copied()
                .ok_or_else(|| LayoutError::MissingEntry(format!("SIZE({k})")))
        };
        let counter = off("atomic_long_t.counter")?;
        let text_blk_lpos = off("prb_desc.text_blk_lpos")?;
        let text_len = off("printk_info.text_len")?;
        let layout = PrbLayout {
            rb_desc_ring: off("printk_ringbuffer.desc_ring")?,
            rb_text_data_ring: off("printk_ringbuffer.text_data_ring")?,
            desc_ring_count_bits: off("prb_desc_ring.count_bits")?,
            desc_ring_descs: off("prb_desc_ring.descs")?,
            desc_ring_infos: off("prb_desc_ring.infos")?,
            desc_ring_head_id: off("prb_desc_ring.head_id")? + counter,
            desc_ring_tail_id: off("prb_desc_ring.tail_id")? + counter,
            desc_size: size("prb_desc")?,
            desc_state_var: off("prb_desc.state_var")? + counter,
            desc_text_begin: text_blk_lpos + off("prb_data_blk_lpos.begin")?,
            desc_text_next: text_blk_lpos + off("prb_data_blk_lpos.next")?,
            info_size: size("printk_info")?,
            info_seq: off("printk_info.seq")?,
            info_ts_nsec: off("printk_info.ts_nsec")?,
            info_text_len: text_len,
            info_facility: text_len + 2,
            info_level: BitFieldPos {
                offset: text_len + 3,
                shift: 5,
                bits: 3,
            },
            info_caller_id: info.offsets.get("printk_info.caller_id").copied(),
            data_ring_size_bits: off("prb_data_ring.size_bits")?,
            data_ring_data: off("prb_data_ring.data")?,
            data_ring_head_lpos: off("prb_data_ring.head_lpos")? + counter,
            data_ring_tail_lpos: off("prb_data_ring.tail_lpos")? + counter,
            source: "vmcoreinfo",
        };
        layout.check()?;
        Ok(layout)
    }

    /// From DWARF. All the structs are defined in one compile unit
    /// (kernel/printk/printk_ringbuffer.h), so one prefetch finds them.
    pub(crate) fn from_dwarf(types: &TypeInfo<'_>) -> Result<PrbLayout, LayoutError> {
        types.prefetch(&[
            "printk_ringbuffer",
            "prb_desc_ring",
            "prb_desc",
            "printk_info",
            "prb_data_ring",
        ]);
        let rb = types
            .struct_type("printk_ringbuffer")
            .map_err(LayoutError::from)?;
        let desc_ring = types
            .struct_type("prb_desc_ring")
            .map_err(LayoutError::from)?;
        let desc = types.struct_type("prb_desc").map_err(LayoutError::from)?;
        let info = types
            .struct_type("printk_info")
            .map_err(LayoutError::from)?;
        let data_ring = types
            .struct_type("prb_data_ring")
            .map_err(LayoutError::from)?;
        let off = |s: &crate::debuginfo::StructType, path: &str| {
            s.member(path).map(|m| m.offset).map_err(LayoutError::from)
        };
        let level = info.member("level").map_err(LayoutError::from)?;
        let info_level = match level.bit_field {
            Some(b) => BitFieldPos {
                offset: level.offset,
                shift: b.bit_offset,
                bits: b.bit_size.min(8) as u8,
            },
            None => BitFieldPos {
                offset: level.offset,
                shift: 0,
                bits: 8,
            },
        };
        let layout = PrbLayout {
            rb_desc_ring: off(&rb, "desc_ring")?,
            rb_text_data_ring: off(&rb, "text_data_ring")?,
            desc_ring_count_bits: off(&desc_ring, "count_bits")?,
            desc_ring_descs: off(&desc_ring, "descs")?,
            desc_ring_infos: off(&desc_ring, "infos")?,
            desc_ring_head_id: off(&desc_ring, "head_id.counter")?,
            desc_ring_tail_id: off(&desc_ring, "tail_id.counter")?,
            desc_size: desc.size,
            desc_state_var: off(&desc, "state_var.counter")?,
            desc_text_begin: off(&desc, "text_blk_lpos.begin")?,
            desc_text_next: off(&desc, "text_blk_lpos.next")?,
            info_size: info.size,
            info_seq: off(&info, "seq")?,
            info_ts_nsec: off(&info, "ts_nsec")?,
            info_text_len: off(&info, "text_len")?,
            info_facility: off(&info, "facility")?,
            info_level,
            info_caller_id: info.member("caller_id").ok().map(|m| m.offset),
            data_ring_size_bits: off(&data_ring, "size_bits")?,
            data_ring_data: off(&data_ring, "data")?,
            data_ring_head_lpos: off(&data_ring, "head_lpos.counter")?,
            data_ring_tail_lpos: off(&data_ring, "tail_lpos.counter")?,
            source: "dwarf",
        };
        layout.check()?;
        Ok(layout)
    }

    /// Members must lie inside their structs.
    fn check(&self) -> Result<(), LayoutError> {
        let inside = |what: &str, off: u64, width: u64, size: u64| {
            if off.checked_add(width).is_some_and(|end| end <= size) {
                Ok(())
            } else {
                Err(LayoutError::Implausible(format!(
                    "{what} at offset {off} does not fit in a {size}-byte struct"
                )))
            }
        };
        inside("prb_desc.state_var", self.desc_state_var, 8, self.desc_size)?;
        inside(
            "prb_desc.text_blk_lpos.begin",
            self.desc_text_begin,
            8,
            self.desc_size,
        )?;
        inside(
            "prb_desc.text_blk_lpos.next",
            self.desc_text_next,
            8,
            self.desc_size,
        )?;
        inside("printk_info.seq", self.info_seq, 8, self.info_size)?;
        inside("printk_info.ts_nsec", self.info_ts_nsec, 8, self.info_size)?;
        inside(
            "printk_info.text_len",
            self.info_text_len,
            2,
            self.info_size,
        )?;
        inside(
            "printk_info.facility",
            self.info_facility,
            1,
            self.info_size,
        )?;
        inside(
            "printk_info.level",
            self.info_level.offset,
            1,
            self.info_size,
        )?;
        if let Some(c) = self.info_caller_id {
            inside("printk_info.caller_id", c, 4, self.info_size)?;
        }
        if self.desc_size == 0
            || self.info_size == 0
            || self.desc_size > 4096
            || self.info_size > 4096
        {
            return Err(LayoutError::Implausible(format!(
                "implausible struct sizes: prb_desc {} bytes, printk_info {} bytes",
                self.desc_size, self.info_size
            )));
        }
        Ok(())
    }
}

/// The ring buffer's header, as read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PrbHeader {
    pub count_bits: u32,
    pub descs: u64,
    pub infos: u64,
    pub head_id: u64,
    pub tail_id: u64,
    pub size_bits: u32,
    pub data: u64,
    pub head_lpos: u64,
    pub tail_lpos: u64,
}

fn read_header(
    r: &mut PagedReader<'_>,
    layout: &PrbLayout,
    rb: u64,
) -> Result<PrbHeader, PrintkError> {
    let dr = rb.wrapping_add(layout.rb_desc_ring);
    let tr = rb.wrapping_add(layout.rb_text_data_ring);
    let mut field = |name: &str, va: u64, width: usize| -> Result<u64, PrintkError> {
        let res = if width == 4 {
            r.read_u32(va).map(u64::from)
        } else {
            r.read_u64(va)
        };
        res.map_err(|source| PrintkError::Read {
            what: format!("printk_ringbuffer {name} at {va:#x}"),
            source,
        })
    };
    Ok(PrbHeader {
        count_bits: field(
            "desc_ring.count_bits",
            dr.wrapping_add(layout.desc_ring_count_bits),
            4,
        )? as u32,
        descs: field(
            "desc_ring.descs",
            dr.wrapping_add(layout.desc_ring_descs),
            8,
        )?,
        infos: field(
            "desc_ring.infos",
            dr.wrapping_add(layout.desc_ring_infos),
            8,
        )?,
        head_id: field(
            "desc_ring.head_id",
            dr.wrapping_add(layout.desc_ring_head_id),
            8,
        )?,
        tail_id: field(
            "desc_ring.tail_id",
            dr.wrapping_add(layout.desc_ring_tail_id),
            8,
        )?,
        size_bits: field(
            "text_data_ring.size_bits",
            tr.wrapping_add(layout.data_ring_size_bits),
            4,
        )? as u32,
        data: field(
            "text_data_ring.data",
            tr.wrapping_add(layout.data_ring_data),
            8,
        )?,
        head_lpos: field(
            "text_data_ring.head_lpos",
            tr.wrapping_add(layout.data_ring_head_lpos),
            8,
        )?,
        tail_lpos: field(
            "text_data_ring.tail_lpos",
            tr.wrapping_add(layout.data_ring_tail_lpos),
            8,
        )?,
    })
}

/// Where a record's text lies, per `get_data()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BlockData {
    /// `EMPTY_LINE_LPOS`: an empty line, no data block.
    EmptyLine,
    /// A data block: its `id` at `block_va`, `data_size` text bytes after it.
    Block { block_va: u64, data_size: u64 },
}

/// Why a record's text cannot be read.
#[derive(Debug, Clone, PartialEq, Eq)]
enum BlockProblem {
    /// `FAILED_LPOS`: the writer got no data space; the kernel's own reader
    /// drops such records too.
    Lost,
    /// Positions no writer produces.
    Invalid(String),
    /// A block outside the data ring's valid window.
    Overwritten(String),
}

/// Validates a descriptor's `text_blk_lpos` as kernel/printk/printk_ringbuffer.c
/// `get_data()` does, and against the data ring's valid window.
fn locate_block(h: &PrbHeader, begin: u64, next: u64) -> Result<BlockData, BlockProblem> {
    use BlockProblem::{Invalid, Lost, Overwritten};
    let data_size_total = 1u64 << h.size_bits;
    if begin & 1 != 0 && next & 1 != 0 {
        return if begin == EMPTY_LINE_LPOS && next == EMPTY_LINE_LPOS {
            Ok(BlockData::EmptyLine)
        } else if begin == FAILED_LPOS && next == FAILED_LPOS {
            Err(Lost)
        } else {
            Err(Invalid(format!(
                "invalid data-less lpos {begin:#x}..{next:#x}"
            )))
        };
    }
    if begin % BLOCK_ID_SIZE != 0 || next % BLOCK_ID_SIZE != 0 {
        return Err(Invalid(format!("unaligned block {begin:#x}..{next:#x}")));
    }
    let span = next.wrapping_sub(begin);
    if span == 0 || span > 2 * data_size_total {
        return Err(Invalid(format!(
            "block {begin:#x}..{next:#x} has an impossible length"
        )));
    }
    // Logical positions wrap modulo 2^64, so wrap counts wrap modulo 2^(64 - size_bits).
    let wrap_mask = u64::MAX >> h.size_bits;
    let wraps = |lpos: u64| lpos >> h.size_bits;
    let index = |lpos: u64| lpos & (data_size_total - 1);
    let last = next.wrapping_sub(1);
    let (block_index, block_size) = if wraps(begin) == wraps(last) {
        // Regular block: all its bytes in one wrap.
        (index(begin), span)
    } else if wraps(begin).wrapping_add(1) & wrap_mask == wraps(last) {
        // Wrapping block: the data was written at the start of the ring.
        (0, index(last) + 1)
    } else {
        return Err(Invalid(format!(
            "block {begin:#x}..{next:#x} spans more than one wrap"
        )));
    };
    if block_size <= BLOCK_ID_SIZE || block_size > data_size_total {
        return Err(Invalid(format!(
            "block {begin:#x}..{next:#x} holds {block_size} bytes (ring: {data_size_total})"
        )));
    }
    // Valid data lies in [tail_lpos, head_lpos] (data_push_tail() makes a
    // descriptor reusable before its data is dropped).
    let window = h.head_lpos.wrapping_sub(h.tail_lpos);
    if window <= data_size_total
        && (begin.wrapping_sub(h.tail_lpos) > window || next.wrapping_sub(h.tail_lpos) > window)
    {
        return Err(Overwritten(format!(
            "block {begin:#x}..{next:#x} lies outside the valid data {:#x}..{:#x}",
            h.tail_lpos, h.head_lpos
        )));
    }
    Ok(BlockData::Block {
        block_va: h.data.wrapping_add(block_index),
        data_size: block_size - BLOCK_ID_SIZE,
    })
}

/// Reads every readable record of the ring buffer at `rb` (the value of the
/// kernel's `prb` pointer).
pub fn read_prb(
    mem: &dyn KernelMemory,
    layout: &PrbLayout,
    rb: u64,
) -> Result<KernelLog, PrintkError> {
    let mut r = PagedReader::new(mem);
    let h = read_header(&mut r, layout, rb)?;
    let corrupt = |what: &str, detail: String| PrintkError::Corrupt {
        what: what.into(),
        detail,
    };
    if h.count_bits == 0 || h.count_bits > MAX_COUNT_BITS {
        return Err(corrupt(
            "the descriptor ring",
            format!(
                "count_bits is {} (expected 1..={MAX_COUNT_BITS})",
                h.count_bits
            ),
        ));
    }
    if h.size_bits < 4 || h.size_bits > MAX_SIZE_BITS {
        return Err(corrupt(
            "the text data ring",
            format!(
                "size_bits is {} (expected 4..={MAX_SIZE_BITS})",
                h.size_bits
            ),
        ));
    }
    if h.descs == 0 || h.infos == 0 || h.data == 0 {
        return Err(corrupt(
            "the ring buffer",
            format!(
                "NULL array: descs {:#x}, infos {:#x}, data {:#x}",
                h.descs, h.infos, h.data
            ),
        ));
    }
    let mut warnings = Vec::new();
    let count = 1u64 << h.count_bits;
    let index_mask = count - 1;
    let data_ring_size = 1u64 << h.size_bits;
    if h.head_lpos.wrapping_sub(h.tail_lpos) > data_ring_size {
        warnings.push(format!(
            "text data ring: head_lpos {:#x} and tail_lpos {:#x} are more than the ring's {data_ring_size} bytes apart: not checking blocks against them",
            h.head_lpos, h.tail_lpos
        ));
    }

    // Ids from tail to head; at most `count` of them exist at once.
    let head_id = h.head_id & DESC_ID_MASK;
    let mut tail_id = h.tail_id & DESC_ID_MASK;
    let mut span = head_id.wrapping_sub(tail_id) & DESC_ID_MASK;
    if span >= count {
        warnings.push(format!(
            "descriptor ring: tail_id {:#x} is {span} ids behind head_id {:#x}, more than the {count} descriptors: reading the last {count}",
            h.tail_id, h.head_id
        ));
        span = count - 1;
        tail_id = head_id.wrapping_sub(span) & DESC_ID_MASK;
    }

    let mut problems = ProblemTally::default();
    let mut reserved = 0u64;
    let mut records: Vec<LogRecord> = Vec::new();
    let mut desc_buf = vec![0u8; layout.desc_size as usize];
    let mut info_buf = vec![0u8; layout.info_size as usize];
    for step in 0..=span {
        let id = tail_id.wrapping_add(step) & DESC_ID_MASK;
        let index = id & index_mask;
        let desc_va = h.descs.wrapping_add(index * layout.desc_size);
        if let Err(e) = r.read(desc_va, &mut desc_buf) {
            problems.add("unreadable descriptors", || format!("id {id:#x}: {e}"));
            continue;
        }
        let state_var = le(&desc_buf, layout.desc_state_var, 8);
        if state_var & DESC_ID_MASK != id {
            problems.add("descriptors holding another id (desc_miss)", || {
                format!(
                    "slot {index} expected id {id:#x}, holds {:#x}",
                    state_var & DESC_ID_MASK
                )
            });
            continue;
        }
        match state_var >> DESC_FLAGS_SHIFT {
            DESC_COMMITTED | DESC_FINALIZED => {}
            DESC_RESERVED => {
                reserved += 1;
                continue;
            }
            _ => continue, // DESC_REUSABLE: free, its record was dropped.
        }
        let info_va = h.infos.wrapping_add(index * layout.info_size);
        if let Err(e) = r.read(info_va, &mut info_buf) {
            problems.add("unreadable printk_info", || format!("id {id:#x}: {e}"));
            continue;
        }
        let seq = le(&info_buf, layout.info_seq, 8);
        if seq & index_mask != index {
            problems.add(
                "records whose sequence number does not match their slot",
                || format!("id {id:#x} in slot {index} has seq {seq}"),
            );
            continue;
        }
        let begin = le(&desc_buf, layout.desc_text_begin, 8);
        let next = le(&desc_buf, layout.desc_text_next, 8);
        let text_len = le(&info_buf, layout.info_text_len, 2);
        let text = match locate_block(&h, begin, next) {
            Ok(BlockData::EmptyLine) => String::new(),
            Ok(BlockData::Block {
                block_va,
                data_size,
            }) => {
                let block_id = match r.read_u64(block_va) {
                    Ok(v) => v,
                    Err(e) => {
                        problems.add("unreadable text blocks", || format!("seq {seq}: {e}"));
                        continue;
                    }
                };
                if block_id & DESC_ID_MASK != id {
                    problems.add("text blocks overwritten by another record", || {
                        format!("seq {seq} (id {id:#x}): the block at {block_va:#x} belongs to id {block_id:#x}")
                    });
                    continue;
                }
                let len = if text_len > data_size {
                    problems.add("text lengths past their data block (truncated)", || {
                        format!("seq {seq}: text_len {text_len}, block holds {data_size}")
                    });
                    data_size
                } else {
                    text_len
                };
                let mut bytes = vec![0u8; len as usize];
                if let Err(e) = r.read(block_va.wrapping_add(BLOCK_ID_SIZE), &mut bytes) {
                    problems.add("unreadable text blocks", || format!("seq {seq}: {e}"));
                    continue;
                }
                String::from_utf8_lossy(&bytes).into_owned()
            }
            Err(BlockProblem::Lost) => {
                problems.add(
                    "records whose text was lost when printed (FAILED_LPOS)",
                    || format!("seq {seq}"),
                );
                continue;
            }
            Err(BlockProblem::Invalid(why)) => {
                problems.add("records with invalid text block positions", || {
                    format!("seq {seq}: {why}")
                });
                continue;
            }
            Err(BlockProblem::Overwritten(why)) => {
                problems.add("records whose text block was overwritten", || {
                    format!("seq {seq}: {why}")
                });
                continue;
            }
        };
        records.push(LogRecord {
            seq,
            ts_nsec: le(&info_buf, layout.info_ts_nsec, 8),
            level: layout.info_level.extract(&info_buf),
            facility: le(&info_buf, layout.info_facility, 1) as u8,
            caller_id: layout.info_caller_id.map(|o| le(&info_buf, o, 4) as u32),
            text,
        });
    }
    if reserved > 0 {
        warnings.push(format!(
            "{reserved} record(s) were still being written when the dump was taken (descriptor state reserved): not shown"
        ));
    }
    problems.into_warnings(&mut warnings);
    sort_and_dedup(&mut records, &mut warnings);
    Ok(KernelLog {
        records,
        warnings,
        format: "prb",
        layout_source: layout.source,
    })
}

/// Orders records by sequence number and drops repeated numbers (only a
/// damaged ring repeats them).
pub(super) fn sort_and_dedup(records: &mut Vec<LogRecord>, warnings: &mut Vec<String>) {
    records.sort_by_key(|r| r.seq);
    let before = records.len();
    records.dedup_by_key(|r| r.seq);
    if records.len() != before {
        warnings.push(format!(
            "{} record(s) repeated a sequence number: kept the first of each",
            before - records.len()
        ));
    }
}
