//! The upload reader on arbitrary bytes (zip, tar, tgz, gzipped mbox, mbox, .eml, or
//! nothing): never a panic; every message handed on is within the limit, CRLF-only,
//! in a mailbox with a sane name. The first byte picks a skip prefix.
#![no_main]

use libfuzzer_sys::fuzz_target;

include!("common_archive.rs");

fuzz_target!(|data: &[u8]| {
    let (prefix, rest) = match data.split_first() {
        Some((b, rest)) if b % 2 == 1 => (Some("Takeout/".to_string()), rest),
        Some((_, rest)) => (None, rest),
        None => (None, data),
    };
    let options = ReadOptions {
        skip_prefix: prefix,
        file_name: Some("Upload.mbox".into()),
    };
    read_bytes(rest, &options);
});
