//! The debuginfo of each dump in an archive, found as `analyze` on that
//! dump alone finds it, and opened once per file: dumps that lead to the
//! same vmlinux (the same file through any path or link, as the harness's
//! `vmlinux` links beside each dump of one kernel build do) share one
//! opened `Vmlinux`, so its DWARF type index is built once for all of them.
//! [`DebugInfoCache::resolve`] is the one place the archive mode gets
//! debuginfo.
//!
//! Files are told apart by identity (device, inode), not by build-id: a
//! stripped vmlinux and its debug file share a build-id but not their DWARF,
//! and each dump must be analyzed with the file its own search finds.

use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::Result;
use pgsync_dump::debuginfo::Vmlinux;
use pgsync_dump::dump::CrashDump;

use crate::cli::DebuginfoArgs;
use crate::cli::debuginfo::{Resolution, Source, resolve};

/// Files kept open at once. An archive holds few kernel builds; the bound
/// keeps memory independent of the number of dumps even when it does not.
const MAX_FILES: usize = 16;

/// A file's device and inode: the same file through any path.
type FileId = (u64, u64);

#[derive(Default)]
pub struct DebugInfoCache {
    /// (device, inode) of each open file, oldest first.
    entries: Mutex<Vec<(FileId, Arc<Vmlinux>)>>,
}

fn file_id(path: &Path) -> Option<FileId> {
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

impl DebugInfoCache {
    /// The debug information for `d`, searched for as `analyze` on that
    /// dump alone does (the search only maps a vmlinux and reads its
    /// section table); a vmlinux already open through another path is
    /// shared, with its type index. The dump's own tables are per dump.
    /// Also returns the vmlinux path this dump's own search found (the
    /// shared copy may have been opened through another link).
    pub fn resolve(
        &self,
        d: &CrashDump,
        args: &DebuginfoArgs,
    ) -> Result<(Resolution, Option<PathBuf>)> {
        let mut found = resolve(d, args)?;
        let own = found.vmlinux_path().map(Path::to_path_buf);
        let Source::Vmlinux(v) = &found.source else {
            return Ok((found, own));
        };
        let Some(id) = file_id(v.path()) else {
            return Ok((found, own));
        };
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, shared)) = entries.iter().find(|(i, _)| *i == id) {
            found.source = Source::Vmlinux(shared.clone());
            return Ok((found, own));
        }
        if entries.len() == MAX_FILES {
            entries.remove(0);
        }
        entries.push((id, v.clone()));
        Ok((found, own))
    }
}
