//! One HTTP GET into a temporary file of the cache directory, bounded in
//! size and time; the caller checks the file and [`TempFile::persist`]s it.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::{DebuginfodConfig, DebuginfodError};
use crate::dump::progress;

/// A file in the cache directory that is removed unless persisted, so an
/// interrupted or rejected download leaves nothing under the cache name.
pub(super) struct TempFile {
    path: PathBuf,
    kept: bool,
}

impl TempFile {
    /// `debuginfo.<pid>.<n>.tmp` next to where the file will live (the
    /// rename must not cross file systems).
    fn create(dir: &Path) -> Result<(TempFile, File), DebuginfodError> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let mut last_err = None;
        for _ in 0..16 {
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            let path = dir.join(format!("debuginfo.{}.{n}.tmp", std::process::id()));
            match File::options().write(true).create_new(true).open(&path) {
                Ok(f) => return Ok((TempFile { path, kept: false }, f)),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => last_err = Some(e),
                Err(source) => return Err(DebuginfodError::Cache { path, source }),
            }
        }
        Err(DebuginfodError::Cache {
            path: dir.to_path_buf(),
            source: last_err.unwrap_or_else(|| std::io::Error::other("no free temporary name")),
        })
    }

    pub(super) fn path(&self) -> &Path {
        &self.path
    }

    /// Renames the file to `dest` (atomic within the directory).
    pub(super) fn persist(mut self, dest: &Path) -> Result<(), DebuginfodError> {
        std::fs::rename(&self.path, dest).map_err(|source| DebuginfodError::Cache {
            path: dest.to_path_buf(),
            source,
        })?;
        self.kept = true;
        Ok(())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.kept {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// The agent: elfutils' DEBUGINFOD_TIMEOUT is "no progress for that long",
/// which is ureq's per-read timeout; connecting (DNS, TCP, TLS) gets the
/// same bound. HTTP error statuses are answers, not transport errors.
fn agent(config: &DebuginfodConfig) -> ureq::Agent {
    let t = config.timeout;
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_resolve(t)
        .timeout_connect(t)
        .timeout_per_read(t)
        .timeout_per_write(t)
        .user_agent(concat!("pgsync-dump/", env!("CARGO_PKG_VERSION")))
        .build()
        .into()
}

fn is_timeout(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
    ) || e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<ureq::Error>())
        .is_some_and(|u| matches!(u, ureq::Error::Timeout(_)))
}

/// GETs `url` into a new temporary file in `dir`. The body must fit
/// `config.max_size` and, when the server gives a Content-Length, have
/// exactly that length.
pub(super) fn download(
    url: &str,
    dir: &Path,
    config: &DebuginfodConfig,
) -> Result<TempFile, DebuginfodError> {
    let secs = config.timeout.map_or(0, |t| t.as_secs());
    let timeout = || DebuginfodError::Timeout {
        url: url.to_string(),
        secs,
    };
    let response = match agent(config).get(url).call() {
        Ok(r) => r,
        Err(ureq::Error::Timeout(_)) => return Err(timeout()),
        Err(e) => {
            return Err(DebuginfodError::Transport {
                url: url.to_string(),
                source: Box::new(e),
            });
        }
    };
    let status = response.status().as_u16();
    if status != 200 {
        return Err(DebuginfodError::Status {
            url: url.to_string(),
            status,
        });
    }
    let body = response.into_body();
    let expected = body.content_length();
    if expected.is_some_and(|n| n > config.max_size) {
        return Err(DebuginfodError::TooLarge {
            url: url.to_string(),
            limit: config.max_size,
        });
    }
    let (temp, mut file) = TempFile::create(dir)?;
    let received = copy_body(
        &mut body.into_reader(),
        &mut file,
        temp.path(),
        expected,
        config.max_size,
    )
    .map_err(|e| match e {
        CopyError::Read { source, .. } if is_timeout(&source) => timeout(),
        CopyError::Read { received, source } => match expected {
            Some(expected)
                if received < expected && source.kind() == std::io::ErrorKind::UnexpectedEof =>
            {
                DebuginfodError::Truncated {
                    url: url.to_string(),
                    received,
                    expected,
                }
            }
            _ => DebuginfodError::Body {
                url: url.to_string(),
                received,
                source,
            },
        },
        CopyError::TooLarge => DebuginfodError::TooLarge {
            url: url.to_string(),
            limit: config.max_size,
        },
        CopyError::Short { received, expected } => DebuginfodError::Truncated {
            url: url.to_string(),
            received,
            expected,
        },
        CopyError::Write(source) => DebuginfodError::Cache {
            path: temp.path().to_path_buf(),
            source,
        },
    })?;
    debug_assert!(expected.is_none_or(|n| n == received));
    Ok(temp)
}

enum CopyError {
    Read {
        received: u64,
        source: std::io::Error,
    },
    TooLarge,
    Short {
        received: u64,
        expected: u64,
    },
    Write(std::io::Error),
}

/// Copies the body to the file in 256 KiB chunks, reporting progress, and
/// syncs it (a cache entry renamed into place must be complete on disk).
fn copy_body(
    body: &mut dyn Read,
    file: &mut File,
    path: &Path,
    expected: Option<u64>,
    max_size: u64,
) -> Result<u64, CopyError> {
    let name = path
        .parent()
        .and_then(Path::file_name)
        .map(|id| id.to_string_lossy().into_owned())
        .unwrap_or_default();
    let step = progress::step(
        &format!("debuginfod: vmlinux {name}"),
        expected.unwrap_or(0),
    );
    let mut buf = vec![0u8; 256 << 10];
    let mut received = 0u64;
    loop {
        let n = match body.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(source) => return Err(CopyError::Read { received, source }),
        };
        received += n as u64;
        if received > max_size {
            return Err(CopyError::TooLarge);
        }
        file.write_all(&buf[..n]).map_err(CopyError::Write)?;
        step.set(received);
    }
    if let Some(expected) = expected.filter(|&e| e != received) {
        return Err(CopyError::Short { received, expected });
    }
    file.sync_all().map_err(CopyError::Write)?;
    Ok(received)
}
