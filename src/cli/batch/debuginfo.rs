//! The debuginfo of each dump in an archive, resolved once per kernel
//! build: dumps of one build share one opened `Vmlinux`, so its DWARF type
//! index is built once for all of them. [`DebugInfoCache::resolve`] is the
//! one place the archive mode finds debuginfo.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::Result;
use pgsync_dump::debuginfo::{DebugInfoError, Vmlinux};
use pgsync_dump::dump::CrashDump;

use crate::cli::commands::open_vmlinux;

/// Builds kept open at once. An archive holds few kernel builds; the bound
/// keeps memory independent of the number of dumps even when it does not.
const MAX_BUILDS: usize = 16;

struct Entry {
    /// The file as found (canonical), to recognize it when a dump without
    /// a build-id leads to it again.
    path: PathBuf,
    build_id: Option<String>,
    vmlinux: Arc<Vmlinux>,
}

#[derive(Default)]
pub struct DebugInfoCache {
    /// Oldest first.
    entries: Mutex<Vec<Entry>>,
}

fn normalized(id: &str) -> String {
    id.trim().to_ascii_lowercase()
}

impl DebugInfoCache {
    /// The vmlinux for `d`, as `analyze` on that dump alone would find it
    /// (`explicit`: `--vmlinux`), reusing one already open when it is the
    /// same file or has the dump's build-id.
    pub fn resolve(&self, d: &CrashDump, explicit: Option<&Path>) -> Result<Arc<Vmlinux>> {
        let dump_id = d
            .vmcoreinfo
            .as_ref()
            .and_then(|i| i.build_id.as_deref())
            .map(normalized);
        // Held while a file is searched and opened (cheap: a mapping and a
        // section table) so that dumps of one build never open it twice.
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(path) = explicit {
            let canonical = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
            if let Some(e) = entries.iter().find(|e| e.path == canonical) {
                if let (Some(file_id), Some(dump_id)) = (&e.build_id, &dump_id) {
                    if file_id != dump_id {
                        return Err(DebugInfoError::BuildIdMismatch {
                            path: path.to_path_buf(),
                            file_id: file_id.clone(),
                            dump_id: dump_id.clone(),
                        }
                        .into());
                    }
                }
                return Ok(e.vmlinux.clone());
            }
        } else if let Some(id) = &dump_id {
            if let Some(e) = entries.iter().find(|e| e.build_id.as_ref() == Some(id)) {
                return Ok(e.vmlinux.clone());
            }
        }
        let v = open_vmlinux(d, explicit)?;
        let path = std::fs::canonicalize(v.path()).unwrap_or_else(|_| v.path().to_path_buf());
        if let Some(e) = entries.iter().find(|e| e.path == path) {
            return Ok(e.vmlinux.clone());
        }
        let v = Arc::new(v);
        if entries.len() == MAX_BUILDS {
            entries.remove(0);
        }
        entries.push(Entry {
            path,
            build_id: v.build_id().map(|id| normalized(&id)),
            vmlinux: v.clone(),
        });
        Ok(v)
    }
}
