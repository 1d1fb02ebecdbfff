//! Nothing here: the comparison lives in `benches/peers.rs`.
