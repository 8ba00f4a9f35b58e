//! The populate_kernel model replayed over synthetic physical memory: init_mm
//! with slot 470 present, three process page tables on pgd_list (two lack
//! the slot, one points it at another table), and one page table owned by a
//! task but missing from pgd_list.

use pgsync_dump::arch::x86_64::paging::{Level, WalkOutcome};
use pgsync_dump::arch::x86_64::{PagingMode, PgdIndex, PhysAddr, VirtAddr};
use pgsync_dump::dump::PhysicalMemory;
use pgsync_dump::model::{
    KernelPageTables, MissingSlot, ModelError, Overlay, Pfn, PgdRef, PgtblModMask, PopulateKind,
    SyncMask, p4d_populate_kernel, replay_missing_slots, retranslate,
};

const DIRECT_MAP: u64 = 0xffff_8880_0000_0000;
const SLOT: u16 = 470;
const TABLE: u64 = 0x67;

const INIT_MM: u64 = 0x10000;
const LACKS_1: u64 = 0x30000;
const LACKS_2: u64 = 0x31000;
const MISMATCH: u64 = 0x32000;
const UNLISTED: u64 = 0x33000;
/// The table init_mm's slot 470 points to (PUD on 4-level, P4D on 5-level).
const SLOT_TABLE: u64 = 0x20000;
/// The other table MISMATCH's slot 470 points to.
const OTHER_TABLE: u64 = 0x40000;
/// Slot 273 (direct map) is present and equal everywhere: never touched.
const SHARED_SLOT: u16 = 273;
const SHARED_TABLE: u64 = 0x41000;
const FRAME: u64 = 0x55000;
const FAULT_OFFSET: u64 = 0x12_3456_7034;

use pgsync_dump::dump::sparse::SparseMemory as Pages;

fn read_u64(mem: &dyn PhysicalMemory, pa: u64) -> u64 {
    let mut b = [0u8; 8];
    mem.read(PhysAddr::new(pa), &mut b)
        .expect("test memory is readable");
    u64::from_le_bytes(b)
}

fn idx(va: u64, shift: u32) -> u64 {
    (va >> shift) & 511
}

fn pgd(pa: u64) -> PgdRef {
    PgdRef {
        pa: PhysAddr::new(pa),
        va: VirtAddr::new(DIRECT_MAP + pa),
    }
}

fn slot_pa(table: u64, slot: u16) -> u64 {
    table + u64::from(slot) * 8
}

/// The machine: returns the memory and the fault address (in slot 470).
fn build(mode: PagingMode) -> (Pages, u64) {
    let mut m = Pages::new();
    let fault = mode.slot_start(PgdIndex(SLOT)) + FAULT_OFFSET;
    for t in [INIT_MM, LACKS_1, LACKS_2, MISMATCH, UNLISTED] {
        m.add_page(t);
        m.write_u64(slot_pa(t, SHARED_SLOT), SHARED_TABLE | TABLE);
    }
    m.add_page(SHARED_TABLE);
    m.add_page(OTHER_TABLE);
    m.add_page(FRAME);
    m.write_u64(slot_pa(INIT_MM, SLOT), SLOT_TABLE | TABLE);
    m.write_u64(slot_pa(MISMATCH, SLOT), OTHER_TABLE | TABLE);
    // Below the top level: [P4D ->] PUD -> PMD -> PT -> FRAME.
    let mut table = SLOT_TABLE;
    let mut next = 0x21000;
    let shifts: &[u32] = match mode {
        PagingMode::FourLevel => &[30, 21],
        PagingMode::FiveLevel => &[39, 30, 21],
    };
    for &shift in shifts {
        m.write_u64(table + idx(fault, shift) * 8, next | TABLE);
        table = next;
        next += 0x1000;
    }
    m.write_u64(table + idx(fault, 12) * 8, FRAME | 0x63);
    (m, fault)
}

fn tables(mode: PagingMode) -> KernelPageTables {
    KernelPageTables {
        mode,
        sme_mask: 0,
        init_mm_pgd: pgd(INIT_MM),
        pgd_list: vec![pgd(LACKS_1), pgd(LACKS_2), pgd(MISMATCH)],
        unlisted: vec![pgd(UNLISTED)],
    }
}

fn missing(mode: PagingMode) -> Vec<MissingSlot> {
    let slot = MissingSlot {
        pgd_index: PgdIndex(SLOT),
        va_start: VirtAddr::new(mode.slot_start(PgdIndex(SLOT))),
        init_mm_entry: SLOT_TABLE | TABLE,
    };
    // The checker reports one finding per page table: the same slot twice.
    vec![slot, slot]
}

fn replay_fills_missing_slots(mode: PagingMode, expected_kind: PopulateKind) {
    let (dump, fault) = build(mode);
    let pristine = dump.clone();
    let t = tables(mode);
    let mut overlay = Overlay::new(&dump);
    let report = replay_missing_slots(&mut overlay, &t, SyncMask::KernelDefault, &missing(mode))
        .expect("replay runs");

    assert_eq!(report.calls.len(), 1, "one call per distinct slot");
    let call = &report.calls[0];
    assert_eq!(call.kind, expected_kind);
    assert_eq!(call.pgd_index, PgdIndex(SLOT));
    assert_eq!(call.addr, mode.slot_start(PgdIndex(SLOT)));
    assert_eq!(call.entry, SLOT_TABLE | TABLE);
    assert_eq!(call.synced(), 2);
    let sync = call.sync.as_ref().expect("the default mask syncs");
    assert_eq!(sync.written, vec![pgd(LACKS_1), pgd(LACKS_2)]);
    assert_eq!(call.bug_on(), vec![pgd(MISMATCH)]);
    assert_eq!(sync.bug_on[0].entry, OTHER_TABLE | TABLE);
    assert_eq!(sync.bug_on[0].entry_pa.get(), slot_pa(MISMATCH, SLOT));
    assert_eq!(call.unreachable(), vec![pgd(UNLISTED)]);
    assert!(sync.unreadable.is_empty());

    // Filled with exactly init_mm's entry value.
    let init_entry = read_u64(&overlay, slot_pa(INIT_MM, SLOT));
    assert_eq!(init_entry, SLOT_TABLE | TABLE);
    assert_eq!(read_u64(&overlay, slot_pa(LACKS_1, SLOT)), init_entry);
    assert_eq!(read_u64(&overlay, slot_pa(LACKS_2, SLOT)), init_entry);
    // The mismatching and the unreachable table are unchanged.
    assert_eq!(
        read_u64(&overlay, slot_pa(MISMATCH, SLOT)),
        OTHER_TABLE | TABLE
    );
    assert_eq!(read_u64(&overlay, slot_pa(UNLISTED, SLOT)), 0);
    // Only the two synced tables changed; the re-populate of init_mm wrote
    // the value it already had.
    assert_eq!(
        overlay.dirty_pages(),
        vec![
            Pfn::containing(PhysAddr::new(LACKS_1)),
            Pfn::containing(PhysAddr::new(LACKS_2))
        ]
    );
    // The underlying memory is byte-identical to before.
    assert!(dump == pristine);

    // The fault address, walked in a table that lacked the slot.
    let r = retranslate(
        &overlay,
        mode,
        0,
        PhysAddr::new(LACKS_1),
        VirtAddr::new(fault),
    );
    assert_eq!(
        r.before.outcome,
        WalkOutcome::NotPresent { level: Level::Pgd }
    );
    assert_eq!(r.before.steps.len(), 1);
    assert_eq!(r.before.steps[0].entry, 0);
    assert_eq!(
        r.after.outcome,
        WalkOutcome::Mapped {
            pa: PhysAddr::new(FRAME + (fault & 0xfff)),
            page_size: 4096
        }
    );
    assert_eq!(r.after.steps.len(), usize::from(mode.levels()));
    // In the unreachable table the fault stays unmapped.
    let r = retranslate(
        &overlay,
        mode,
        0,
        PhysAddr::new(UNLISTED),
        VirtAddr::new(fault),
    );
    assert_eq!(
        r.after.outcome,
        WalkOutcome::NotPresent { level: Level::Pgd }
    );
}

#[test]
fn four_level_default_mask_syncs_with_p4d_populate_kernel() {
    replay_fills_missing_slots(PagingMode::FourLevel, PopulateKind::P4dPopulateKernel);
}

#[test]
fn five_level_default_mask_syncs_with_pgd_populate_kernel() {
    replay_fills_missing_slots(PagingMode::FiveLevel, PopulateKind::PgdPopulateKernel);
}

fn replay_syncs_nothing(mode: PagingMode, mask: SyncMask) {
    let (dump, fault) = build(mode);
    let pristine = dump.clone();
    let t = tables(mode);
    let mut overlay = Overlay::new(&dump);
    let report = replay_missing_slots(&mut overlay, &t, mask, &missing(mode)).expect("replay runs");
    assert_eq!(report.calls.len(), 1);
    let call = &report.calls[0];
    assert_eq!(call.kind, pgsync_dump::model::derive_populate_kind(mode));
    assert!(call.sync.is_none(), "{mask} on {mode:?} must skip the sync");
    assert_eq!(call.synced(), 0);
    assert!(call.bug_on().is_empty());
    assert!(call.unreachable().is_empty());
    for t in [LACKS_1, LACKS_2, UNLISTED] {
        assert_eq!(read_u64(&overlay, slot_pa(t, SLOT)), 0);
    }
    assert!(overlay.dirty_pages().is_empty());
    assert!(dump == pristine);
    let r = retranslate(
        &overlay,
        mode,
        0,
        PhysAddr::new(LACKS_1),
        VirtAddr::new(fault),
    );
    assert_eq!(
        r.before.outcome,
        WalkOutcome::NotPresent { level: Level::Pgd }
    );
    assert_eq!(
        r.after.outcome,
        WalkOutcome::NotPresent { level: Level::Pgd }
    );
}

#[test]
fn four_level_pgd_only_mask_leaves_the_slot_missing() {
    // Why x86-64's mask depends on the paging mode: with 4-level paging the
    // top-level slot is written by p4d_populate_kernel, which a PGD-only mask
    // does not sync.
    replay_syncs_nothing(PagingMode::FourLevel, SyncMask::Pgd);
}

#[test]
fn five_level_p4d_only_mask_syncs_nothing_at_the_top_level() {
    replay_syncs_nothing(PagingMode::FiveLevel, SyncMask::P4d);
}

#[test]
fn none_mask_syncs_nothing() {
    replay_syncs_nothing(PagingMode::FourLevel, SyncMask::None);
    replay_syncs_nothing(PagingMode::FiveLevel, SyncMask::None);
}

#[test]
fn counterfactual_masks_that_match_the_kernel_sync() {
    // `p4d` on 4-level and `pgd` on 5-level are the kernel's own masks.
    for (mode, mask) in [
        (PagingMode::FourLevel, SyncMask::P4d),
        (PagingMode::FiveLevel, SyncMask::Pgd),
    ] {
        let (dump, _) = build(mode);
        let mut overlay = Overlay::new(&dump);
        let report = replay_missing_slots(&mut overlay, &tables(mode), mask, &missing(mode))
            .expect("replay runs");
        assert_eq!(report.calls[0].synced(), 2);
        assert_eq!(report.mask_bits, SyncMask::KernelDefault.resolve(mode));
    }
}

#[test]
fn finding_that_disagrees_with_memory_is_an_error() {
    let mode = PagingMode::FourLevel;
    let (dump, _) = build(mode);
    let mut overlay = Overlay::new(&dump);
    let mut wrong = missing(mode);
    wrong[0].init_mm_entry = 0x99000 | TABLE;
    let err = replay_missing_slots(
        &mut overlay,
        &tables(mode),
        SyncMask::KernelDefault,
        &wrong[..1],
    );
    assert!(matches!(err, Err(ModelError::InitMmEntryDiffers { .. })));
    assert!(overlay.dirty_pages().is_empty());
}

#[test]
fn fresh_populate_of_an_empty_slot_uses_an_allocated_table() {
    // A populate the kernel would do now: slot 471 is empty everywhere; a new
    // PUD table (allocated above the dump) is installed in init_mm and synced.
    let mode = PagingMode::FourLevel;
    let (dump, _) = build(mode);
    let t = tables(mode);
    let mut overlay = Overlay::new(&dump);
    let pud = overlay.alloc_page().expect("a free page frame");
    let entry = pgsync_dump::model::populate::table_entry_for(pud, 0);
    let addr = mode.slot_start(PgdIndex(471)) + 0x1000;
    let call = p4d_populate_kernel(
        &mut overlay,
        &t,
        SyncMask::KernelDefault.resolve(mode),
        addr,
        entry,
    )
    .expect("populate runs");
    assert_eq!(
        call.written_entry_pa,
        Some(PhysAddr::new(slot_pa(INIT_MM, 471)))
    );
    assert_eq!(call.synced(), 3);
    for table in [INIT_MM, LACKS_1, LACKS_2, MISMATCH] {
        assert_eq!(read_u64(&overlay, slot_pa(table, 471)), entry);
    }
    assert_eq!(call.unreachable(), vec![pgd(UNLISTED)]);
    assert!(overlay.dirty_pages().contains(&pud));
    // The model cannot write memory the dump does not hold.
    assert!(overlay.write_u64(PhysAddr::new(0x7_0000_0000), 1).is_err());
}

#[test]
fn five_level_p4d_populate_writes_inside_the_p4d_table() {
    let mode = PagingMode::FiveLevel;
    let (dump, _) = build(mode);
    let t = tables(mode);
    let mut overlay = Overlay::new(&dump);
    let addr = mode.slot_start(PgdIndex(SLOT)) + (5u64 << 39);
    let call = p4d_populate_kernel(
        &mut overlay,
        &t,
        PgtblModMask::PGD_MODIFIED,
        addr,
        0x66000 | TABLE,
    )
    .expect("populate runs");
    assert_eq!(
        call.written_entry_pa,
        Some(PhysAddr::new(SLOT_TABLE + 5 * 8))
    );
    assert!(call.sync.is_none());
    assert_eq!(
        overlay.dirty_pages(),
        vec![Pfn::containing(PhysAddr::new(SLOT_TABLE))]
    );
    // The slot in init_mm has no P4D table: the populate cannot run.
    let err = p4d_populate_kernel(
        &mut overlay,
        &t,
        PgtblModMask::PGD_MODIFIED,
        mode.slot_start(PgdIndex(471)),
        0x66000 | TABLE,
    );
    assert!(matches!(err, Err(ModelError::NoP4dTable { .. })));
}
