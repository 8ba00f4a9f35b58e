//! kallsyms tables: the encoder (src/write/kallsyms.rs) against the decoder
//! (src/debuginfo/kallsyms.rs) for every layout, and corrupt tables.

use pgsync_dump::debuginfo::kallsyms::{AddressEncoding, AddressTable, MAX_SYMS};
use pgsync_dump::debuginfo::{Kallsyms, KallsymsError, KallsymsLocation, SymbolKind};
use pgsync_dump::dump::VmcoreInfo;
use pgsync_dump::write::kallsyms::{
    EncodedKallsyms, KallsymsInput, KallsymsLayout, OffsetsLayout, encode,
};

const BASE: u64 = 0xffff_ffff_8280_0000;
const STEXT: u64 = 0xffff_ffff_8100_0000;

fn sym(name: &str, t: u8, address: u64) -> KallsymsInput {
    KallsymsInput {
        name: name.into(),
        type_letter: t,
        address,
        absolute: false,
    }
}

/// A long name that stays over 128 tokens: pseudo-random characters, so
/// few pairs repeat for the compressor to merge.
fn long_name(seed: u32) -> String {
    let alphabet: Vec<char> = ('a'..='z').chain('A'..='Z').chain('0'..='9').collect();
    let mut x = seed.wrapping_mul(2654435761).wrapping_add(1);
    (0..300)
        .map(|_| {
            x = x.wrapping_mul(1103515245).wrapping_add(12345);
            alphabet[(x >> 16) as usize % alphabet.len()]
        })
        .collect()
}

fn symbols(with_percpu: bool) -> Vec<KallsymsInput> {
    let mut v = vec![
        sym("_text", b'T', STEXT),
        sym("_stext", b'T', STEXT),
        sym("startup_64", b'T', STEXT + 0x40),
        sym("do_one_initcall", b'T', STEXT + 0x1000),
        sym("do_syscall_64", b'T', STEXT + 0x2000),
        sym("do_page_fault", b't', STEXT + 0x3000),
        sym("__do_page_fault", b't', STEXT + 0x3100),
        sym("init_task", b'D', STEXT + 0x1a0_0000),
        sym("init_mm", b'D', STEXT + 0x1a1_0000),
        sym("pgd_list", b'D', STEXT + 0x1a2_0000),
        sym("init_top_pgt", b'D', STEXT + 0x1a3_0000),
        sym("nr_cpu_ids", b'R', STEXT + 0x1200_0000),
        sym("__per_cpu_offset", b'D', STEXT + 0x1a4_0000),
        sym("max_pfn", b'B', STEXT + 0x2000_0000),
        sym("local_counter", b'b', STEXT + 0x2000_1000),
        // The same name file-local and global: the global one is found.
        sym("dup_name", b't', STEXT + 0x4000),
        sym("dup_name", b'T', STEXT + 0x5000),
        sym("dup_name", b't', STEXT + 0x6000),
        sym(&long_name(0), b't', STEXT + 0x7000),
        sym(&long_name(5), b'T', STEXT + 0x8000),
    ];
    if with_percpu {
        for (name, off) in [
            ("__per_cpu_start", 0u64),
            ("fixed_percpu_data", 0),
            ("cpu_tlbstate", 0x1_c000),
            ("current_task", 0x2_1440),
            ("__per_cpu_end", 0x3_4000),
        ] {
            v.push(KallsymsInput {
                name: name.into(),
                type_letter: b'D',
                address: off,
                absolute: true,
            });
        }
    }
    v
}

fn reader(
    enc: &EncodedKallsyms,
) -> impl FnMut(pgsync_dump::arch::x86_64::VirtAddr, &mut [u8]) -> Result<(), std::io::Error> + '_ {
    move |addr, buf| {
        let off = addr.get().wrapping_sub(enc.base) as usize;
        match enc.bytes.get(off..off.wrapping_add(buf.len())) {
            Some(src) if off.checked_add(buf.len()).is_some() => {
                buf.copy_from_slice(src);
                Ok(())
            }
            _ => Err(std::io::Error::other(format!("{addr:#x} not in memory"))),
        }
    }
}

fn vmcoreinfo(enc: &EncodedKallsyms, release: &str) -> VmcoreInfo {
    let mut text = format!("OSRELEASE={release}\nSYMBOL(_stext)={STEXT:x}\n");
    for (name, addr) in enc.vmcoreinfo_symbols() {
        text += &format!("SYMBOL({name})={addr:x}\n");
    }
    VmcoreInfo::parse(text.as_bytes())
}

fn decode(enc: &EncodedKallsyms, release: &str) -> Result<Kallsyms, KallsymsError> {
    let loc =
        KallsymsLocation::from_vmcoreinfo(&vmcoreinfo(enc, release)).expect("all tables named");
    Kallsyms::read(&loc, &mut reader(enc))
}

/// Every symbol decodes to its name, letter, address and absoluteness, in
/// address order.
fn round_trip(layout: KallsymsLayout, with_percpu: bool, expect: AddressEncoding) {
    let input = symbols(with_percpu);
    let enc = encode(&input, layout, BASE).expect("encodes");
    let ks = decode(&enc, "6.12.0-test").expect("decodes");
    assert_eq!(ks.encoding(), expect);
    assert!(ks.stext_verified());
    assert_eq!(ks.num_syms(), input.len());
    let mut decoded = Vec::new();
    ks.for_each(|name, s| {
        decoded.push((
            String::from_utf8(name.to_vec()).unwrap(),
            s.type_letter,
            s.address,
            s.absolute,
        ))
    });
    let mut expected: Vec<_> = input
        .iter()
        .map(|s| {
            (
                s.name.clone(),
                s.type_letter,
                s.address,
                s.absolute
                    && matches!(
                        layout.offsets,
                        OffsetsLayout::AbsolutePercpu | OffsetsLayout::Addresses
                    ),
            )
        })
        .collect();
    expected.sort_by(|a, b| (a.2, &a.0).cmp(&(b.2, &b.0)));
    assert_eq!(decoded, expected);

    let found = ks.find(&[
        "init_task",
        "dup_name",
        "current_task",
        "do_page_fault",
        "absent",
        &long_name(5),
    ]);
    assert_eq!(
        found.get("init_task").map(|s| (s.address, s.kind())),
        Some((STEXT + 0x1a0_0000, SymbolKind::Object))
    );
    assert_eq!(
        found.get("dup_name").map(|s| (s.address, s.type_letter)),
        Some((STEXT + 0x5000, b'T'))
    );
    assert_eq!(
        found.get("do_page_fault").map(|s| s.kind()),
        Some(SymbolKind::Func)
    );
    assert_eq!(
        found.get(&long_name(5)).map(|s| s.address),
        Some(STEXT + 0x8000)
    );
    assert_eq!(found.get("absent"), None);
    if with_percpu {
        let ct = found.get("current_task").unwrap();
        assert_eq!((ct.address, ct.absolute), (0x2_1440, true));
        // The link-time map keeps absolute values and removes KASLR from the rest.
        let map = found.to_link_time_map(0x100_0000);
        assert_eq!(map.get("current_task").map(|s| s.address), Some(0x2_1440));
        assert_eq!(
            map.get("init_task").map(|s| (s.address, s.size)),
            Some((STEXT + 0x1a0_0000 - 0x100_0000, 0))
        );
        assert_eq!(found.len(), 5);
    } else {
        assert_eq!(found.len(), 4);
        assert_eq!(found.get("current_task"), None);
    }
}

const BIG: bool = true;

#[test]
fn round_trip_absolute_percpu_big_names() {
    let layout = KallsymsLayout {
        offsets: OffsetsLayout::AbsolutePercpu,
        big_names: BIG,
    };
    let enc = encode(&symbols(true), layout, BASE).unwrap();
    let base = enc.relative_base.map(|_| STEXT).unwrap();
    round_trip(layout, true, AddressEncoding::AbsolutePercpu { base });
}

#[test]
fn round_trip_relative_base() {
    let layout = KallsymsLayout {
        offsets: OffsetsLayout::RelativeBase,
        big_names: BIG,
    };
    round_trip(layout, false, AddressEncoding::RelativeBase { base: STEXT });
}

#[test]
fn round_trip_place_relative() {
    let layout = KallsymsLayout {
        offsets: OffsetsLayout::PlaceRelative,
        big_names: BIG,
    };
    let enc = encode(&symbols(false), layout, BASE).unwrap();
    assert_eq!(enc.relative_base, None);
    let offsets = pgsync_dump::arch::x86_64::VirtAddr::new(enc.offsets);
    round_trip(layout, false, AddressEncoding::PlaceRelative { offsets });
}

#[test]
fn round_trip_plain_addresses() {
    let layout = KallsymsLayout {
        offsets: OffsetsLayout::Addresses,
        big_names: BIG,
    };
    round_trip(layout, true, AddressEncoding::Absolute);
}

#[test]
fn two_byte_lengths_and_multi_char_tokens_are_exercised() {
    let layout = KallsymsLayout {
        offsets: OffsetsLayout::RelativeBase,
        big_names: BIG,
    };
    let enc = encode(&symbols(false), layout, BASE).unwrap();
    let names = &enc.bytes[(enc.names - BASE) as usize..(enc.token_table - BASE) as usize];
    // Walk the entries: the two long names take a 2-byte length.
    let (mut pos, mut two_byte) = (0, 0);
    for _ in 0..symbols(false).len() {
        let b0 = names[pos] as usize;
        let (len, hdr) = if b0 & 0x80 != 0 {
            ((b0 & 0x7f) | (names[pos + 1] as usize) << 7, 2)
        } else {
            (b0, 1)
        };
        if hdr == 2 {
            assert!(len >= 128);
            two_byte += 1;
        }
        pos += hdr + len;
    }
    assert_eq!(two_byte, 2);
    let table = &enc.bytes[(enc.token_table - BASE) as usize..(enc.token_index - BASE) as usize];
    let longest = table.split(|&b| b == 0).map(<[u8]>::len).max().unwrap();
    assert!(
        longest >= 3,
        "tokens of several characters, longest {longest}"
    );

    // Which length rule applies follows OSRELEASE: 2-byte lengths from 6.1.
    for (release, big) in [
        ("6.0.19", false),
        ("6.1.0-57-cloud-amd64", true),
        ("7.3.4+deb13", true),
        ("weird", true),
        ("5.10.0", false),
    ] {
        let loc = KallsymsLocation::from_vmcoreinfo(&vmcoreinfo(&enc, release)).unwrap();
        assert_eq!(loc.big_names, big, "{release}");
    }
}

#[test]
fn one_byte_lengths_before_6_1() {
    // Names under 256 tokens in the pre-6.1 layout, 128..255 as one byte.
    let mut input = symbols(false);
    input.retain(|s| s.name.len() < 200);
    let name150: String = (0..150u32)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect::<String>()
        + "Z";
    input.push(sym(&name150, b'T', STEXT + 0x9000));
    let layout = KallsymsLayout {
        offsets: OffsetsLayout::AbsolutePercpu,
        big_names: false,
    };
    let enc = encode(&input, layout, BASE).unwrap();
    let ks = decode(&enc, "6.0.19").unwrap();
    assert_eq!(
        ks.find(&[&name150]).get(&name150).map(|s| s.address),
        Some(STEXT + 0x9000)
    );
}

#[test]
fn encoder_is_deterministic() {
    let layout = KallsymsLayout {
        offsets: OffsetsLayout::AbsolutePercpu,
        big_names: BIG,
    };
    let a = encode(&symbols(true), layout, BASE).unwrap();
    let mut shuffled = symbols(true);
    shuffled.reverse();
    let b = encode(&shuffled, layout, BASE).unwrap();
    assert_eq!(a, b);
}

fn enc_default() -> EncodedKallsyms {
    let layout = KallsymsLayout {
        offsets: OffsetsLayout::AbsolutePercpu,
        big_names: BIG,
    };
    encode(&symbols(true), layout, BASE).unwrap()
}

fn at(enc: &EncodedKallsyms, addr: u64) -> usize {
    (addr - enc.base) as usize
}

#[test]
fn num_syms_of_2_pow_31_is_refused() {
    let mut enc = enc_default();
    let o = at(&enc, enc.num_syms);
    enc.bytes[o..o + 4].copy_from_slice(&(1u32 << 31).to_le_bytes());
    let err = decode(&enc, "6.1.0").unwrap_err();
    assert!(
        matches!(err, KallsymsError::NumSyms { value, max, .. } if value == 1 << 31 && max == MAX_SYMS),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        format!(
            "kallsyms_num_syms at {:#x} is 2147483648: not a plausible symbol count (1..=2097152)",
            enc.num_syms
        )
    );
    enc.bytes[o..o + 4].copy_from_slice(&0u32.to_le_bytes());
    assert!(matches!(
        decode(&enc, "6.1.0").unwrap_err(),
        KallsymsError::NumSyms { value: 0, .. }
    ));
}

#[test]
fn broken_token_index_is_refused() {
    let mut enc = enc_default();
    let o = at(&enc, enc.token_index);
    // Entry 7 points one byte into token 6.
    let v = u16::from_le_bytes([enc.bytes[o + 14], enc.bytes[o + 15]]);
    enc.bytes[o + 14..o + 16].copy_from_slice(&(v - 1).to_le_bytes());
    let err = decode(&enc, "6.1.0").unwrap_err();
    assert!(
        matches!(err, KallsymsError::TokenIndex { entry: 7, value, expected, .. } if value == v - 1 && expected == v as usize),
        "{err}"
    );

    // An index past everything the table holds: the read of the table fails.
    let mut enc = enc_default();
    let o = at(&enc, enc.token_index);
    enc.bytes[o + 510..o + 512].copy_from_slice(&u16::MAX.to_le_bytes());
    let err = decode(&enc, "6.1.0").unwrap_err();
    assert!(
        matches!(
            err,
            KallsymsError::Read {
                table: "kallsyms_token_table",
                len: 65536,
                ..
            }
        ),
        "{err}"
    );

    // Token 0 not at offset 0.
    let mut enc = enc_default();
    let o = at(&enc, enc.token_index);
    enc.bytes[o..o + 2].copy_from_slice(&3u16.to_le_bytes());
    assert!(matches!(
        decode(&enc, "6.1.0").unwrap_err(),
        KallsymsError::TokenIndex {
            entry: 0,
            value: 3,
            expected: 0,
            ..
        }
    ));
}

#[test]
fn offsets_out_of_range_are_caught_by_stext() {
    let mut enc = enc_default();
    // Every offset moved by 0x1000: the table decodes, but _stext is wrong.
    let start = at(&enc, enc.offsets);
    for i in 0..symbols(true).len() {
        let o = start + 4 * i;
        let v = i32::from_le_bytes(enc.bytes[o..o + 4].try_into().unwrap());
        enc.bytes[o..o + 4].copy_from_slice(&(v.wrapping_sub(0x1000)).to_le_bytes());
    }
    let err = decode(&enc, "6.1.0").unwrap_err();
    assert!(
        matches!(err, KallsymsError::StextMismatch { expected: STEXT, decoded, .. } if decoded == STEXT + 0x1000),
        "{err}"
    );

    // The offsets table placed past the end of memory.
    let enc = enc_default();
    let mut info = vmcoreinfo(&enc, "6.1.0");
    info.symbols
        .insert("kallsyms_offsets".into(), BASE + 0x10_0000);
    let loc = KallsymsLocation::from_vmcoreinfo(&info).unwrap();
    let err = Kallsyms::read(&loc, &mut reader(&enc)).unwrap_err();
    assert!(
        matches!(
            err,
            KallsymsError::Read {
                table: "kallsyms_offsets",
                ..
            }
        ),
        "{err}"
    );
    assert!(std::error::Error::source(&err).is_some());
}

#[test]
fn names_running_past_memory_or_empty_are_refused() {
    // num_syms larger than the table: the walk goes on into the bytes that
    // follow and stops at the first zero length.
    let mut enc = enc_default();
    let o = at(&enc, enc.num_syms);
    enc.bytes[o..o + 4].copy_from_slice(&100_000u32.to_le_bytes());
    let err = decode(&enc, "6.1.0").unwrap_err();
    let n = symbols(true).len();
    assert!(
        matches!(err, KallsymsError::EmptyName { symbol, .. } if symbol == n),
        "{err}"
    );

    // A first name claiming 0x7fff tokens runs past the end of memory.
    let mut enc = enc_default();
    let o = at(&enc, enc.names);
    enc.bytes[o..o + 2].copy_from_slice(&[0xff, 0xff]);
    let err = decode(&enc, "6.1.0").unwrap_err();
    assert!(
        matches!(
            err,
            KallsymsError::Read {
                table: "kallsyms_names",
                ..
            }
        ),
        "{err}"
    );

    // A name of zero tokens.
    let mut enc = enc_default();
    let o = at(&enc, enc.names);
    enc.bytes[o] = 0;
    assert!(matches!(
        decode(&enc, "6.1.0").unwrap_err(),
        KallsymsError::EmptyName {
            symbol: 0,
            offset: 0,
            ..
        }
    ));
}

#[test]
fn location_needs_every_table() {
    let enc = enc_default();
    let full = vmcoreinfo(&enc, "6.1.0");
    let loc = KallsymsLocation::from_vmcoreinfo(&full).unwrap();
    assert!(matches!(
        loc.addresses,
        AddressTable::Offsets {
            relative_base: Some(_),
            ..
        }
    ));
    assert_eq!(loc.stext.map(|s| s.get()), Some(STEXT));
    for missing in [
        "kallsyms_names",
        "kallsyms_num_syms",
        "kallsyms_token_table",
        "kallsyms_token_index",
        "kallsyms_offsets",
    ] {
        let mut info = full.clone();
        info.symbols.remove(missing);
        assert_eq!(KallsymsLocation::from_vmcoreinfo(&info), None, "{missing}");
    }
    // No relative base: the place-relative layout of 7.x.
    let mut info = full.clone();
    info.symbols.remove("kallsyms_relative_base");
    let loc = KallsymsLocation::from_vmcoreinfo(&info).unwrap();
    assert!(matches!(
        loc.addresses,
        AddressTable::Offsets {
            relative_base: None,
            ..
        }
    ));
}

#[test]
fn relative_base_without_stext_falls_back_to_the_sign_rule() {
    for (offsets, percpu) in [
        (OffsetsLayout::AbsolutePercpu, true),
        (OffsetsLayout::RelativeBase, false),
    ] {
        let layout = KallsymsLayout {
            offsets,
            big_names: BIG,
        };
        let enc = encode(&symbols(percpu), layout, BASE).unwrap();
        let mut info = vmcoreinfo(&enc, "6.1.0");
        info.symbols.remove("_stext");
        let loc = KallsymsLocation::from_vmcoreinfo(&info).unwrap();
        let ks = Kallsyms::read(&loc, &mut reader(&enc)).unwrap();
        assert!(!ks.stext_verified());
        assert_eq!(
            ks.find(&["init_mm"]).get("init_mm").map(|s| s.address),
            Some(STEXT + 0x1a1_0000),
            "{offsets:?}"
        );
    }
}
