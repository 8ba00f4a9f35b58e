//! Tests of the kernel layer (src/kernel): the printk log readers over mock memory and real dumps.
//!
//! One test binary per layer (`cargo test --test kernel`); each module tests
//! what its name says, as drgn's tests/ mirror its sources.

#[path = "../printk_support/mod.rs"]
mod printk_support;

mod printk_legacy;
mod printk_prb;
mod printk_real_dumps;
