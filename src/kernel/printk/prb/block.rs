//! Locating a record's text in the text data ring.

use super::{BLOCK_ID_SIZE, EMPTY_LINE_LPOS, FAILED_LPOS, PrbHeader};

/// Where a record's text lies, per `get_data()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum BlockData {
    /// `EMPTY_LINE_LPOS`: an empty line, no data block.
    EmptyLine,
    /// A data block: its `id` at `block_va`, `data_size` text bytes after it.
    Block { block_va: u64, data_size: u64 },
}

/// Why a record's text cannot be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum BlockProblem {
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
pub(super) fn locate_block(
    h: &PrbHeader,
    begin: u64,
    next: u64,
) -> Result<BlockData, BlockProblem> {
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
