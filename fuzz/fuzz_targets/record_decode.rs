//! `Record::decode` on arbitrary bytes: never panics, and whatever decodes re-encodes to a value that
//! decodes to the same record (so a store that reads a record back can always write it again).
#![no_main]

use bytes::Bytes;
use hookguard_tower::store::{Record, StoreError};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let bytes = Bytes::copy_from_slice(data);
    match Record::decode(bytes.clone()) {
        Ok(record) => {
            let again = record.encode().expect("a decoded record is within the limits");
            assert_eq!(Record::decode(again.clone()).expect("re-encoded record decodes"), record);
            if let Record::InProgress { .. } = record {
                // The in-progress layout is fixed: the only encoding is the input itself.
                assert_eq!(again, bytes);
            }
        }
        Err(StoreError::Corrupt(_)) => {}
        Err(other) => panic!("decode failed with {other:?}, not Corrupt"),
    }
});
