//! The workspace's root package: it owns `examples/` and `tests/` and compiles the README's code as doctests,
//! so the quickstart cannot drift from the API. Its one module, [`faults`], is the fault-injecting proxy the
//! end-to-end proofs put in front of a receiver.
#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

pub mod faults;
