//! Where `struct printk_ringbuffer` and its parts keep each member: from VMCOREINFO or DWARF.

use crate::debuginfo::Types;
use crate::dump::VmcoreInfo;

use crate::kernel::printk::{BitFieldPos, LayoutError};

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
    pub(crate) fn from_dwarf(types: &Types<'_>) -> Result<PrbLayout, LayoutError> {
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
