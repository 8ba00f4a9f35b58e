//! Finding the vmlinux that belongs to a dump (design.md's search order).
//!
//! 1. `--vmlinux FILE` (never searched past: a wrong explicit file is an error);
//! 2. `vmlinux`, then `vmlinux-<OSRELEASE>`, next to the dump;
//! 3. `/usr/lib/debug/boot/vmlinux-<rel>`, `/usr/lib/debug/lib/modules/<rel>/vmlinux`,
//!    `/lib/modules/<rel>/build/vmlinux`, `/boot/vmlinux-<rel>`;
//! 4. `/usr/lib/debug/.build-id/<first 2 hex>/<rest>.debug`.
//!
//! System paths are joined to [`SearchRoots::root`] ("/" by default) so that
//! tests can lay out a fake file system in a temporary directory.

use crate::ErrorChain;
use std::path::{Path, PathBuf};

use super::{DebugInfoError, Vmlinux};

/// Where the system search paths are rooted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchRoots {
    pub root: PathBuf,
}

impl Default for SearchRoots {
    fn default() -> Self {
        SearchRoots {
            root: PathBuf::from("/"),
        }
    }
}

/// OSRELEASE comes from the dump, i.e. from untrusted bytes: it becomes part
/// of a path only if it cannot climb out of the directory it is placed in.
pub(crate) fn safe_component(s: &str) -> bool {
    !s.is_empty() && s != "." && s != ".." && !s.contains('/') && !s.contains('\0')
}

pub(crate) fn normalized_build_id(id: &str) -> Option<String> {
    let id = id.trim().to_ascii_lowercase();
    (id.len() > 2 && id.bytes().all(|b| b.is_ascii_hexdigit())).then_some(id)
}

/// Every path the search would try, in order (without `--vmlinux`).
pub fn candidate_paths(
    roots: &SearchRoots,
    dump_path: &Path,
    osrelease: Option<&str>,
    build_id: Option<&str>,
) -> Vec<PathBuf> {
    candidates(roots, dump_path, osrelease, build_id)
        .into_iter()
        .map(|(path, _)| path)
        .collect()
}

/// A local candidate's place in the order: next to the dump, or a system
/// debug path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Place {
    NextToDump,
    DebugPath,
}

/// [`candidate_paths`], each with its [`Place`].
pub(crate) fn candidates(
    roots: &SearchRoots,
    dump_path: &Path,
    osrelease: Option<&str>,
    build_id: Option<&str>,
) -> Vec<(PathBuf, Place)> {
    let dir = match dump_path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let rel = osrelease.map(str::trim).filter(|r| safe_component(r));
    let mut out = vec![(dir.join("vmlinux"), Place::NextToDump)];
    if let Some(rel) = rel {
        out.push((dir.join(format!("vmlinux-{rel}")), Place::NextToDump));
        let r = &roots.root;
        for p in [
            format!("usr/lib/debug/boot/vmlinux-{rel}"),
            format!("usr/lib/debug/lib/modules/{rel}/vmlinux"),
            format!("lib/modules/{rel}/build/vmlinux"),
            format!("boot/vmlinux-{rel}"),
        ] {
            out.push((r.join(p), Place::DebugPath));
        }
    }
    if let Some(id) = build_id.and_then(normalized_build_id) {
        out.push((
            roots.root.join(format!(
                "usr/lib/debug/.build-id/{}/{}.debug",
                &id[..2],
                &id[2..]
            )),
            Place::DebugPath,
        ));
    }
    out
}

/// [`find_vmlinux_in`] with the real file system root.
pub fn find_vmlinux(
    explicit: Option<&Path>,
    dump_path: &Path,
    osrelease: Option<&str>,
    build_id: Option<&str>,
) -> Result<Vmlinux, DebugInfoError> {
    find_vmlinux_in(
        &SearchRoots::default(),
        explicit,
        dump_path,
        osrelease,
        build_id,
    )
}

/// Opens the explicit file, or the first candidate that is a usable ELF
/// whose build-id does not contradict the dump's. A build-id can only be
/// checked when both sides have one; otherwise the file is taken as is.
pub fn find_vmlinux_in(
    roots: &SearchRoots,
    explicit: Option<&Path>,
    dump_path: &Path,
    osrelease: Option<&str>,
    build_id: Option<&str>,
) -> Result<Vmlinux, DebugInfoError> {
    let dump_id = build_id.and_then(normalized_build_id);
    let mismatch = |v: &Vmlinux| -> Option<String> {
        let want = dump_id.as_deref()?;
        let have = v.build_id()?;
        (have != want).then_some(have)
    };

    if let Some(path) = explicit {
        let v = Vmlinux::open(path)?;
        if let (Some(file_id), Some(dump_id)) = (mismatch(&v), dump_id.clone()) {
            return Err(DebugInfoError::BuildIdMismatch {
                path: path.to_path_buf(),
                file_id,
                dump_id,
            });
        }
        return Ok(v);
    }

    let tried = candidate_paths(roots, dump_path, osrelease, build_id);
    let mut mismatched = Vec::new();
    let mut rejected = Vec::new();
    for path in &tried {
        // Only regular files (or links to them) are candidates; a directory
        // named `vmlinux` next to the dump is not.
        if !path.is_file() {
            continue;
        }
        match Vmlinux::open(path) {
            Ok(v) => match mismatch(&v) {
                None => return Ok(v),
                Some(id) => mismatched.push((path.clone(), id)),
            },
            Err(e) => rejected.push((path.clone(), ErrorChain(&e).to_string())),
        }
    }
    match dump_id {
        Some(dump_id) if !mismatched.is_empty() => Err(DebugInfoError::NoMatchingBuildId {
            dump_id,
            candidates: mismatched,
        }),
        _ => Err(DebugInfoError::NotFound { tried, rejected }),
    }
}
