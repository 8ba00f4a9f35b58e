//! `cargo xtask gen`: writes the man pages (docs/man/) and the shell
//! completions (completions/) from the CLI definition in src/cli/args.rs,
//! the same file the binary parses with. `cargo xtask gen --check` writes
//! nothing and fails when a committed file differs from what the definition
//! gives (CI runs it), so the pages are never edited by hand.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::CommandFactory as _;
use clap_complete::Shell;

// The generator builds the clap::Command only; it never reads parsed values.
#[allow(dead_code)]
#[path = "../../../src/cli/args.rs"]
mod args;

/// The binary's name, which the pages and completions are for.
const BIN: &str = "pgsync-dump";

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `version = "..."` of the root package: the man pages carry the release
/// (the binary's --version adds the git commit, which the pages must not, or
/// every commit would make them out of date).
fn release(root: &Path) -> Result<String, String> {
    let manifest = root.join("Cargo.toml");
    let text =
        std::fs::read_to_string(&manifest).map_err(|e| format!("{}: {e}", manifest.display()))?;
    text.lines()
        .skip_while(|l| l.trim() != "[package]")
        .find_map(|l| {
            let v = l
                .trim()
                .strip_prefix("version")?
                .trim_start()
                .strip_prefix('=')?;
            Some(v.trim().trim_matches('"').to_string())
        })
        .ok_or_else(|| format!("{}: no [package] version", manifest.display()))
}

/// Every generated file: its path under the repository and its bytes.
fn generate(root: &Path) -> Result<Vec<(PathBuf, Vec<u8>)>, String> {
    // clap keeps a version as &'static str; this process generates once and exits.
    let version: &'static str = Box::leak(release(root)?.into_boxed_str());
    let mut cmd = args::Cli::command().version(version);
    // Sets each subcommand's display name (pgsync-dump-analyze) and bin name
    // (pgsync-dump analyze), which the pages use for title and synopsis.
    cmd.build();
    let mut files = Vec::new();
    let man = |c: &clap::Command| -> Result<Vec<u8>, String> {
        let mut buf = Vec::new();
        clap_mangen::Man::new(c.clone())
            .render(&mut buf)
            .map_err(|e| format!("man page of {}: {e}", c.get_name()))?;
        Ok(buf)
    };
    files.push((PathBuf::from(format!("docs/man/{BIN}.1")), man(&cmd)?));
    for sub in cmd.get_subcommands() {
        // clap's own `help` subcommand needs no page.
        if sub.get_name() == "help" {
            continue;
        }
        let name = format!("{BIN}-{}", sub.get_name());
        files.push((PathBuf::from(format!("docs/man/{name}.1")), man(sub)?));
    }
    for (shell, file) in [
        (Shell::Bash, format!("{BIN}.bash")),
        (Shell::Zsh, format!("_{BIN}")),
        (Shell::Fish, format!("{BIN}.fish")),
    ] {
        let mut buf = Vec::new();
        clap_complete::generate(shell, &mut cmd, BIN, &mut buf);
        files.push((PathBuf::from("completions").join(file), buf));
    }
    Ok(files)
}

fn gen_files(check: bool) -> Result<(), String> {
    let root = repo_root();
    let files = generate(&root)?;
    let mut stale = Vec::new();
    for (rel, bytes) in &files {
        let path = root.join(rel);
        let current = std::fs::read(&path).ok();
        if current.as_deref() == Some(bytes.as_slice()) {
            continue;
        }
        if check {
            stale.push(rel.display().to_string());
            continue;
        }
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        std::fs::write(&path, bytes).map_err(|e| format!("{}: {e}", path.display()))?;
        println!("wrote {}", rel.display());
    }
    // A page left over from a removed subcommand is stale too.
    let wanted: Vec<PathBuf> = files.iter().map(|(p, _)| root.join(p)).collect();
    for dir in ["docs/man", "completions"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir)) else {
            continue;
        };
        for e in entries.flatten() {
            if !wanted.contains(&e.path()) {
                stale.push(format!(
                    "{dir}/{} (not generated)",
                    e.file_name().to_string_lossy()
                ));
            }
        }
    }
    if stale.is_empty() {
        if check {
            println!(
                "man pages and completions are up to date ({} files)",
                files.len()
            );
        }
        Ok(())
    } else {
        Err(format!(
            "out of date with src/cli/args.rs (run `cargo xtask gen`): {}",
            stale.join(", ")
        ))
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let result = match args.as_slice() {
        ["gen"] => gen_files(false),
        ["gen", "--check"] => gen_files(true),
        _ => Err("usage: cargo xtask gen [--check]".to_string()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}
