//! The machine as a running kernel shows it in `/proc/kcore`
//! (fs/proc/kcore.c): an ET_CORE whose PT_LOADs are virtual ranges. The
//! kernel text (`KCORE_TEXT`, `p_paddr` = `__pa_symbol`), a vmalloc range and
//! the vmemmap (`p_paddr` all ones), then one direct-map segment per run of
//! RAM (`KCORE_RAM`, `p_vaddr` = `page_offset_base + p_paddr`); the notes are
//! kcore's: a zeroed NT_PRSTATUS, NT_PRPSINFO, NT_TASKSTRUCT and VMCOREINFO.
//!
//! A real kcore's file offsets follow the virtual addresses (its size is
//! ~128 TiB); a fixture packs the data instead. The text and vmalloc
//! segments hold a poison pattern, not the machine's bytes: a reader that
//! takes physical memory from anywhere but the direct map reads it and
//! gets the analysis wrong.

use pgsync_dump::write::elf::{CoreLayout, CoreSegment, write_core_segments};
use pgsync_dump::write::notes::{note, prstatus};

use super::SynthError;
use super::kernel::{Machine, START_KERNEL_MAP, TEXT_LINK};
use super::memory::PAGE;
use super::plan::Plan;

/// NT_PRPSINFO and NT_TASKSTRUCT (include/uapi/linux/elf.h).
const NT_PRPSINFO: u32 = 3;
const NT_TASKSTRUCT: u32 = 4;
/// Size of the poisoned text and vmalloc segments.
const POISON_PAGES: u64 = 4;

/// kcore's notes for the machine.
pub fn kcore_notes(m: &Machine) -> Vec<u8> {
    let mut notes = note("CORE", 1, &prstatus(0, 0, 0));
    notes.extend(note("CORE", NT_PRPSINFO, &[0u8; 136]));
    notes.extend(note("CORE", NT_TASKSTRUCT, &[0u8; 64]));
    notes.extend(note("VMCOREINFO", 0, m.vmcoreinfo.as_bytes()));
    notes
}

/// The kcore-shaped file of the machine `plan` built.
pub fn write_kcore(plan: &Plan, m: &Machine) -> Result<Vec<u8>, SynthError> {
    // Runs of consecutive pages: (first pfn, bytes); kcore has no zero tails.
    let mut runs: Vec<(u64, Vec<u8>)> = Vec::new();
    for (pfn, page) in m.mem.dumped_pages() {
        match runs.last_mut() {
            Some((start, bytes)) if *start + bytes.len() as u64 / PAGE == pfn => {
                bytes.extend_from_slice(page);
            }
            _ => runs.push((pfn, page.to_vec())),
        }
    }
    let poison = vec![0xee_u8; (POISON_PAGES * PAGE) as usize];
    let text_va = TEXT_LINK.wrapping_add(plan.kaslr_offset);
    let mut segments = vec![
        CoreSegment {
            paddr: text_va
                .wrapping_sub(START_KERNEL_MAP)
                .wrapping_add(plan.phys_base),
            vaddr: text_va,
            data: &poison,
            memsz: poison.len() as u64,
        },
        CoreSegment {
            paddr: u64::MAX,
            vaddr: plan.vmalloc_base,
            data: &poison,
            memsz: poison.len() as u64,
        },
    ];
    for (pfn, bytes) in &runs {
        segments.push(CoreSegment {
            paddr: pfn * PAGE,
            vaddr: plan.page_offset_base.wrapping_add(pfn * PAGE),
            data: bytes,
            memsz: bytes.len() as u64,
        });
    }
    segments.push(CoreSegment {
        paddr: u64::MAX,
        vaddr: plan.vmemmap_base,
        data: &poison,
        memsz: poison.len() as u64,
    });
    let layout = CoreLayout {
        load_p_align: PAGE,
        ..CoreLayout::default()
    };
    Ok(write_core_segments(&kcore_notes(m), &segments, &layout)?)
}
