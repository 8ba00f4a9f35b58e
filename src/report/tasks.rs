//! `tasks`: every task the check reached, with its page table and the CPU
//! it was current on. One typed row serves the JSON (serde) and the table.
//!
//! Fields are declared in alphabetical order: the JSON has always printed
//! them so, and scripts that compare its text keep working.

use std::collections::HashMap;

use serde::Serialize;

use crate::analysis::Analysis;
use crate::arch::x86_64::VirtAddr;
use crate::kernel::CpuState;

use super::hex;
use super::layout::{self, Column, Frame};

/// One element of `tasks --format json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TaskRow {
    /// `task->active_mm`, null when zero.
    pub active_mm: Option<String>,
    pub comm: String,
    /// The CPU whose current task it is.
    pub cpu: Option<u32>,
    pub kthread: bool,
    /// `task->mm`, null for kernel threads.
    pub mm: Option<String>,
    /// The status of the page table of `mm` (`consistent`, `diverged`, ...).
    pub page_table: Option<&'static str>,
    /// `mm->pgd`.
    pub pgd: Option<String>,
    pub pid: i32,
    /// The task_struct's address.
    pub task: String,
    pub tgid: i32,
}

/// One row per task of `a`, in its order.
pub fn task_rows(a: &Analysis, cpus: &[CpuState]) -> Vec<TaskRow> {
    // Indexed once (first match wins, as a linear search would): a lookup
    // per task would be tasks x tables and tasks x CPUs.
    let mut table_of_mm = HashMap::new();
    for x in &a.tables {
        if let Some(mm) = x.mm {
            table_of_mm.entry(mm).or_insert(x);
        }
    }
    let mut cpu_of_task = HashMap::new();
    for c in cpus {
        if let Some(task) = c.current_task {
            cpu_of_task.entry(task).or_insert(c.cpu);
        }
    }
    a.tasks
        .iter()
        .map(|t| {
            let table = (t.mm != 0)
                .then(|| table_of_mm.get(&VirtAddr::new(t.mm)).copied())
                .flatten();
            TaskRow {
                active_mm: (t.active_mm != 0).then(|| hex(t.active_mm)),
                comm: t.comm.clone(),
                cpu: cpu_of_task.get(&t.addr).copied(),
                kthread: t.is_kthread(),
                mm: (t.mm != 0).then(|| hex(t.mm)),
                page_table: table.map(|x| x.status.as_str()),
                pgd: table.map(|x| hex(x.pgd_va)),
                pid: t.pid,
                task: hex(t.addr),
                tgid: t.tgid,
            }
        })
        .collect()
}

/// The `tasks` table: pid, tgid, comm, mm, pgd, CPU, page-table status.
/// The tasks table; `width`: the terminal's columns, or `None` for full
/// rows. Too narrow a terminal drops tgid, then mm, then cpu (and says so).
pub fn table(rows: &[TaskRow], width: Option<u16>) -> String {
    let columns = [
        Column::whole("pid"),
        Column::whole("tgid").secondary(0),
        Column::whole("comm"),
        Column::whole("mm").secondary(1),
        Column::whole("pgd"),
        Column::whole("cpu").secondary(2),
        Column::whole("page table"),
    ];
    let or_dash = |s: Option<&str>| s.unwrap_or("-").to_string();
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                r.pid.to_string(),
                r.tgid.to_string(),
                r.comm.clone(),
                or_dash(r.mm.as_deref()),
                or_dash(r.pgd.as_deref()),
                r.cpu.map_or("-".into(), |c| c.to_string()),
                or_dash(r.page_table),
            ]
        })
        .collect();
    layout::render(Frame::Boxed, &columns, &cells, width)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kthread() -> TaskRow {
        TaskRow {
            active_mm: Some(hex(0xffff_8880_0123_4000u64)),
            comm: "kworker/0:1".into(),
            cpu: None,
            kthread: true,
            mm: None,
            page_table: None,
            pgd: None,
            pid: 7,
            task: hex(0xffff_8880_0456_8000u64),
            tgid: 7,
        }
    }

    #[test]
    fn a_row_prints_the_json_it_always_printed() {
        assert_eq!(
            serde_json::to_string(&kthread()).unwrap(),
            r#"{"active_mm":"0xffff888001234000","comm":"kworker/0:1","cpu":null,"kthread":true,"mm":null,"page_table":null,"pgd":null,"pid":7,"task":"0xffff888004568000","tgid":7}"#
        );
    }

    #[test]
    fn the_table_shows_a_dash_for_what_a_task_lacks() {
        let mut user = kthread();
        user.mm = Some(hex(0xffff_8880_0777_0000u64));
        user.pgd = Some(hex(0xffff_8880_0888_0000u64));
        user.cpu = Some(1);
        user.page_table = Some("diverged");
        let text = table(&[kthread(), user], None);
        let rows: Vec<Vec<&str>> = text
            .lines()
            .filter(|l| l.contains("kworker"))
            .map(|l| {
                l.split(['│', '┆'])
                    .map(str::trim)
                    .filter(|c| !c.is_empty())
                    .collect()
            })
            .collect();
        assert_eq!(
            rows,
            vec![
                vec!["7", "7", "kworker/0:1", "-", "-", "-", "-"],
                vec![
                    "7",
                    "7",
                    "kworker/0:1",
                    "0xffff888007770000",
                    "0xffff888008880000",
                    "1",
                    "diverged"
                ],
            ]
        );
    }
}
