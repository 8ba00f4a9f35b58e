//! The kallsyms decoder over fuzzed kernel memory and table addresses, the
//! VMCOREINFO route to the tables, and the System.map parser with its
//! VMCOREINFO check, all over the same input.
//!
//! Input: a header (flags, six u32 table offsets from [`BASE`], the
//! VMCOREINFO `_stext`), then the memory that starts at [`BASE`].
//! Seeds: [`seeds`], the encoder's tables for every layout.

use std::io;

use pgsync_dump::arch::x86_64::VirtAddr;
use pgsync_dump::debuginfo::kallsyms::AddressTable;
use pgsync_dump::debuginfo::{Kallsyms, KallsymsLocation, SystemMap};
use pgsync_dump::dump::VmcoreInfo;
use pgsync_dump::write::kallsyms::{KallsymsInput, KallsymsLayout, OffsetsLayout, encode};

pub const BASE: u64 = 0xffff_ffff_8280_0000;
const HEADER: usize = 1 + 6 * 4 + 8;
const NAMES: &[&str] = &[
    "_stext",
    "init_task",
    "init_mm",
    "current_task",
    "__per_cpu_offset",
];

pub fn run(data: &[u8]) {
    let info = VmcoreInfo::parse(data);
    let _ = KallsymsLocation::from_vmcoreinfo(&info);
    if let Ok(map) = SystemMap::parse("fuzz", data.to_vec()) {
        let _ = map.find(NAMES);
        let fixed = VmcoreInfo::parse(b"SYMBOL(_stext)=ffffffffa6e00000\nSYMBOL(init_top_pgt)=ffffffffa8810000\nKERNELOFFSET=25e00000\n");
        let _ = map.check_against(&fixed);
        let _ = map.check_against(&info);
    }
    if let Some(ks) = decode(data) {
        let found = ks.find(NAMES);
        let _ = found.to_link_time_map(0x1000);
        let mut n = 0usize;
        ks.for_each(|name, _| n += name.len());
    }
}

/// The input's header and memory through the decoder.
pub fn decode(data: &[u8]) -> Option<Kallsyms> {
    let (header, memory) = data.split_at_checked(HEADER)?;
    let flags = header[0];
    let addr = |i: usize| {
        let b = &header[1 + 4 * i..5 + 4 * i];
        VirtAddr::new(BASE.wrapping_add(u64::from(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))))
    };
    let mut stext = [0u8; 8];
    stext.copy_from_slice(&header[25..33]);
    let addresses = match flags & 3 {
        0 => AddressTable::Addresses(addr(4)),
        1 => AddressTable::Offsets {
            offsets: addr(4),
            relative_base: Some(addr(5)),
        },
        _ => AddressTable::Offsets {
            offsets: addr(4),
            relative_base: None,
        },
    };
    let loc = KallsymsLocation {
        num_syms: addr(0),
        names: addr(1),
        token_table: addr(2),
        token_index: addr(3),
        addresses,
        big_names: flags & 4 != 0,
        stext: (flags & 8 != 0).then(|| VirtAddr::new(u64::from_le_bytes(stext))),
    };
    let mut read = |va: VirtAddr, buf: &mut [u8]| -> Result<(), io::Error> {
        let off = va.get().wrapping_sub(BASE);
        let src = usize::try_from(off)
            .ok()
            .and_then(|o| memory.get(o..o.checked_add(buf.len())?))
            .ok_or_else(|| io::Error::other("not in memory"))?;
        buf.copy_from_slice(src);
        Ok(())
    };
    Kallsyms::read(&loc, &mut read).ok()
}

/// One input per layout: the encoder's tables for a few symbols, with the
/// header pointing at them.
pub fn seeds() -> Vec<Vec<u8>> {
    let mut symbols: Vec<KallsymsInput> = [
        ("_text", b'T', 0xffff_ffff_8100_0000u64),
        ("_stext", b'T', 0xffff_ffff_8100_0000),
        ("do_syscall_64", b'T', 0xffff_ffff_8100_2000),
        ("init_task", b'D', 0xffff_ffff_82a0_0000),
        ("init_mm", b'D', 0xffff_ffff_82a1_0000),
        ("__per_cpu_offset", b'D', 0xffff_ffff_82a2_0000),
        ("do_page_fault", b't', 0xffff_ffff_8100_3000),
    ]
    .into_iter()
    .map(|(n, t, a)| KallsymsInput {
        name: n.into(),
        type_letter: t,
        address: a,
        absolute: false,
    })
    .collect();
    let mut out = Vec::new();
    for (offsets, flags) in [
        (OffsetsLayout::Addresses, 0u8),
        (OffsetsLayout::RelativeBase, 1),
        (OffsetsLayout::AbsolutePercpu, 1),
        (OffsetsLayout::PlaceRelative, 2),
    ] {
        if offsets == OffsetsLayout::AbsolutePercpu {
            symbols.push(KallsymsInput {
                name: "current_task".into(),
                type_letter: b'D',
                address: 0x2_1440,
                absolute: true,
            });
        }
        let layout = KallsymsLayout {
            offsets,
            big_names: true,
        };
        let Ok(enc) = encode(&symbols, layout, BASE) else {
            continue;
        };
        let rel = |a: u64| ((a - BASE) as u32).to_le_bytes();
        let mut input = vec![flags | 4 | 8];
        for a in [
            enc.num_syms,
            enc.names,
            enc.token_table,
            enc.token_index,
            enc.offsets,
            enc.relative_base.unwrap_or(BASE),
        ] {
            input.extend_from_slice(&rel(a));
        }
        input.extend_from_slice(&0xffff_ffff_8100_0000u64.to_le_bytes());
        input.extend_from_slice(&enc.bytes);
        out.push(input);
    }
    out
}
