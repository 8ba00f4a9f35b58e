//! Bad input is normal input: each case gets one clear error line naming the
//! file and the offset or address (exit 2), or a partial result (exit 3), and
//! never a panic.

use crate::common;

use std::path::{Path, PathBuf};

use common::*;
use object::{Object, ObjectSection};
use pgsync_dump::arch::x86_64::VirtAddr;
use pgsync_dump::debuginfo::Vmlinux;
use pgsync_dump::kernel::Kernel;

fn fixture(name: &str) -> PathBuf {
    fixtures_dir().join(name)
}

fn tmpdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("pgsync-bad-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Runs analyze and checks: exit code, one line on stderr, no panic.
fn analyze_err(vmcore: &Path, vmlinux: Option<&Path>, code: i32, needles: &[&str]) -> String {
    let mut args = vec!["analyze", s(vmcore)];
    if let Some(v) = vmlinux {
        args.extend(["--vmlinux", s(v)]);
    }
    let r = run(&args);
    assert!(!r.stderr.contains("panicked"), "panic: {}", r.stderr);
    assert_eq!(
        r.code,
        code,
        "exit code for {}; stderr: {}\nstdout: {}",
        vmcore.display(),
        r.stderr,
        r.stdout
    );
    if code == 2 {
        assert_eq!(
            r.stderr.trim_end().lines().count(),
            1,
            "one error line expected: {}",
            r.stderr
        );
        assert!(r.stderr.starts_with("pgsync-dump: error: "), "{}", r.stderr);
    }
    for n in needles {
        assert!(
            r.stderr.contains(n) || r.stdout.contains(n),
            "{n:?} not in output:\nstderr: {}\nstdout: {}",
            r.stderr,
            r.stdout
        );
    }
    r.stderr
}

/// File offset of a physical address in an ELF vmcore (via its PT_LOADs).
fn file_offset(vmcore: &[u8], pa: u64) -> usize {
    let elf = goblin::elf::Elf::parse(vmcore).unwrap();
    for ph in &elf.program_headers {
        if ph.p_type == goblin::elf::program_header::PT_LOAD
            && pa >= ph.p_paddr
            && pa < ph.p_paddr + ph.p_filesz
        {
            return (ph.p_offset + (pa - ph.p_paddr)) as usize;
        }
    }
    panic!("physical {pa:#x} not in the file");
}

/// Copies a fixture's vmcore, lets `edit` patch it through the kernel view.
fn patched(
    name: &str,
    tag: &str,
    edit: impl FnOnce(&Kernel<'_>, &mut Vec<u8>),
) -> (PathBuf, PathBuf) {
    let src = fixture(name);
    let dir = tmpdir(tag);
    let mut bytes = std::fs::read(src.join("vmcore")).unwrap();
    {
        let d = pgsync_dump::dump::open(&[src.join("vmcore")]).unwrap();
        let v = Vmlinux::open(&src.join("vmlinux")).unwrap();
        let k = Kernel::open(&d, &v).unwrap();
        edit(&k, &mut bytes);
    }
    let out = dir.join("vmcore");
    std::fs::write(&out, bytes).unwrap();
    (out, src.join("vmlinux"))
}

fn write_u64_at_va(k: &Kernel<'_>, bytes: &mut [u8], va: u64, value: u64) {
    let pa = k.pa(VirtAddr::new(va)).unwrap().get();
    let off = file_offset(bytes, pa);
    bytes[off..off + 8].copy_from_slice(&value.to_le_bytes());
}

#[test]
fn not_an_elf_file() {
    let d = tmpdir("text");
    let p = d.join("notes.txt");
    std::fs::write(&p, "hello, this is not a dump\n").unwrap();
    analyze_err(
        &p,
        None,
        2,
        &["not a crash dump", "notes.txt", "offset 0x0"],
    );
}

#[test]
fn directory_and_empty_file() {
    let d = tmpdir("dir");
    // analyze takes a directory as a crash archive (docs/fleet.md): an
    // empty one holds no dump, so no line; a subcommand of one dump refuses it.
    let r = run(&["analyze", "--quiet", s(&d)]);
    assert_eq!((r.code, r.stdout.as_str(), r.stderr.as_str()), (0, "", ""));
    let r = run(&["info", s(&d)]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("is a directory"), "{}", r.stderr);
    let p = d.join("empty");
    std::fs::write(&p, b"").unwrap();
    analyze_err(&p, None, 2, &["empty file"]);
    analyze_err(&d.join("absent"), None, 2, &["absent"]);
}

#[test]
fn elf_but_not_a_core_file() {
    let v = fixture("missing-4l").join("vmlinux");
    analyze_err(&v, None, 2, &["not a core file", "offset 0x10"]);
}

#[test]
fn core_of_another_machine() {
    let d = tmpdir("arm");
    let mut b = std::fs::read(fixture("missing-4l").join("vmcore")).unwrap();
    b[0x12..0x14].copy_from_slice(&183u16.to_le_bytes()); // EM_AARCH64
    let p = d.join("vmcore");
    std::fs::write(&p, b).unwrap();
    analyze_err(&p, None, 2, &["not x86-64", "offset 0x12"]);
}

#[test]
fn truncated_files() {
    let src = std::fs::read(fixture("missing-4l").join("vmcore")).unwrap();
    let d = tmpdir("trunc");
    // Inside the ELF header.
    let p = d.join("vmcore");
    std::fs::write(&p, &src[..40]).unwrap();
    analyze_err(&p, None, 2, &["truncated", "offset 0x0"]);
    // After the headers and notes, before any memory: nothing to analyze.
    let elf = goblin::elf::Elf::parse(&src).unwrap();
    let first_load = elf
        .program_headers
        .iter()
        .filter(|ph| ph.p_type == goblin::elf::program_header::PT_LOAD && ph.p_filesz > 0)
        .map(|ph| ph.p_offset)
        .min()
        .unwrap() as usize;
    std::fs::write(&p, &src[..first_load]).unwrap();
    analyze_err(
        &p,
        Some(&fixture("missing-4l").join("vmlinux")),
        2,
        &["truncated"],
    );
}

#[test]
fn no_vmcoreinfo_and_no_vmlinux() {
    let d = tmpdir("novmci");
    let mut b = std::fs::read(fixture("missing-4l").join("vmcore")).unwrap();
    let pos = b.windows(10).position(|w| w == b"VMCOREINFO").unwrap();
    b[pos] = b'X';
    let p = d.join("vmcore");
    std::fs::write(&p, b).unwrap();
    analyze_err(&p, None, 2, &["no VMCOREINFO", "--vmlinux"]);
    analyze_err(
        &p,
        Some(&fixture("missing-4l").join("vmlinux")),
        2,
        &["VMCOREINFO"],
    );
}

#[test]
fn vmlinux_without_dwarf() {
    let d = tmpdir("nodwarf");
    let stripped = d.join("vmlinux");
    let st = std::process::Command::new("objcopy")
        .args([
            "--strip-debug",
            s(&fixture("missing-4l").join("vmlinux")),
            s(&stripped),
        ])
        .status();
    match st {
        Ok(st) if st.success() => {}
        other => {
            common::outside_tool_missing(&format!(
                "vmlinux_without_dwarf: objcopy unavailable ({other:?})"
            ));
            return;
        }
    }
    analyze_err(
        &fixture("missing-4l").join("vmcore"),
        Some(&stripped),
        2,
        &["DWARF", s(&stripped)],
    );
}

#[test]
fn vmlinux_with_another_build_id() {
    let d = tmpdir("buildid");
    let src = fixture("missing-4l").join("vmlinux");
    let mut b = std::fs::read(&src).unwrap();
    let (off, size) = {
        let f = object::File::parse(&*b).unwrap();
        let sec = f.section_by_name(".note.gnu.build-id").unwrap();
        sec.file_range().unwrap()
    };
    let last = (off + size - 1) as usize;
    b[last] ^= 0xff;
    let p = d.join("vmlinux");
    std::fs::write(&p, &b).unwrap();
    let err = analyze_err(
        &fixture("missing-4l").join("vmcore"),
        Some(&p),
        2,
        &["build-id"],
    );
    let ours = pgsync_dump::dump::open(&[fixture("missing-4l").join("vmcore")])
        .unwrap()
        .vmcoreinfo()
        .unwrap()
        .build_id
        .clone()
        .unwrap();
    assert!(
        err.contains(&ours),
        "the dump's build-id {ours} should be named: {err}"
    );
    // Found by search next to the dump: skipped, and the error names it.
    let dump_dir = tmpdir("buildid-next");
    std::fs::copy(
        fixture("missing-4l").join("vmcore"),
        dump_dir.join("vmcore"),
    )
    .unwrap();
    std::fs::write(dump_dir.join("vmlinux"), &b).unwrap();
    let vmcore = dump_dir.join("vmcore");
    let r = run(&[
        "analyze",
        "--debuginfo",
        "dwarf",
        "--offline",
        vmcore.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("build-id"), "{}", r.stderr);
    // With nothing else to go on, auto falls back to the dump's own
    // kallsyms and BTF, and says which vmlinux it skipped and why.
    let r = run(&[
        "analyze",
        "--offline",
        "--format",
        "json",
        vmcore.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["debuginfo"]["found_by"], "dump");
    let tried: Vec<&str> = v["debuginfo"]["tried"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t.as_str())
        .collect();
    assert!(
        tried
            .iter()
            .any(|t| t.contains("vmlinux") && t.contains(&ours)),
        "the skipped vmlinux and the dump's build-id are named: {tried:?}"
    );
}

#[test]
fn task_list_that_points_to_itself_is_empty_but_pgd_list_still_checked() {
    let (vmcore, vmlinux) = patched("missing-4l", "emptytasks", |k, b| {
        let head = k.symbols().init_task.unwrap() + k.offsets().task.tasks;
        write_u64_at_va(k, b, head + k.offsets().list_next, head);
    });
    let (code, v, _) = analyze_json_paths(&vmcore, &vmlinux);
    // Only init_task's thread group remains; pgd_list still finds every table.
    assert_eq!(code, 1);
    assert_eq!(v["summary"]["tasks"], 1);
    assert!(
        v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["pids"].as_array().unwrap().is_empty())
    );
}

#[test]
fn looping_and_dangling_task_lists_are_reported_where_they_break() {
    let (vmcore, vmlinux) = patched("healthy-4l", "looptasks", |k, b| {
        let head = k.symbols().init_task.unwrap() + k.offsets().task.tasks;
        let first = k.read_u64(head + k.offsets().list_next).unwrap();
        let second = k.read_u64(first + k.offsets().list_next).unwrap();
        // second -> first: a loop that never returns to the head.
        write_u64_at_va(k, b, second + k.offsets().list_next, first);
    });
    let (code, v, _) = analyze_json_paths(&vmcore, &vmlinux);
    // pgd_list was read to its head, so every page table was checked: a
    // broken task list only shortens who is named (docs/checker.md).
    assert_eq!(
        code, 0,
        "a broken task list with pgd_list complete keeps the verdict: {v:#}"
    );
    assert_eq!(v["summary"]["verdict"], "consistent");
    assert_eq!(v["summary"]["partial_attribution"], true);
    assert_eq!(v["problems"][0]["scope"], "task_list");
    assert_eq!(v["problems"][0]["affects"], "attribution");
    assert_eq!(v["problems"][0]["not_in_dump"], false);
    let p = v["problems"].to_string();
    assert!(p.contains("loops without returning to its head"), "{p}");

    let (vmcore, vmlinux) = patched("healthy-4l", "danglingtasks", |k, b| {
        let head = k.symbols().init_task.unwrap() + k.offsets().task.tasks;
        let first = k.read_u64(head + k.offsets().list_next).unwrap();
        write_u64_at_va(k, b, first + k.offsets().list_next, 0xffff_ffff_ffe0_0000);
    });
    let (code, v, _) = analyze_json_paths(&vmcore, &vmlinux);
    assert_eq!(code, 0);
    assert_eq!(v["summary"]["partial_attribution"], true);
    let p = v["problems"].to_string();
    assert!(
        p.contains("0xffffffffffe00000") && p.contains("cannot be read"),
        "{p}"
    );
}

#[test]
fn page_table_pointer_outside_the_dump() {
    let (vmcore, vmlinux) = patched("healthy-4l", "pgdout", |k, b| {
        let tasks = k.tasks().unwrap().tasks;
        let t = tasks.iter().find(|t| t.mm != 0).unwrap();
        // A direct-map address far beyond the machine's memory.
        write_u64_at_va(
            k,
            b,
            t.mm + k.offsets().mm_pgd,
            k.layout().page_offset_base + (1 << 40),
        );
    });
    let (code, v, _) = analyze_json_paths(&vmcore, &vmlinux);
    assert_eq!(code, 3, "{v:#}");
    let bad: Vec<_> = v["page_tables"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["status"] == "unreadable")
        .collect();
    assert_eq!(bad.len(), 1, "{v:#}");
    assert!(
        bad[0]["reason"]
            .as_str()
            .unwrap()
            .contains("not in the dump"),
        "{}",
        bad[0]
    );
}

fn analyze_json_paths(vmcore: &Path, vmlinux: &Path) -> (i32, serde_json::Value, String) {
    let r = run(&[
        "analyze",
        "--format",
        "json",
        s(vmcore),
        "--vmlinux",
        s(vmlinux),
    ]);
    assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
    let v = serde_json::from_str(&r.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", r.stderr, r.stdout));
    (r.code, v, r.stderr)
}
