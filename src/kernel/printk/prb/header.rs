//! The ring buffer's header: the two rings' sizes, arrays and positions.

use super::{MAX_COUNT_BITS, MAX_SIZE_BITS, PrbLayout};
use crate::kernel::printk::{PagedReader, PrintkError};

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

pub(super) fn read_header(
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

/// Rejects what no kernel writes: ring sizes beyond the kernel's limits and
/// NULL arrays. The reader sizes its walk from these.
pub(super) fn check_header(h: &PrbHeader) -> Result<(), PrintkError> {
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
    Ok(())
}
