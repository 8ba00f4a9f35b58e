//! Architecture support. Only x86-64 exists; the module boundary keeps paging
//! facts apart from kernel-object knowledge.
pub mod x86_64;
