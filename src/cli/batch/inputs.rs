//! What the archive mode analyzes: the arguments in order, each directory
//! walked (entries sorted by name) for files that are dumps by their magic
//! bytes, and the parts of split dumps grouped into one dump each.

use std::collections::{BTreeMap, HashSet};
use std::fs::Metadata;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};

use pgsync_dump::dump::probe::{self, SplitIdentity, SplitPart};

/// One line of output to be.
#[derive(Debug)]
pub enum Input {
    /// A dump: one file, or the parts of one split dump in pfn order.
    Dump(Vec<PathBuf>),
    /// Known to be unanalyzable before anything is opened: an unreadable
    /// entry, or a split dump with a part missing.
    Error { paths: Vec<PathBuf>, error: String },
}

impl Input {
    pub fn paths(&self) -> &[PathBuf] {
        match self {
            Input::Dump(p) | Input::Error { paths: p, .. } => p,
        }
    }
}

/// Entries of walked directories that are not dumps, counted for the
/// summary rather than printed: an archive holds logs, vmlinux files and
/// notes beside its dumps.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// Regular files whose first bytes are no dump's.
    pub not_dumps: u64,
    /// FIFOs, sockets, devices met in a walk (never opened: a read could block).
    pub not_regular: u64,
    /// Files or directories reached a second time (hard or symbolic links),
    /// symlink loops included.
    pub seen_before: u64,
    /// Symbolic links to nothing.
    pub dangling_links: u64,
}

#[derive(Debug, Default)]
pub struct Inputs {
    pub items: Vec<Input>,
    pub skipped: Skipped,
}

/// A file to analyze, before split parts are grouped.
struct Candidate {
    path: PathBuf,
    split: Option<SplitPart>,
}

enum Found {
    Candidate(Candidate),
    Error { path: PathBuf, error: String },
}

#[derive(Default)]
struct Walk {
    found: Vec<Found>,
    skipped: Skipped,
    /// (device, inode) of every directory entered and file taken.
    seen: HashSet<(u64, u64)>,
}

fn id(m: &Metadata) -> (u64, u64) {
    (m.dev(), m.ino())
}

/// The arguments as archive-mode inputs, in order.
pub fn collect(args: &[PathBuf]) -> Inputs {
    let mut w = Walk::default();
    for arg in args {
        match std::fs::metadata(arg) {
            Err(e) => w.error(arg, format!("{}: {e}", arg.display())),
            Ok(m) if m.is_dir() => w.dir(arg, &m),
            Ok(m) if m.is_file() => {
                if w.seen.insert(id(&m)) {
                    w.named_file(arg);
                } else {
                    w.skipped.seen_before += 1;
                }
            }
            // A FIFO or device named on purpose: analyzed as it is
            // (opening it may block; --timeout bounds that).
            Ok(_) => w.take(arg, None),
        }
    }
    Inputs {
        items: group(w.found),
        skipped: w.skipped,
    }
}

/// Whether `args` are exactly the parts of one split dump, by their
/// headers (the single-dump mode's several-files case).
pub fn one_split_dump(args: &[PathBuf]) -> bool {
    let mut identity: Option<SplitIdentity> = None;
    for arg in args {
        if !std::fs::metadata(arg).is_ok_and(|m| m.is_file()) {
            return false;
        }
        let Ok(Some(probe::Probe {
            split: Some(part), ..
        })) = probe::probe(arg)
        else {
            return false;
        };
        match &identity {
            None => identity = Some(part.identity),
            Some(i) if *i == part.identity => {}
            Some(_) => return false,
        }
    }
    identity.is_some()
}

impl Walk {
    fn error(&mut self, path: &Path, error: String) {
        self.found.push(Found::Error {
            path: path.to_path_buf(),
            error,
        });
    }

    fn take(&mut self, path: &Path, split: Option<SplitPart>) {
        self.found.push(Found::Candidate(Candidate {
            path: path.to_path_buf(),
            split,
        }));
    }

    /// A file named on the command line is analyzed whatever its bytes
    /// (opening it says why it is not a dump); the probe only groups parts.
    fn named_file(&mut self, path: &Path) {
        let split = probe::probe(path).ok().flatten().and_then(|p| p.split);
        self.take(path, split);
    }

    fn dir(&mut self, dir: &Path, m: &Metadata) {
        if !self.seen.insert(id(m)) {
            self.skipped.seen_before += 1;
            return;
        }
        let entries = match std::fs::read_dir(dir) {
            Ok(rd) => rd,
            Err(e) => return self.error(dir, format!("{}: cannot list: {e}", dir.display())),
        };
        let mut names = Vec::new();
        for entry in entries {
            match entry {
                Ok(e) => names.push(e.file_name()),
                Err(e) => {
                    return self.error(dir, format!("{}: cannot list: {e}", dir.display()));
                }
            }
        }
        names.sort();
        for name in names {
            self.entry(&dir.join(name));
        }
    }

    fn entry(&mut self, path: &Path) {
        // Follows symbolic links: a link's target is what is read.
        let m = match std::fs::metadata(path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                self.skipped.dangling_links += 1;
                return;
            }
            Err(e) => return self.error(path, format!("{}: {e}", path.display())),
        };
        if m.is_dir() {
            return self.dir(path, &m);
        }
        if !m.is_file() {
            self.skipped.not_regular += 1;
            return;
        }
        if !self.seen.insert(id(&m)) {
            self.skipped.seen_before += 1;
            return;
        }
        match probe::probe(path) {
            Ok(Some(p)) => self.take(path, p.split),
            Ok(None) => self.skipped.not_dumps += 1,
            Err(e) => self.error(path, pgsync_dump::ErrorChain(&e).to_string()),
        }
    }
}

/// Items in input order; the parts of a split dump become one item at the
/// place of its first part.
fn group(found: Vec<Found>) -> Vec<Input> {
    let mut slots: Vec<Option<Input>> = Vec::with_capacity(found.len());
    // Parts of one split dump sit in one directory (copies elsewhere are
    // another dump); there they share an identity.
    type Key = (PathBuf, SplitIdentity);
    let mut groups: BTreeMap<Key, (usize, Vec<(PathBuf, SplitPart)>)> = BTreeMap::new();
    for f in found {
        match f {
            Found::Error { path, error } => slots.push(Some(Input::Error {
                paths: vec![path],
                error,
            })),
            Found::Candidate(Candidate { path, split: None }) => {
                slots.push(Some(Input::Dump(vec![path])))
            }
            Found::Candidate(Candidate {
                path,
                split: Some(part),
            }) => {
                let at = slots.len();
                let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
                let g = groups
                    .entry((dir, part.identity.clone()))
                    .or_insert_with(|| (at, Vec::new()));
                if g.0 == at {
                    slots.push(None);
                }
                g.1.push((path, part));
            }
        }
    }
    // Two dumps of one machine in one directory share an identity; their
    // parts overlap. Then the header timestamp (one per makedumpfile run) tells them apart.
    let mut extra: BTreeMap<usize, Vec<Input>> = BTreeMap::new();
    for (at, parts) in groups.into_values() {
        let mut dumps: Vec<Input> = if overlapping(&parts) {
            let mut by_time: BTreeMap<(i64, i64), Vec<(PathBuf, SplitPart)>> = BTreeMap::new();
            for p in parts {
                by_time.entry(p.1.timestamp).or_default().push(p);
            }
            by_time.into_values().map(split_dump).collect()
        } else {
            vec![split_dump(parts)]
        };
        let first = dumps.remove(0);
        if let Some(slot) = slots.get_mut(at) {
            *slot = Some(first);
        }
        extra.insert(at, dumps);
    }
    let mut out = Vec::with_capacity(slots.len());
    for (i, slot) in slots.into_iter().enumerate() {
        out.extend(slot);
        out.extend(extra.remove(&i).unwrap_or_default());
    }
    out
}

fn overlapping(parts: &[(PathBuf, SplitPart)]) -> bool {
    let mut ranges: Vec<(u64, u64)> = parts.iter().map(|p| (p.1.start_pfn, p.1.end_pfn)).collect();
    ranges.sort_unstable();
    ranges.windows(2).any(|w| w[1].0 < w[0].1)
}

/// One split dump from its parts: a dump when they cover every page frame
/// from 0 to `max_mapnr` without overlap, else an error naming the parts
/// found and the page frames no part holds.
fn split_dump(mut parts: Vec<(PathBuf, SplitPart)>) -> Input {
    parts.sort_by_key(|p| (p.1.start_pfn, p.1.end_pfn));
    let max_mapnr = parts.first().map_or(0, |p| p.1.identity.max_mapnr);
    let mut problems = Vec::new();
    let mut overlap = false;
    let mut covered_to = 0u64;
    for (path, part) in &parts {
        if part.start_pfn < covered_to {
            overlap = true;
            problems.push(format!(
                "{} (pfns {}) overlaps the part before it",
                path.display(),
                part.pfn_range()
            ));
        } else if part.start_pfn > covered_to {
            problems.push(format!(
                "no part holds pfns {covered_to:#x}..{:#x}",
                part.start_pfn
            ));
        }
        covered_to = covered_to.max(part.end_pfn);
    }
    if covered_to < max_mapnr {
        problems.push(format!(
            "no part holds pfns {covered_to:#x}..{max_mapnr:#x}"
        ));
    }
    let paths: Vec<PathBuf> = parts.iter().map(|p| p.0.clone()).collect();
    if problems.is_empty() {
        return Input::Dump(paths);
    }
    let found: Vec<String> = parts
        .iter()
        .map(|(path, part)| format!("{} (pfns {})", path.display(), part.pfn_range()))
        .collect();
    let what = if overlap {
        "parts overlap (the same part twice, or parts of different dumps)"
    } else {
        "a part is missing"
    };
    Input::Error {
        paths,
        error: format!(
            "split dump of {max_mapnr:#x} page frames, {what}: {}; found {} part(s): {}",
            problems.join(", "),
            parts.len(),
            found.join(", ")
        ),
    }
}
