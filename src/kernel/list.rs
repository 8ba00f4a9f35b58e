//! Bounded walks of the kernel's circular `struct list_head` lists
//! (include/linux/list.h). A dump of a dying machine may hold a list that
//! loops without returning to its head, or points into nowhere: the walk
//! stops, keeps what it read, and says where it broke.

use std::collections::HashSet;

use super::Kernel;

/// Upper bound on any list walk; far above real kernels (PID_MAX_LIMIT is
/// 4 Mi) and small enough to finish quickly on garbage.
pub const MAX_LIST_ENTRIES: usize = 1 << 22;

/// Where and why a list walk stopped early.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListBreak {
    /// Number of entries read before the break.
    pub after: usize,
    pub detail: String,
}

/// The nodes (addresses of the embedded list_heads, head excluded) of the
/// list whose head is at `head`, in order.
pub fn walk_list(k: &Kernel<'_>, head: u64, name: &str) -> (Vec<u64>, Option<ListBreak>) {
    walk_list_bounded(k, head, name, MAX_LIST_ENTRIES)
}

/// [`walk_list`] stopping after `max` entries (a share of a budget several
/// walks split, e.g. all the thread lists of one task walk).
pub fn walk_list_bounded(
    k: &Kernel<'_>,
    head: u64,
    name: &str,
    max: usize,
) -> (Vec<u64>, Option<ListBreak>) {
    let mut nodes = Vec::new();
    let mut seen = HashSet::new();
    let mut prev = head;
    let next_of = |node: u64| k.read_u64(node.wrapping_add(k.offsets.list_next));
    let mut cur = match next_of(head) {
        Ok(n) => n,
        Err(e) => {
            return (
                nodes,
                Some(ListBreak {
                    after: 0,
                    detail: format!("{name} head at {head:#x}: {e}"),
                }),
            );
        }
    };
    while cur != head {
        if nodes.len() >= max {
            let detail = format!("{name}: more than {max} entries; stopped");
            let after = nodes.len();
            return (nodes, Some(ListBreak { after, detail }));
        }
        if cur == 0 {
            let detail = format!(
                "{name}: entry #{} at {prev:#x} has a NULL next pointer",
                nodes.len()
            );
            let after = nodes.len();
            return (nodes, Some(ListBreak { after, detail }));
        }
        if !seen.insert(cur) {
            let detail = format!(
                "{name}: entry #{} at {prev:#x} points back to {cur:#x}, which was already visited: the list loops without returning to its head {head:#x}",
                nodes.len()
            );
            let after = nodes.len();
            return (nodes, Some(ListBreak { after, detail }));
        }
        match next_of(cur) {
            Ok(n) => {
                nodes.push(cur);
                prev = cur;
                cur = n;
            }
            Err(e) => {
                let detail = format!(
                    "{name}: entry #{} at {prev:#x} points to {cur:#x}, which cannot be read: {e}",
                    nodes.len()
                );
                let after = nodes.len();
                return (nodes, Some(ListBreak { after, detail }));
            }
        }
    }
    (nodes, None)
}
