//! kallsyms from real dumps' memory and real System.map files against the
//! vmlinux `.symtab` (ignored by default: needs the harness's dumps and
//! -dbg vmlinux files). Run with
//!   cargo test --release --test debuginfo -- --ignored --nocapture real_kallsyms::
//! The harness root is /work/.cache/pgsync-harness unless PGSYNC_HARNESS says.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use object::{Object, ObjectSymbol};
use pgsync_dump::arch::x86_64::{PhysAddr, VirtAddr};
use pgsync_dump::debuginfo::{Kallsyms, KallsymsLocation, SystemMap, SystemMapError};
use pgsync_dump::dump;
use pgsync_dump::kernel::symbols::WANTED;

/// This thread's CPU time (first field of /proc/thread-self/schedstat, ns):
/// wall time means little on a machine shared by many builds.
fn cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

const KERNEL_MAP: u64 = 0xffff_ffff_8000_0000;
const SAMPLE: usize = 1000;

fn harness() -> PathBuf {
    std::env::var_os("PGSYNC_HARNESS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/work/.cache/pgsync-harness"))
}

/// The release directory whose name starts with `prefix`; under CI the
/// harness must be there.
fn release_dir(under: &str, prefix: &str) -> Option<PathBuf> {
    let dir = harness().join(under);
    let found = std::fs::read_dir(&dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(prefix))
        });
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "harness {} lacks {prefix}",
            dir.display()
        );
        eprintln!("skipping {prefix}: not in {}", dir.display());
    }
    found
}

/// A vmlinux's `.symtab`: name -> (link address, is unique among the
/// defined functions and objects). Defined symbols of other kinds
/// (linker-script symbols such as `__per_cpu_start`) are listed as not
/// unique, so that they are compared when asked for but never sampled.
fn symtab(vmlinux: &Path) -> HashMap<String, (u64, bool)> {
    let bytes = std::fs::read(vmlinux).expect("read vmlinux");
    let file = object::File::parse(&*bytes).expect("parse vmlinux");
    let mut out: HashMap<String, (u64, bool)> = HashMap::new();
    for s in file.symbols() {
        let kind = s.kind();
        if !s.is_definition()
            || matches!(kind, object::SymbolKind::Section | object::SymbolKind::File)
        {
            continue;
        }
        let Ok(name) = s.name() else { continue };
        if name.is_empty() {
            continue;
        }
        let typed = matches!(kind, object::SymbolKind::Text | object::SymbolKind::Data);
        out.entry(name.to_string())
            .and_modify(|e| e.1 = false)
            .or_insert((s.address(), typed));
    }
    out
}

/// Every `SAMPLE`-th of the unique names, sorted: deterministic.
fn sample(symtab: &HashMap<String, (u64, bool)>) -> Vec<String> {
    let mut unique: Vec<&String> = symtab.iter().filter(|(_, v)| v.1).map(|(k, _)| k).collect();
    unique.sort();
    let step = (unique.len() / SAMPLE).max(1);
    unique
        .into_iter()
        .step_by(step)
        .take(SAMPLE)
        .cloned()
        .collect()
}

/// What a symbol's runtime value is: 0-based per-CPU values (linked below
/// the kernel half, up to 6.14) take no KASLR.
fn runtime(link: u64, kaslr: u64) -> (u64, bool) {
    if link >> 63 == 0 {
        (link, true)
    } else {
        (link.wrapping_add(kaslr), false)
    }
}

fn check_kallsyms(release: &str) {
    let Some(dir) = release_dir("dumps", release) else {
        return;
    };
    let dir = dir.join("bug-4l");
    let crash = dump::open(&[dir.join("vmcore.elf")]).expect("open dump");
    let info = crash.vmcoreinfo().cloned().expect("VMCOREINFO");
    let kaslr = info.kerneloffset.unwrap_or(0);
    let phys_base = info.number("phys_base").expect("NUMBER(phys_base)") as u64;
    let loc = KallsymsLocation::from_vmcoreinfo(&info).expect("kallsyms in VMCOREINFO");
    let memory = crash.memory();
    let mut calls = 0usize;
    let mut read = |va: VirtAddr, buf: &mut [u8]| {
        calls += 1;
        memory.read(
            PhysAddr::new(va.get().wrapping_sub(KERNEL_MAP).wrapping_add(phys_base)),
            buf,
        )
    };
    let (t, c) = (Instant::now(), cpu_ns());
    let ks = Kallsyms::read(&loc, &mut read).expect("kallsyms decode");
    let (read_time, read_cpu) = (t.elapsed(), std::time::Duration::from_nanos(cpu_ns() - c));
    assert!(ks.stext_verified());
    // CPU time, averaged over 20 runs (schedstat moves in scheduler ticks).
    let c = cpu_ns();
    let mut found = ks.find(WANTED);
    for _ in 1..20 {
        found = ks.find(WANTED);
    }
    let find_time = std::time::Duration::from_nanos((cpu_ns() - c) / 20);

    let symtab = symtab(&dir.join("vmlinux"));
    let (mut wanted_checked, mut absolute) = (0, 0);
    for name in WANTED {
        let expected = symtab.get(*name).map(|&(link, _)| runtime(link, kaslr));
        let got = found.get(name).map(|s| (s.address, s.absolute));
        assert_eq!(got, expected, "{release}: {name}");
        if let Some((_, abs)) = got {
            wanted_checked += 1;
            absolute += usize::from(abs);
        }
    }
    let names = sample(&symtab);
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let t = Instant::now();
    let sampled = ks.find(&refs);
    let sample_time = t.elapsed();
    let mut missing = Vec::new();
    for name in &names {
        let (link, _) = symtab[name];
        match sampled.get(name) {
            Some(s) => assert_eq!(
                (s.address, s.absolute),
                runtime(link, kaslr),
                "{release}: {name}"
            ),
            None => missing.push(name.as_str()),
        }
    }
    // scripts/kallsyms.c leaves out only linker-generated and bookkeeping
    // symbols; none of the sample's functions and objects is one.
    assert_eq!(
        missing,
        Vec::<&str>::new(),
        "{release}: .symtab symbols not in kallsyms"
    );
    eprintln!(
        "{release}: {} symbols, {:?}, read {read_time:?} ({read_cpu:?} CPU) in {calls} reads, find(WANTED) {find_time:?} CPU: {wanted_checked} of {} WANTED equal .symtab ({absolute} per-CPU absolute), sample {}/{} equal ({sample_time:?})",
        ks.num_syms(),
        ks.encoding(),
        WANTED.len(),
        names.len() - missing.len(),
        names.len(),
    );
}

#[test]
#[ignore]
fn kallsyms_6_1() {
    check_kallsyms("6.1.");
}

#[test]
#[ignore]
fn kallsyms_6_12() {
    check_kallsyms("6.12.");
}

#[test]
#[ignore]
fn kallsyms_7_2() {
    check_kallsyms("7.2.");
}

#[test]
#[ignore]
fn kallsyms_7_3() {
    check_kallsyms("7.3.");
}

/// The kernel's System.map. Debian's image package ships a one-line
/// placeholder (checked to be refused); the real map, `nm -n vmlinux`
/// filtered by scripts/mksysmap, is made here with binutils' nm from the
/// -dbg vmlinux when the harness has no other copy.
fn system_map_of(release_dir: &Path, vmlinux: &Path) -> PathBuf {
    let boot = release_dir.join("img/boot");
    let shipped = std::fs::read_dir(&boot)
        .expect("img/boot")
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("System.map-"))
        })
        .expect("System.map");
    match SystemMap::open(&shipped) {
        Ok(_) => return shipped,
        Err(SystemMapError::NoSymbols {
            first_bad: Some(line),
            ..
        }) => {
            assert!(
                line.contains("The real System.map is in the linux-image-"),
                "{line}"
            );
        }
        Err(e) => panic!("{e}"),
    }
    let out = std::env::temp_dir().join(format!(
        "pgsync-{}-{}.map",
        release_dir.file_name().unwrap().to_string_lossy(),
        std::process::id()
    ));
    let nm = std::process::Command::new("nm")
        .arg("-n")
        .arg(vmlinux)
        .output();
    let nm = match nm {
        Ok(o) if o.status.success() => o.stdout,
        other => panic!(
            "nm -n {} (binutils is needed): {other:?}",
            vmlinux.display()
        ),
    };
    // scripts/mksysmap drops absolute-local, debugging, undefined and weak
    // undefined symbols (types a, N, U, w).
    let text = String::from_utf8_lossy(&nm);
    let kept: String = text
        .lines()
        .filter(|l| !matches!(l.split_whitespace().nth(1), Some("a" | "N" | "U" | "w")))
        .flat_map(|l| [l, "\n"])
        .collect();
    std::fs::write(&out, kept).unwrap();
    out
}

fn check_system_map(release: &str) {
    let Some(kdir) = release_dir("kernels", release) else {
        return;
    };
    let Some(ddir) = release_dir("dumps", release) else {
        return;
    };
    let vmlinux = ddir.join("bug-4l/vmlinux");
    let map_path = system_map_of(&kdir, &vmlinux);
    let map = SystemMap::open(&map_path).expect("System.map parses");
    if map_path.starts_with(std::env::temp_dir()) {
        std::fs::remove_file(&map_path).unwrap();
    }
    assert_eq!(map.bad_lines(), 0);
    let crash = dump::open(&[ddir.join("bug-4l/vmcore.elf")]).expect("open dump");
    let info = crash.vmcoreinfo().cloned().expect("VMCOREINFO");
    let check = map.check_against(&info).expect("its own dump accepts it");
    assert_eq!(check.kaslr, info.kerneloffset.unwrap_or(0));

    let symtab = symtab(&vmlinux);
    let mut names = sample(&symtab);
    names.extend(WANTED.iter().map(|s| s.to_string()));
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let t = Instant::now();
    let found = map.find(&refs);
    let find_time = t.elapsed();
    let mut missing = Vec::new();
    for name in &names {
        let link = symtab.get(name).map(|v| v.0);
        match (found.get(name), link) {
            (Some(s), Some(link)) => assert_eq!(s.address, link, "{release}: {name}"),
            (None, None) => {}
            (got, want) => {
                if WANTED.contains(&name.as_str()) {
                    panic!("{release}: {name}: map {got:?}, .symtab {want:x?}");
                }
                missing.push(name.clone());
            }
        }
    }
    assert_eq!(
        missing,
        Vec::<String>::new(),
        "{release}: .symtab symbols not in System.map"
    );
    eprintln!(
        "{release}: System.map {} symbols, {} bad lines, agreed {:?} with KERNELOFFSET {:#x}; {} names equal .symtab ({find_time:?})",
        map.len(),
        map.bad_lines(),
        check.agreed,
        check.kaslr,
        names.len(),
    );
}

#[test]
#[ignore]
fn system_map_5_10() {
    check_system_map("5.10.");
}

#[test]
#[ignore]
fn system_map_6_1() {
    check_system_map("6.1.");
}

#[test]
#[ignore]
fn system_map_6_12() {
    check_system_map("6.12.");
}

/// The 6.1 System.map offered for the 6.12 dump is refused, naming the
/// symbol that disagrees.
#[test]
#[ignore]
fn system_map_of_another_release_is_refused() {
    let (Some(k61), Some(d612)) = (
        release_dir("kernels", "6.1."),
        release_dir("dumps", "6.12."),
    ) else {
        return;
    };
    let d61 = release_dir("dumps", "6.1.").unwrap();
    let path = system_map_of(&k61, &d61.join("bug-4l/vmlinux"));
    let map = SystemMap::open(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    let crash = dump::open(&[d612.join("bug-4l/vmcore.elf")]).unwrap();
    let info = crash.vmcoreinfo().cloned().unwrap();
    let err = map.check_against(&info).unwrap_err();
    // Both kernels link _stext at 0xffffffff81000000 and both dumps' _stext
    // agree after KERNELOFFSET: init_top_pgt is what tells them apart.
    assert!(
        matches!(
            err,
            SystemMapError::Mismatch {
                symbol: "init_top_pgt",
                ..
            }
        ),
        "{err}"
    );
    eprintln!("{err}");
}
