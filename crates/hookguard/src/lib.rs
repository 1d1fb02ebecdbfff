#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod clock;
mod error;
#[doc(hidden)]
pub mod header;
mod key;
mod mac;
#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub mod postgres_migrations;
mod scheme;
pub mod schemes;
mod sign;
mod verify;

pub use clock::{Clock, FixedClock, SystemClock, TestClock, Timestamp};
pub use error::{KeyError, SchemeError, SignError, VerifyError};
pub use key::{MIN_SECRET_LEN, Secret};
pub use scheme::{Encoding, Scheme};
pub use sign::Signer;
pub use verify::{DEFAULT_TOLERANCE, Verified, Verifier};
