//! The task line: "CPU: 3 UID: 0 PID: 1234 Comm: ndctl Not tainted 6.12.0 #1".

use super::OopsTask;
use super::text::{find_after, find_word_after, leading_dec};

pub(super) fn parse_task(text: &str) -> Option<OopsTask> {
    let mut rest = find_word_after(text, "CPU: ")?;
    let cpu = leading_dec(rest)?;
    rest = rest
        .trim_start()
        .trim_start_matches(|c: char| c.is_ascii_digit());
    let mut uid = None;
    if let Some(r) = rest.trim_start().strip_prefix("UID: ") {
        uid = leading_dec(r);
        rest = r
            .trim_start()
            .trim_start_matches(|c: char| c.is_ascii_digit());
    }
    let r = rest.trim_start().strip_prefix("PID: ")?;
    let pid = leading_dec(r);
    rest = r
        .trim_start()
        .trim_start_matches(|c: char| c.is_ascii_digit());
    let mut task = OopsTask {
        cpu: Some(cpu),
        uid,
        pid,
        comm: None,
        tainted: None,
        taint_flags: None,
        release: None,
        kdump_loaded: false,
    };
    let Some(after_comm) = rest.trim_start().strip_prefix("Comm: ") else {
        return Some(task);
    };
    // comm is "%.20s" and may hold spaces: it ends where the next field starts.
    let markers = [" Kdump: loaded", " Not tainted", " Tainted: "];
    let comm_end = markers.iter().filter_map(|m| after_comm.find(m)).min();
    let (comm, tail) = match comm_end {
        Some(end) => (
            after_comm.get(..end).unwrap_or(""),
            after_comm.get(end..).unwrap_or(""),
        ),
        // Truncated: the first word is all that can be told apart.
        None => (after_comm.split_whitespace().next().unwrap_or(""), ""),
    };
    if !comm.is_empty() {
        task.comm = Some(comm.chars().take(20).collect());
    }
    task.kdump_loaded = tail.contains("Kdump: loaded");
    if let Some(r) = find_after(tail, "Not tainted") {
        task.tainted = Some(false);
        task.release = r.split_whitespace().next().map(str::to_string);
    } else if let Some(r) = find_after(tail, "Tainted: ") {
        task.tainted = Some(true);
        let words: Vec<&str> = r.split_whitespace().take(32).collect();
        let release_at = words
            .iter()
            .position(|w| w.starts_with(|c: char| c.is_ascii_digit()));
        let flag_words = match release_at {
            Some(i) => words.get(..i).unwrap_or(&[]),
            None => &words[..],
        };
        if !flag_words.is_empty() {
            task.taint_flags = Some(flag_words.join(" "));
        }
        task.release = release_at.and_then(|i| words.get(i)).map(|w| w.to_string());
    }
    Some(task)
}
