//! Records the git commit the binary is built from, for `pgsync-dump --version`.
//!
//! From a git checkout: `git rev-parse HEAD` (with `-dirty` when the work tree
//! has uncommitted changes to tracked files). From a crate package (`cargo
//! install pgsync-dump`, no .git): the commit `cargo package` recorded in
//! `.cargo_vcs_info.json`. Otherwise "unknown commit". Never fails the build.

use std::path::Path;
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    Some(String::from_utf8(out.stdout).ok()?.trim().to_string())
}

/// `"git":{"sha1":"<40 hex>"}` in the file cargo package writes.
fn packaged_commit(manifest_dir: &Path) -> Option<String> {
    let text = std::fs::read_to_string(manifest_dir.join(".cargo_vcs_info.json")).ok()?;
    let at = text.find("\"sha1\"")?;
    let rest = &text[at + 6..];
    let start = rest.find('"')? + 1;
    let len = rest[start..].find('"')?;
    let sha = &rest[start..start + len];
    sha.bytes()
        .all(|b| b.is_ascii_hexdigit())
        .then(|| sha.chars().take(12).collect())
}

fn main() {
    let manifest_dir = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default();
    let manifest_dir = Path::new(&manifest_dir);
    let in_checkout = manifest_dir.join(".git").exists();
    let commit = if in_checkout {
        git(&["rev-parse", "--short=12", "HEAD"]).map(|c| {
            let dirty = git(&["status", "--porcelain", "--untracked-files=no"])
                .is_some_and(|s| !s.is_empty());
            if dirty { format!("{c}-dirty") } else { c }
        })
    } else {
        packaged_commit(manifest_dir)
    };
    let commit = commit.unwrap_or_else(|| "unknown".to_string());
    println!("cargo:rustc-env=PGSYNC_GIT_COMMIT={commit}");
    if in_checkout {
        // HEAD moves on commit and checkout, the branch ref on commit (loose,
        // or in packed-refs after a gc), the index on staging. Only files that
        // exist are named: cargo reruns the script on every build for a
        // missing one.
        let mut watch = vec![
            "HEAD".to_string(),
            "index".to_string(),
            "packed-refs".to_string(),
        ];
        if let Some(r) = git(&["symbolic-ref", "-q", "HEAD"]) {
            watch.push(r);
        }
        for f in watch {
            if let Some(p) = git(&["rev-parse", "--git-path", &f]) {
                let p = if Path::new(&p).is_absolute() {
                    std::path::PathBuf::from(p)
                } else {
                    manifest_dir.join(p)
                };
                if p.exists() {
                    println!("cargo:rerun-if-changed={}", p.display());
                }
            }
        }
    }
    println!("cargo:rerun-if-changed=build.rs");
}
