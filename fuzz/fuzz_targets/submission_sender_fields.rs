//! submitd's checks of a submitted message's header: the header fields split (RFC 5322
//! §2.2, strict), the sender fields collected and parsed (From, Sender, Reply-To,
//! Resent-From, Resent-Sender), and the address grammar alone on the raw bytes. Nothing
//! panics, and every address that parses has a local part and a domain.
#![no_main]

use libfuzzer_sys::fuzz_target;
use postern_submitd::mail::address::{parse_address_list, parse_mailbox, parse_mailbox_list};
use postern_submitd::mail::header::fields;
use postern_submitd::mail::sender_addresses;

fuzz_target!(|data: &[u8]| {
    if let Ok(senders) = sender_addresses(data) {
        for sender in senders {
            assert_addr_spec(&sender.address);
        }
    }
    let _ = fields(data);
    for parsed in [
        parse_address_list(data),
        parse_mailbox_list(data),
        parse_mailbox(data).map(|a| vec![a]),
    ]
    .into_iter()
    .flatten()
    {
        for address in parsed {
            assert_addr_spec(&address);
        }
    }
});

/// `local@domain` with neither part empty.
fn assert_addr_spec(address: &str) {
    let (local, domain) = address.rsplit_once('@').unwrap_or(("", ""));
    assert!(
        !local.is_empty() && !domain.is_empty(),
        "not local@domain: {address:?}"
    );
}
