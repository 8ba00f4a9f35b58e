//! placeholder

pub mod oops;
