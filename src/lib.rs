//! The workspace's root package: it owns `examples/` and `tests/` and compiles the README's code as doctests,
//! so the quickstart cannot drift from the API.
#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
