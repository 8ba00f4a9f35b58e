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

mod block;
mod header;
mod layout;

use crate::ErrorChain;
use block::{BlockData, BlockProblem, locate_block};
pub(crate) use header::PrbHeader;
use header::{check_header, read_header};
pub use layout::PrbLayout;

use super::{KernelLog, KernelMemory, LogRecord, PagedReader, PrintkError, ProblemTally, le};

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

/// Reads every readable record of the ring buffer at `rb` (the value of the
/// kernel's `prb` pointer).
pub fn read_prb(
    mem: &dyn KernelMemory,
    layout: &PrbLayout,
    rb: u64,
) -> Result<KernelLog, PrintkError> {
    let mut r = PagedReader::new(mem);
    let h = read_header(&mut r, layout, rb)?;
    check_header(&h)?;
    let mut warnings = Vec::new();
    warn_if_data_window_too_wide(&h, &mut warnings);
    let ids = ids_to_read(&h, &mut warnings);
    will_need_rings(mem, layout, &h, &ids);
    let mut reader = RecordReader::new(r, layout, h);
    let mut records: Vec<LogRecord> = Vec::new();
    for step in 0..=ids.span {
        let id = ids.tail_id.wrapping_add(step) & DESC_ID_MASK;
        if let Some(record) = reader.read_record(id) {
            records.push(record);
        }
    }
    reader.into_warnings(&mut warnings);
    sort_and_dedup(&mut records, &mut warnings);
    Ok(KernelLog {
        records,
        warnings,
        format: "prb",
        layout_source: layout.source,
    })
}

/// A data window wider than the ring cannot bound blocks: say so (blocks
/// are then not checked against it, see `locate_block`).
fn warn_if_data_window_too_wide(h: &PrbHeader, warnings: &mut Vec<String>) {
    let data_ring_size = 1u64 << h.size_bits;
    if h.head_lpos.wrapping_sub(h.tail_lpos) > data_ring_size {
        warnings.push(format!(
            "text data ring: head_lpos {:#x} and tail_lpos {:#x} are more than the ring's {data_ring_size} bytes apart: not checking blocks against them",
            h.head_lpos, h.tail_lpos
        ));
    }
}

/// The descriptor ids to read: `tail_id` to `tail_id + span` (modulo the id
/// bits).
struct IdRange {
    tail_id: u64,
    span: u64,
}

/// Ids from tail to head; at most `count` of them exist at once.
fn ids_to_read(h: &PrbHeader, warnings: &mut Vec<String>) -> IdRange {
    let count = 1u64 << h.count_bits;
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
    IdRange { tail_id, span }
}

/// Hints the parts of both rings the reader goes through next: the
/// descriptors and infos of the ids to read, and the text data from
/// `tail_lpos` to `head_lpos`. With a cold page cache their pages are then
/// read together instead of one fault per page as the records are reached.
/// `h` has passed `check_header`, which bounds both rings.
fn will_need_rings(mem: &dyn KernelMemory, layout: &PrbLayout, h: &PrbHeader, ids: &IdRange) {
    let count = 1u64 << h.count_bits;
    let first = ids.tail_id & (count - 1);
    let n = ids.span.saturating_add(1).min(count);
    for (array, size) in [(h.descs, layout.desc_size), (h.infos, layout.info_size)] {
        for (index, len) in ring_spans(first, n, count) {
            mem.will_need(
                array.wrapping_add(index.saturating_mul(size)),
                len.saturating_mul(size),
            );
        }
    }
    let size = 1u64 << h.size_bits;
    let used = h.head_lpos.wrapping_sub(h.tail_lpos).min(size);
    for (index, len) in ring_spans(h.tail_lpos & (size - 1), used, size) {
        mem.will_need(h.data.wrapping_add(index), len);
    }
}

/// `n` consecutive slots of a ring of `ring` slots from index `first`
/// (`first < ring`, `n <= ring`), as at most two (index, length) runs.
fn ring_spans(first: u64, n: u64, ring: u64) -> impl Iterator<Item = (u64, u64)> {
    let before_end = n.min(ring.saturating_sub(first));
    [(first, before_end), (0, n - before_end)]
        .into_iter()
        .filter(|&(_, len)| len > 0)
}

/// Reads records one descriptor id at a time, tallying why the ones it
/// skips are skipped.
struct RecordReader<'m, 'l> {
    r: PagedReader<'m>,
    layout: &'l PrbLayout,
    h: PrbHeader,
    index_mask: u64,
    /// The current descriptor, then its `printk_info`.
    desc_buf: Vec<u8>,
    info_buf: Vec<u8>,
    problems: ProblemTally,
    /// Descriptors a writer was still filling (`DESC_RESERVED`).
    reserved: u64,
}

impl<'m, 'l> RecordReader<'m, 'l> {
    /// `h` has passed `check_header` and `layout` its own checks, which
    /// bound the ring and the buffers.
    fn new(r: PagedReader<'m>, layout: &'l PrbLayout, h: PrbHeader) -> RecordReader<'m, 'l> {
        RecordReader {
            r,
            layout,
            h,
            index_mask: (1u64 << h.count_bits) - 1,
            desc_buf: vec![0u8; layout.desc_size as usize],
            info_buf: vec![0u8; layout.info_size as usize],
            problems: ProblemTally::default(),
            reserved: 0,
        }
    }

    /// The record of descriptor `id`, or `None` when it cannot be shown.
    fn read_record(&mut self, id: u64) -> Option<LogRecord> {
        let index = id & self.index_mask;
        if !self.read_descriptor(id, index) {
            return None;
        }
        let seq = self.read_info(id, index)?;
        let text = self.read_text(id, seq)?;
        let (info_buf, layout) = (&self.info_buf, self.layout);
        Some(LogRecord {
            seq,
            ts_nsec: le(info_buf, layout.info_ts_nsec, 8),
            level: layout.info_level.extract(info_buf),
            facility: le(info_buf, layout.info_facility, 1) as u8,
            caller_id: layout.info_caller_id.map(|o| le(info_buf, o, 4) as u32),
            text,
        })
    }

    /// Reads slot `index` into `desc_buf`: true when it holds descriptor
    /// `id` in a readable (committed or finalized) state.
    fn read_descriptor(&mut self, id: u64, index: u64) -> bool {
        let desc_va = self.h.descs.wrapping_add(index * self.layout.desc_size);
        if let Err(e) = self.r.read(desc_va, &mut self.desc_buf) {
            self.problems.add("unreadable descriptors", || {
                format!("id {id:#x}: {}", ErrorChain(&e))
            });
            return false;
        }
        let state_var = le(&self.desc_buf, self.layout.desc_state_var, 8);
        if state_var & DESC_ID_MASK != id {
            self.problems
                .add("descriptors holding another id (desc_miss)", || {
                    format!(
                        "slot {index} expected id {id:#x}, holds {:#x}",
                        state_var & DESC_ID_MASK
                    )
                });
            return false;
        }
        match state_var >> DESC_FLAGS_SHIFT {
            DESC_COMMITTED | DESC_FINALIZED => true,
            DESC_RESERVED => {
                self.reserved += 1;
                false
            }
            _ => false, // DESC_REUSABLE: free, its record was dropped.
        }
    }

    /// Reads the `printk_info` of slot `index` into `info_buf`: its sequence
    /// number, when that number belongs in the slot.
    fn read_info(&mut self, id: u64, index: u64) -> Option<u64> {
        let info_va = self.h.infos.wrapping_add(index * self.layout.info_size);
        if let Err(e) = self.r.read(info_va, &mut self.info_buf) {
            self.problems.add("unreadable printk_info", || {
                format!("id {id:#x}: {}", ErrorChain(&e))
            });
            return None;
        }
        let seq = le(&self.info_buf, self.layout.info_seq, 8);
        if seq & self.index_mask != index {
            self.problems.add(
                "records whose sequence number does not match their slot",
                || format!("id {id:#x} in slot {index} has seq {seq}"),
            );
            return None;
        }
        Some(seq)
    }

    /// The text of the record whose descriptor and info are in the buffers.
    fn read_text(&mut self, id: u64, seq: u64) -> Option<String> {
        let begin = le(&self.desc_buf, self.layout.desc_text_begin, 8);
        let next = le(&self.desc_buf, self.layout.desc_text_next, 8);
        let text_len = le(&self.info_buf, self.layout.info_text_len, 2);
        match locate_block(&self.h, begin, next) {
            Ok(BlockData::EmptyLine) => Some(String::new()),
            Ok(BlockData::Block {
                block_va,
                data_size,
            }) => self.read_block_text(id, seq, block_va, data_size, text_len),
            Err(BlockProblem::Lost) => {
                self.problems.add(
                    "records whose text was lost when printed (FAILED_LPOS)",
                    || format!("seq {seq}"),
                );
                None
            }
            Err(BlockProblem::Invalid(why)) => {
                self.problems
                    .add("records with invalid text block positions", || {
                        format!("seq {seq}: {why}")
                    });
                None
            }
            Err(BlockProblem::Overwritten(why)) => {
                self.problems
                    .add("records whose text block was overwritten", || {
                        format!("seq {seq}: {why}")
                    });
                None
            }
        }
    }

    /// The text in the data block at `block_va`, when the block still
    /// belongs to descriptor `id`; at most `data_size` bytes.
    fn read_block_text(
        &mut self,
        id: u64,
        seq: u64,
        block_va: u64,
        data_size: u64,
        text_len: u64,
    ) -> Option<String> {
        let block_id = match self.r.read_u64(block_va) {
            Ok(v) => v,
            Err(e) => {
                self.problems.add("unreadable text blocks", || {
                    format!("seq {seq}: {}", ErrorChain(&e))
                });
                return None;
            }
        };
        if block_id & DESC_ID_MASK != id {
            self.problems
                .add("text blocks overwritten by another record", || {
                    format!("seq {seq} (id {id:#x}): the block at {block_va:#x} belongs to id {block_id:#x}")
                });
            return None;
        }
        let len = if text_len > data_size {
            self.problems
                .add("text lengths past their data block (truncated)", || {
                    format!("seq {seq}: text_len {text_len}, block holds {data_size}")
                });
            data_size
        } else {
            text_len
        };
        let mut bytes = vec![0u8; len as usize];
        if let Err(e) = self
            .r
            .read(block_va.wrapping_add(BLOCK_ID_SIZE), &mut bytes)
        {
            self.problems.add("unreadable text blocks", || {
                format!("seq {seq}: {}", ErrorChain(&e))
            });
            return None;
        }
        Some(String::from_utf8_lossy(&bytes).into_owned())
    }

    /// The skipped records as warnings: those still being written, then one
    /// line per kind of problem.
    fn into_warnings(self, warnings: &mut Vec<String>) {
        let reserved = self.reserved;
        if reserved > 0 {
            warnings.push(format!(
                "{reserved} record(s) were still being written when the dump was taken (descriptor state reserved): not shown"
            ));
        }
        self.problems.into_warnings(warnings);
    }
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
