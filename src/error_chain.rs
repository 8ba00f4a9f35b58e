//! An error and its causes as one line: `outer: cause: cause`, the way
//! anyhow's `{:#}` prints them.
//!
//! The crate's errors follow the rule of std's `Error` docs: an error with a
//! source returns it from [`Error::source`] and leaves it out of its own
//! message, so that a chain is printed once. Wherever the crate itself turns
//! an error into text (a problem's detail, a warning, a table's reason), it
//! uses [`ErrorChain`], so that text still carries every cause.
//!
//! This module names no other module of the crate: it sits below `dump`.

use std::error::Error;
use std::fmt;

/// Displays an error followed by each of its sources, separated by `": "`.
#[derive(Clone, Copy)]
pub struct ErrorChain<'a>(pub &'a (dyn Error + 'static));

impl fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        // A chain is a sequence of owned values, so it ends.
        let mut cause = self.0.source();
        while let Some(e) = cause {
            write!(f, ": {e}")?;
            cause = e.source();
        }
        Ok(())
    }
}

impl fmt::Debug for ErrorChain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("reading {what}")]
    struct Outer {
        what: &'static str,
        #[source]
        source: Middle,
    }

    #[derive(Debug, thiserror::Error)]
    #[error("virtual address 0x1000")]
    struct Middle(#[source] std::io::Error);

    #[test]
    fn prints_every_cause_once_in_order() {
        let e = Outer {
            what: "the task list",
            source: Middle(std::io::Error::other("gone")),
        };
        assert_eq!(
            ErrorChain(&e).to_string(),
            "reading the task list: virtual address 0x1000: gone"
        );
        let leaf = std::io::Error::other("alone");
        assert_eq!(ErrorChain(&leaf).to_string(), "alone");
    }
}
