//! Bounded walks of the kernel's circular `struct list_head` lists
//! (include/linux/list.h). A dump of a dying machine may hold a list that
//! loops without returning to its head, or points into nowhere: the walk
//! stops, keeps what it read, and says where it broke.

use crate::ErrorChain;
use std::collections::HashSet;

use super::Kernel;
use crate::arch::x86_64::PhysAddr;

/// Upper bound on any list walk; far above real kernels (PID_MAX_LIMIT is
/// 4 Mi) and small enough to finish quickly on garbage.
pub(crate) const MAX_LIST_ENTRIES: usize = 1 << 22;

/// Where and why a list walk stopped early.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ListBreak {
    /// Number of entries read before the break.
    pub after: usize,
    pub detail: String,
    /// The break was a read of the page at this physical address, which
    /// the dump does not hold.
    pub missing_paddr: Option<PhysAddr>,
}

/// The nodes (addresses of the embedded list_heads, head excluded) of the
/// list whose head is at `head`, in order, stopping after `max` entries (a
/// share of a budget several walks split, e.g. all the thread lists of one
/// task walk).
///
/// `ahead` is called with each node before its `next` pointer is read, to
/// hint the pages of the object around it ([`Kernel::will_need`]).
pub(crate) fn walk_list_bounded(
    k: &Kernel<'_>,
    head: u64,
    name: &str,
    max: usize,
    ahead: impl Fn(u64),
) -> (Vec<u64>, Option<ListBreak>) {
    let mut nodes = Vec::new();
    let (_, brk) = walk_list_ahead(k, head, name, max, ahead, |n| nodes.push(n));
    (nodes, brk)
}

/// Calls `visit` on each node as it is reached, so that the caller reads the
/// object around it while its page is still in the dump's page cache (a
/// compressed dump would otherwise decompress it twice). Returns how many
/// nodes were visited and, if the walk stopped early, why.
pub(crate) fn walk_list_each(
    k: &Kernel<'_>,
    head: u64,
    name: &str,
    max: usize,
    visit: impl FnMut(u64),
) -> (usize, Option<ListBreak>) {
    walk_list_ahead(k, head, name, max, |_| {}, visit)
}

/// [`walk_list_each`], calling `ahead` with each node before its `next`
/// pointer is read: the place to hint the pages of the object around the
/// node, which `visit` then reads.
pub(crate) fn walk_list_ahead(
    k: &Kernel<'_>,
    head: u64,
    name: &str,
    max: usize,
    ahead: impl Fn(u64),
    mut visit: impl FnMut(u64),
) -> (usize, Option<ListBreak>) {
    let mut count = 0usize;
    let mut seen = HashSet::new();
    let mut prev = head;
    let next_of = |node: u64| k.read_u64(node.wrapping_add(k.offsets.list_next));
    let stop_why = |after: usize, detail: String, missing_paddr: Option<PhysAddr>| {
        (
            after,
            Some(ListBreak {
                after,
                detail,
                missing_paddr,
            }),
        )
    };
    let stop = |after: usize, detail: String| stop_why(after, detail, None);
    let mut cur = match next_of(head) {
        Ok(n) => n,
        Err(e) => {
            let missing = e.missing_paddr();
            return stop_why(
                0,
                format!("{name} head at {head:#x}: {}", ErrorChain(&e)),
                missing,
            );
        }
    };
    while cur != head {
        if count >= max {
            return stop(count, format!("{name}: more than {max} entries; stopped"));
        }
        if cur == 0 {
            return stop(
                count,
                format!("{name}: entry #{count} at {prev:#x} has a NULL next pointer"),
            );
        }
        if !seen.insert(cur) {
            return stop(
                count,
                format!(
                    "{name}: entry #{count} at {prev:#x} points back to {cur:#x}, which was already visited: the list loops without returning to its head {head:#x}"
                ),
            );
        }
        ahead(cur);
        match next_of(cur) {
            Ok(n) => {
                visit(cur);
                count += 1;
                prev = cur;
                cur = n;
            }
            Err(e) => {
                let missing = e.missing_paddr();
                return stop_why(
                    count,
                    format!(
                        "{name}: entry #{count} at {prev:#x} points to {cur:#x}, which cannot be read: {}",
                        ErrorChain(&e)
                    ),
                    missing,
                );
            }
        }
    }
    (count, None)
}
