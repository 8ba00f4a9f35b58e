//! Page-read throughput of the kdump reader (zlib, zstd, lzo, snappy)
//! against the ELF reader on a ~100 MB synthetic dump.
//!
//! `cargo run --release --example kdump_throughput [MiB]`
//! Not a test: numbers depend on the machine.

use std::path::PathBuf;
use std::time::Instant;

use pgsync_dump::dump::{self, PhysAddr, PhysicalMemory};
use pgsync_dump::write::elf::{CoreLayout, CoreSegment, write_core_segments};
use pgsync_dump::write::flatten::flatten;
use pgsync_dump::write::kdump::{Compression, KdumpSpec, write_kdump};
use pgsync_synth::formats::zstd_page;

const PAGE: usize = 4096;

/// Page contents loosely like a kernel's: zero pages, text-like pages,
/// pointer-heavy pages, and some noise.
fn page(pfn: u64) -> Vec<u8> {
    let mut p = vec![0u8; PAGE];
    let mut x = pfn.wrapping_mul(0x9e3779b97f4a7c15) | 1;
    let mut rnd = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    match pfn % 8 {
        0 | 1 => {}
        2..=4 => {
            let text = format!("task {pfn} sleeping in do_wait+0x{:x} ", pfn * 7);
            for (i, b) in p.iter_mut().enumerate() {
                *b = text.as_bytes()[i % text.len()];
            }
        }
        5 | 6 => {
            for c in p.chunks_mut(8) {
                let v = 0xffff_8880_0000_0000u64 + (rnd() & 0xfff_ffff) * 64;
                c.copy_from_slice(&v.to_le_bytes());
            }
        }
        _ => {
            for c in p.chunks_mut(8) {
                c.copy_from_slice(&rnd().to_le_bytes());
            }
        }
    }
    p
}

/// One PT_LOAD of `pages` pages at physical 0 (no notes).
fn elf(pages: u64) -> Vec<u8> {
    let data: Vec<u8> = (0..pages).flat_map(page).collect();
    let segment = CoreSegment {
        paddr: 0,
        vaddr: 0,
        data: &data,
        memsz: data.len() as u64,
    };
    write_core_segments(&[], &[segment], &CoreLayout::default()).expect("ELF written")
}

fn lzo(p: &[u8]) -> Option<Vec<u8>> {
    lzokay_native::compress(p).ok()
}

fn measure(name: &str, m: &dyn PhysicalMemory, pages: u64, size: u64) {
    let mut buf = vec![0u8; PAGE];
    let t = Instant::now();
    for pfn in 0..pages {
        m.read(PhysAddr::new(pfn * PAGE as u64), &mut buf)
            .expect("read");
    }
    let seq = t.elapsed().as_secs_f64();

    let mut x: u64 = 12345;
    let mut next = || {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        x >> 11
    };
    let n_rand = 20_000u64;
    let t = Instant::now();
    for _ in 0..n_rand {
        m.read(PhysAddr::new((next() % pages) * PAGE as u64), &mut buf)
            .expect("read");
    }
    let rand_page = t.elapsed().as_secs_f64();

    // Page-table-walk-like: 8-byte reads, 4 of every 5 in a hot set of 64
    // pages, the rest anywhere.
    let n_small = 1_000_000u64;
    let mut b8 = [0u8; 8];
    let t = Instant::now();
    for i in 0..n_small {
        let pfn = if i % 5 == 0 {
            next() % pages
        } else {
            next() % 64 * 97 % pages
        };
        m.read(
            PhysAddr::new(pfn * PAGE as u64 + (next() % 512) * 8),
            &mut b8,
        )
        .expect("read");
    }
    let small = t.elapsed().as_secs_f64();
    // Only the hot set: every read a cache hit for kdump.
    let t = Instant::now();
    for _ in 0..n_small {
        let pfn = next() % 64 * 97 % pages;
        m.read(
            PhysAddr::new(pfn * PAGE as u64 + (next() % 512) * 8),
            &mut b8,
        )
        .expect("read");
    }
    let hot = t.elapsed().as_secs_f64();
    let mib = (pages * PAGE as u64) as f64 / (1 << 20) as f64;
    println!(
        "{name:<16} file {:>6.1} MiB | sequential {:>7.0} MiB/s ({:>6.2} us/page) | random pages {:>7.0} MiB/s ({:>6.2} us/page) | 8-byte reads: 80% hot {:>6.3} us, all hot {:>6.3} us",
        size as f64 / (1 << 20) as f64,
        mib / seq,
        seq * 1e6 / pages as f64,
        (n_rand * PAGE as u64) as f64 / (1 << 20) as f64 / rand_page,
        rand_page * 1e6 / n_rand as f64,
        small * 1e6 / n_small as f64,
        hot * 1e6 / n_small as f64,
    );
}

fn main() {
    let mib: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100);
    let pages = mib * 256;
    let dir = std::env::temp_dir().join("pgsync-kdump-bench");
    std::fs::create_dir_all(&dir).expect("tmp");
    let write = |name: &str, b: &[u8]| -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, b).expect("write");
        p
    };
    let elf_path = write("vmcore.elf", &elf(pages));
    let mut files = vec![("elf".to_string(), elf_path)];
    for (name, c) in [
        ("zlib", Compression::Zlib),
        ("zstd", Compression::Zstd(zstd_page)),
        ("lzo", Compression::Lzo(lzo)),
        ("snappy", Compression::Snappy),
    ] {
        let spec = KdumpSpec {
            compression: c,
            max_mapnr: pages,
            ram: vec![(0, pages)],
            ..KdumpSpec::default()
        };
        let t = Instant::now();
        let (bytes, _) = write_kdump(&spec, &|pfn| Some(page(pfn)));
        eprintln!("wrote {name} in {:.1} s", t.elapsed().as_secs_f64());
        if name == "zlib" {
            files.push((
                "zlib-flattened".into(),
                write("vmcore.zlib.flat", &flatten(&bytes, 1 << 20, true)),
            ));
        }
        files.push((name.to_string(), write(&format!("vmcore.{name}"), &bytes)));
    }
    println!(
        "{mib} MiB of RAM, {pages} pages; cache {} pages",
        pgsync_dump::dump::kdump::CACHE_PAGES
    );
    for (name, path) in files {
        let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        let t = Instant::now();
        let d = dump::open(&[path]).expect("open");
        let open = t.elapsed().as_secs_f64();
        eprintln!("{name}: open {:.2} ms", open * 1e3);
        measure(&name, d.memory(), pages, size);
    }
    let _ = std::fs::remove_dir_all(&dir);
}
