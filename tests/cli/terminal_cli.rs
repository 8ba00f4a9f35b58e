//! Terminal conventions at the command line (issue 15): `--quiet` keeps
//! stderr for errors only, and a terminal's `COLUMNS` fits the tables while a
//! pipe gets full rows.

use crate::common;

use std::process::Command;

use common::{bin, fixtures_dir, outside_tool_missing, run};

#[test]
fn quiet_drops_notes_but_not_results_or_errors() {
    let vmcore = fixtures_dir().join("incomplete/vmcore");
    let vmcore = vmcore.to_str().expect("utf-8 path");
    let loud = run(&["tasks", vmcore]);
    let quiet = run(&["--quiet", "tasks", vmcore]);
    assert_eq!(loud.code, 0);
    assert_eq!(
        loud.stderr,
        "note: 1 page table(s) and 0 structure(s) could not be read; run analyze for details\n"
    );
    assert_eq!((quiet.code, quiet.stderr.as_str()), (0, ""));
    assert_eq!(quiet.stdout, loud.stdout);
    // Global: after the subcommand too. Errors still reach stderr.
    let err = run(&["tasks", "--quiet", "/nonexistent/vmcore"]);
    assert_eq!(err.code, 2);
    assert!(
        err.stderr.starts_with("pgsync-dump: error: ")
            && err.stderr.contains("/nonexistent/vmcore"),
        "{}",
        err.stderr
    );
}

/// `tasks` under a pseudo-terminal (script(1)) with COLUMNS=80: no line over
/// 80 columns, the pgds whole, the left-out columns named; piped (COLUMNS
/// set or not) the full rows.
#[test]
fn a_terminal_gets_fitted_tables_and_a_pipe_full_rows() {
    let vmcore = fixtures_dir().join("missing-4l/vmcore");
    let vmcore = vmcore.to_str().expect("utf-8 path");
    let inner = format!("COLUMNS=80 '{}' tasks '{vmcore}'", bin());
    let Ok(out) = Command::new("script")
        .args(["-qec", &inner, "/dev/null"])
        .output()
    else {
        return outside_tool_missing("script (util-linux, for a pseudo-terminal)");
    };
    assert!(out.status.success(), "script: {out:?}");
    let text = String::from_utf8_lossy(&out.stdout).replace('\r', "");
    for line in text.lines() {
        assert!(line.chars().count() <= 80, "wider than 80: {line:?}");
    }
    assert!(
        text.contains("│ 1234 ┆ ndctl           ┆ 0xffff888002ecc000 ┆ 0   ┆ diverged   │"),
        "{text}"
    );
    assert!(text.contains("(not shown in 80 columns: tgid, mm; --format json has them)"));

    let piped = Command::new(bin())
        .args(["tasks", vmcore])
        .env("COLUMNS", "80")
        .output()
        .expect("run pgsync-dump");
    let piped = String::from_utf8_lossy(&piped.stdout);
    assert!(piped.contains(
        "│ 1234 ┆ 1234 ┆ ndctl           ┆ 0xffff888002ece080 ┆ 0xffff888002ecc000 ┆ 0   ┆ diverged   │"
    ), "{piped}");
    assert!(!piped.contains("not shown"));
}
