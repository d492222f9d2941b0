//! The mbox splitter on arbitrary text after a first `From ` line: never a panic;
//! messages are CRLF-only and within the limit (status headers, quoting, dates and
//! long lines included).
#![no_main]

use libfuzzer_sys::fuzz_target;

include!("common_archive.rs");

fuzz_target!(|data: &[u8]| {
    let mut mbox = b"From fuzz Mon Jan  1 09:00:00 2024\n".to_vec();
    mbox.extend_from_slice(data);
    read_bytes(&mbox, &ReadOptions::default());
});
