//! Run with: `cargo run --example quickstart` — signs a few events and verifies them (placeholder, grows later).

fn main() {}
