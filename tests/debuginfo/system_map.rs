//! System.map parsing and its check against VMCOREINFO (src/debuginfo/system_map.rs).

use pgsync_dump::debuginfo::system_map::{MAX_FILE_BYTES, MAX_LINE_BYTES};
use pgsync_dump::debuginfo::{SymbolKind, SystemMap, SystemMapError};
use pgsync_dump::dump::VmcoreInfo;

/// The shape of a Debian 6.1 System.map (0-based per-CPU symbols first).
const MAP: &str = "\
0000000000000000 D __per_cpu_start
0000000000000000 D fixed_percpu_data
000000000001b000 D cpu_tlbstate
000000000000028a A kexec_control_code_size
ffffffff81000000 T _stext
ffffffff81000000 T _text
ffffffff81001000 t dup_name
ffffffff81002000 T dup_name
ffffffff82a10000 D init_top_pgt
ffffffff82a10000 D swapper_pg_dir
ffffffff82c00000 D init_task
ffffffff83000000 B max_pfn
";

fn info(text: &str) -> VmcoreInfo {
    VmcoreInfo::parse(text.as_bytes())
}

#[test]
fn parses_and_finds_link_time_symbols() {
    let map = SystemMap::parse("System.map", MAP.as_bytes().to_vec()).unwrap();
    assert_eq!((map.len(), map.bad_lines()), (12, 0));
    let found = map.find(&[
        "init_task",
        "cpu_tlbstate",
        "dup_name",
        "kexec_control_code_size",
        "max_pfn",
        "nope",
    ]);
    assert_eq!(found.len(), 5);
    let it = found.get("init_task").unwrap();
    assert_eq!(
        (it.address, it.type_letter, it.absolute, it.kind()),
        (0xffff_ffff_82c0_0000, b'D', false, SymbolKind::Object)
    );
    let pc = found.get("cpu_tlbstate").unwrap();
    assert_eq!((pc.address, pc.absolute), (0x1b000, true));
    assert_eq!(
        found.get("dup_name").map(|s| (s.address, s.kind())),
        Some((0xffff_ffff_8100_2000, SymbolKind::Func))
    );
    assert!(found.get("kexec_control_code_size").unwrap().absolute);
    assert_eq!(
        found.get("max_pfn").map(|s| s.kind()),
        Some(SymbolKind::Object)
    );
    let map = found.to_link_time_map(0);
    assert_eq!(
        map.get("cpu_tlbstate").map(|s| (s.address, s.size)),
        Some((0x1b000, 0))
    );
}

#[test]
fn bad_lines_are_counted_and_skipped() {
    let long = format!("ffffffff81000000 T {}\n", "x".repeat(MAX_LINE_BYTES));
    let text = format!(
        "{MAP}garbage\nffffffff81000000 T\nzzzz T name\nffffffff81000000 TT name\nffffffff81000000 T a b\n11112222333344445 T toolong_addr\n{long}\r\n\nffffffff84000000 d crlf_line\r\n"
    );
    let map = SystemMap::parse("m", text.into_bytes()).unwrap();
    assert_eq!((map.len(), map.bad_lines()), (13, 7));
    assert_eq!(
        map.find(&["crlf_line"]).get("crlf_line").map(|s| s.address),
        Some(0xffff_ffff_8400_0000)
    );
}

#[test]
fn a_file_without_symbols_is_an_error() {
    let err =
        SystemMap::parse("empty.map", b"not a map\n\n\xff\xfe binary\n".to_vec()).unwrap_err();
    assert!(
        matches!(
            err,
            SystemMapError::NoSymbols {
                lines: 2,
                bad_lines: 2,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        "empty.map: no usable \"ADDRESS TYPE NAME\" line (2 malformed of 2; first: \"not a map\")"
    );
    assert!(matches!(
        SystemMap::parse("e", Vec::new()).unwrap_err(),
        SystemMapError::NoSymbols { lines: 0, .. }
    ));
}

#[test]
fn an_oversized_file_is_refused() {
    let dir = std::env::temp_dir().join(format!("pgsync-sysmap-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("System.map-huge");
    let f = std::fs::File::create(&path).unwrap();
    f.set_len(MAX_FILE_BYTES + 1).unwrap();
    let err = SystemMap::open(&path).unwrap_err();
    assert!(
        matches!(
            err,
            SystemMapError::TooLarge {
                max: MAX_FILE_BYTES,
                ..
            }
        ),
        "{err}"
    );
    let err = SystemMap::open(&dir.join("absent")).unwrap_err();
    assert!(matches!(err, SystemMapError::Io { .. }));
    assert!(std::error::Error::source(&err).is_some());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_map_must_match_vmcoreinfo() {
    let map = SystemMap::parse("System.map-6.1", MAP.as_bytes().to_vec()).unwrap();
    let ok = info(
        "SYMBOL(_stext)=ffffffffa6e00000\nSYMBOL(init_top_pgt)=ffffffffa8810000\nSYMBOL(swapper_pg_dir)=ffffffffa8810000\nKERNELOFFSET=25e00000\n",
    );
    let check = map.check_against(&ok).unwrap();
    assert_eq!(check.kaslr, 0x25e0_0000);
    assert_eq!(
        check.agreed,
        vec!["_stext", "init_top_pgt", "swapper_pg_dir"]
    );

    // Another build: _stext agrees by chance, init_top_pgt does not.
    let other = info(
        "SYMBOL(_stext)=ffffffffa6e00000\nSYMBOL(init_top_pgt)=ffffffffa8812000\nKERNELOFFSET=25e00000\n",
    );
    let err = map.check_against(&other).unwrap_err();
    assert!(
        matches!(
            err,
            SystemMapError::Mismatch {
                symbol: "init_top_pgt",
                link: 0xffff_ffff_82a1_0000,
                kerneloffset: 0x25e0_0000,
                runtime: 0xffff_ffff_a881_2000,
                ..
            }
        ),
        "{err}"
    );

    let err = map
        .check_against(&info(
            "SYMBOL(_stext)=ffffffffa7000000\nKERNELOFFSET=25e00000\n",
        ))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "System.map-6.1 does not belong to this dump: _stext is 0xffffffff81000000 in it, + KERNELOFFSET 0x25e00000 = 0xffffffffa6e00000, but VMCOREINFO's SYMBOL(_stext) is 0xffffffffa7000000 (a System.map of another release or build)"
    );

    // Without KASLR (no KERNELOFFSET) link and runtime addresses are equal.
    assert_eq!(
        map.check_against(&info("SYMBOL(_stext)=ffffffff81000000\n"))
            .unwrap()
            .kaslr,
        0
    );
    let err = map.check_against(&info("OSRELEASE=6.1.0\n")).unwrap_err();
    assert!(
        matches!(err, SystemMapError::NoCommonSymbol { .. }),
        "{err}"
    );
}
