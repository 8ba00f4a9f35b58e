//! A debuginfod client for the vmlinux: `GET <url>/buildid/<id>/debuginfo`
//! from each server of `DEBUGINFOD_URLS` in turn, into the cache layout of
//! elfutils' client (`<cache>/<build-id>/debuginfo`), so that gdb, drgn and
//! pgsync-dump share one cache. See docs/debuginfo.md.
//!
//! What arrives is written to a temporary file in the cache directory,
//! checked (an ELF vmlinux whose build-id is the one asked for) and only then
//! renamed into place: an interrupted or wrong download never poisons the
//! cache.

#[cfg(feature = "debuginfod")]
mod download;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{DebugInfoError, Vmlinux};

/// elfutils' default for `DEBUGINFOD_TIMEOUT`, in seconds.
pub const DEFAULT_TIMEOUT_SECS: u64 = 90;

/// No download is larger than this (a Debian 7.x vmlinux with DWARF is
/// ~1 GB); `DEBUGINFOD_MAXSIZE` can lower it.
pub const MAX_DOWNLOAD_BYTES: u64 = 4 << 30;

/// How to reach debuginfod servers and where their files are cached: the
/// environment variables of elfutils' client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DebuginfodConfig {
    /// `DEBUGINFOD_URLS`, split on whitespace, tried in order (trailing `/`
    /// removed).
    pub urls: Vec<String>,
    /// The cache root: `DEBUGINFOD_CACHE_PATH`, else (elfutils' order)
    /// `~/.debuginfod_client_cache` if it exists, else
    /// `$XDG_CACHE_HOME/debuginfod_client`, else `~/.cache/debuginfod_client`.
    /// `None` when none of these can be named (no `HOME`).
    pub cache_dir: Option<PathBuf>,
    /// `DEBUGINFOD_TIMEOUT` (elfutils semantics: seconds without progress,
    /// connecting included; default 90). `None` (`DEBUGINFOD_TIMEOUT=0`):
    /// wait as long as it takes.
    pub timeout: Option<Duration>,
    /// The largest body accepted: [`MAX_DOWNLOAD_BYTES`], or
    /// `DEBUGINFOD_MAXSIZE` bytes when that is set and smaller.
    pub max_size: u64,
}

impl DebuginfodConfig {
    /// From the process environment.
    pub fn from_env() -> DebuginfodConfig {
        Self::from_vars(|name| std::env::var_os(name))
    }

    /// From a lookup of environment variables (tests pass their own).
    pub fn from_vars(var: impl Fn(&str) -> Option<OsString>) -> DebuginfodConfig {
        let text = |name: &str| var(name).map(|v| v.to_string_lossy().into_owned());
        let urls = text("DEBUGINFOD_URLS")
            .map(|v| {
                v.split_whitespace()
                    .map(|u| u.trim_end_matches('/').to_string())
                    .filter(|u| !u.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        let non_empty = |name: &str| var(name).filter(|v| !v.is_empty()).map(PathBuf::from);
        let home = non_empty("HOME");
        let cache_dir = non_empty("DEBUGINFOD_CACHE_PATH")
            .or_else(|| {
                home.as_ref()
                    .map(|h| h.join(".debuginfod_client_cache"))
                    .filter(|legacy| legacy.is_dir())
            })
            .or_else(|| non_empty("XDG_CACHE_HOME").map(|x| x.join("debuginfod_client")))
            .or_else(|| home.map(|h| h.join(".cache/debuginfod_client")));
        let timeout = match text("DEBUGINFOD_TIMEOUT").map(|t| t.trim().parse::<u64>()) {
            Some(Ok(0)) => None,
            Some(Ok(secs)) => Some(Duration::from_secs(secs)),
            None | Some(Err(_)) => Some(Duration::from_secs(DEFAULT_TIMEOUT_SECS)),
        };
        let max_size = match text("DEBUGINFOD_MAXSIZE").map(|t| t.trim().parse::<u64>()) {
            Some(Ok(n)) if n > 0 => n.min(MAX_DOWNLOAD_BYTES),
            _ => MAX_DOWNLOAD_BYTES,
        };
        DebuginfodConfig {
            urls,
            cache_dir,
            timeout,
            max_size,
        }
    }

    /// `<cache>/<build-id>/debuginfo`, elfutils' layout. `None` without a
    /// cache directory or for a build-id that is not plain hex (it comes
    /// from the dump: it must not become an arbitrary path).
    pub fn cache_file(&self, build_id: &str) -> Option<PathBuf> {
        let id = checked_build_id(build_id)?;
        Some(self.cache_dir.as_ref()?.join(id).join("debuginfo"))
    }

    /// The URL asked for one build-id from one server.
    pub fn request_url(server: &str, build_id: &str) -> String {
        format!(
            "{}/buildid/{}/debuginfo",
            server.trim_end_matches('/'),
            build_id.trim().to_ascii_lowercase()
        )
    }
}

/// Lowercase hex of a sane length (a GNU build-id is 20 bytes; elfutils
/// accepts up to 64).
fn checked_build_id(id: &str) -> Option<String> {
    let id = id.trim().to_ascii_lowercase();
    (id.len() >= 2 && id.len() <= 128 && id.bytes().all(|b| b.is_ascii_hexdigit())).then_some(id)
}

/// Why one server did not give the vmlinux. Each names the URL asked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DebuginfodError {
    #[error("{url}: HTTP {status}")]
    Status { url: String, status: u16 },
    #[error("{url}: timed out: nothing received for {secs} s (DEBUGINFOD_TIMEOUT)")]
    Timeout { url: String, secs: u64 },
    #[error("{url}")]
    Transport {
        url: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("{url}: body cut short: {received} of {expected} bytes (Content-Length)")]
    Truncated {
        url: String,
        received: u64,
        expected: u64,
    },
    #[error("{url}: reading the body failed after {received} bytes")]
    Body {
        url: String,
        received: u64,
        #[source]
        source: std::io::Error,
    },
    #[error("{url}: larger than the {limit}-byte limit (DEBUGINFOD_MAXSIZE)")]
    TooLarge { url: String, limit: u64 },
    #[error("{url}: what arrived is not a usable vmlinux")]
    NotVmlinux {
        url: String,
        #[source]
        source: DebugInfoError,
    },
    #[error("{url}: what arrived has build-id {found}, not {wanted}")]
    WrongBuildId {
        url: String,
        found: String,
        wanted: String,
    },
    #[error("{path}: cannot write the download into the cache")]
    Cache {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("no debuginfod cache directory (set DEBUGINFOD_CACHE_PATH or HOME)")]
    NoCacheDir,
    #[error("{build_id:?} is not a build-id (hex digits)")]
    BadBuildId { build_id: String },
}

/// A debuginfod client over one configuration. Building it costs nothing;
/// the HTTP agent (TLS roots included) is made on the first download.
#[derive(Debug, Clone)]
pub struct Debuginfod {
    config: DebuginfodConfig,
}

/// What the cache holds for a build-id.
#[derive(Debug)]
#[non_exhaustive]
pub enum CacheLookup {
    /// The file is there, opens as a vmlinux, and has the build-id.
    Hit(Box<Vmlinux>),
    /// No file (an empty file, elfutils' negative-cache mark, counts as none).
    Miss,
    /// A file that cannot be used: a download replaces it.
    Unusable(DebugInfoError),
    /// A file with another build-id: a download replaces it.
    OtherBuildId { path: PathBuf, found: String },
}

impl Debuginfod {
    pub fn new(config: DebuginfodConfig) -> Debuginfod {
        Debuginfod { config }
    }

    pub fn config(&self) -> &DebuginfodConfig {
        &self.config
    }

    /// Looks the build-id up in the cache; no network.
    pub fn cached(&self, build_id: &str) -> CacheLookup {
        let Some(path) = self.config.cache_file(build_id) else {
            return CacheLookup::Miss;
        };
        match std::fs::metadata(&path) {
            Ok(m) if m.is_file() && m.len() > 0 => {}
            _ => return CacheLookup::Miss,
        }
        match open_checked(&path, build_id) {
            Ok(v) => CacheLookup::Hit(Box::new(v)),
            Err(Checked::Unusable(e)) => CacheLookup::Unusable(e),
            Err(Checked::OtherBuildId(found)) => CacheLookup::OtherBuildId { path, found },
        }
    }

    /// Downloads the build-id's vmlinux from one server into the cache and
    /// opens it there (cargo feature `debuginfod`). Progress goes to `dump::progress` (a bar when the
    /// front end installed one).
    #[cfg(feature = "debuginfod")]
    pub fn fetch_from(&self, server: &str, build_id: &str) -> Result<Vmlinux, DebuginfodError> {
        let id = checked_build_id(build_id).ok_or_else(|| DebuginfodError::BadBuildId {
            build_id: build_id.to_string(),
        })?;
        let dest = self
            .config
            .cache_file(&id)
            .ok_or(DebuginfodError::NoCacheDir)?;
        let url = DebuginfodConfig::request_url(server, &id);
        let dir = dest.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(|source| DebuginfodError::Cache {
            path: dir.to_path_buf(),
            source,
        })?;
        let temp = download::download(&url, dir, &self.config)?;
        // The temporary file is checked before it gets the cache name.
        match open_checked(temp.path(), &id) {
            Ok(v) => drop(v),
            Err(Checked::Unusable(source)) => {
                return Err(DebuginfodError::NotVmlinux { url, source });
            }
            Err(Checked::OtherBuildId(found)) => {
                return Err(DebuginfodError::WrongBuildId {
                    url,
                    found,
                    wanted: id,
                });
            }
        }
        temp.persist(&dest)?;
        Vmlinux::open(&dest).map_err(|source| DebuginfodError::NotVmlinux { url, source })
    }
}

enum Checked {
    Unusable(DebugInfoError),
    OtherBuildId(String),
}

/// Opens `path` as a vmlinux and requires the build-id `wanted`.
fn open_checked(path: &Path, wanted: &str) -> Result<Vmlinux, Checked> {
    let v = Vmlinux::open(path).map_err(Checked::Unusable)?;
    let wanted = wanted.trim().to_ascii_lowercase();
    match v.build_id() {
        Some(id) if id == wanted => Ok(v),
        Some(id) => Err(Checked::OtherBuildId(id)),
        None => Err(Checked::OtherBuildId("(none)".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(vars: &[(&str, &str)]) -> DebuginfodConfig {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        DebuginfodConfig::from_vars(|name| {
            vars.iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| OsString::from(v))
        })
    }

    #[test]
    fn environment() {
        let c = config(&[
            (
                "DEBUGINFOD_URLS",
                "  https://a.example/ http://b.example:8002\thttp://c ",
            ),
            ("DEBUGINFOD_CACHE_PATH", "/x/cache"),
            ("XDG_CACHE_HOME", "/x/xdg"),
            ("HOME", "/nonexistent-home"),
            ("DEBUGINFOD_TIMEOUT", "7"),
        ]);
        assert_eq!(
            c.urls,
            vec!["https://a.example", "http://b.example:8002", "http://c"]
        );
        assert_eq!(c.cache_dir, Some(PathBuf::from("/x/cache")));
        assert_eq!(c.timeout, Some(Duration::from_secs(7)));
        assert_eq!(c.max_size, MAX_DOWNLOAD_BYTES);
        assert_eq!(
            c.cache_file("ABCDEF01"),
            Some(PathBuf::from("/x/cache/abcdef01/debuginfo"))
        );
        // A build-id from the dump never becomes a path outside the cache.
        assert_eq!(c.cache_file("../../etc"), None);
        assert_eq!(c.cache_file(""), None);

        let c = config(&[("XDG_CACHE_HOME", "/x/xdg"), ("HOME", "/nonexistent-home")]);
        assert!(c.urls.is_empty());
        assert_eq!(c.cache_dir, Some(PathBuf::from("/x/xdg/debuginfod_client")));
        assert_eq!(c.timeout, Some(Duration::from_secs(90)));

        let c = config(&[
            ("HOME", "/nonexistent-home"),
            ("DEBUGINFOD_TIMEOUT", "0"),
            ("DEBUGINFOD_MAXSIZE", "1000"),
        ]);
        assert_eq!(
            c.cache_dir,
            Some(PathBuf::from("/nonexistent-home/.cache/debuginfod_client"))
        );
        assert_eq!(c.timeout, None);
        assert_eq!(c.max_size, 1000);

        let c = config(&[("DEBUGINFOD_TIMEOUT", "soon"), ("DEBUGINFOD_MAXSIZE", "0")]);
        assert_eq!(c.cache_dir, None);
        assert_eq!(c.timeout, Some(Duration::from_secs(90)));
        assert_eq!(c.max_size, MAX_DOWNLOAD_BYTES);

        assert_eq!(
            DebuginfodConfig::request_url("http://h:1/", "AB12"),
            "http://h:1/buildid/ab12/debuginfo"
        );
    }
}
