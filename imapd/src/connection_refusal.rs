//! What a plain-IMAP client hears when a connection limit
//! ([`postern_daemon::connection_limits`]) refuses it: mox's `* BYE` lines.

use postern_daemon::connection_limits::Refusal;

/// `* BYE` for a network over its connection rate (mox's text).
pub const BYE_RATE: &str =
    "* BYE connection rate from your ip or network too high, slow down please\r\n";
/// `* BYE` for a network with too many open connections (mox's text).
pub const BYE_OPEN_PER_NETWORK: &str =
    "* BYE too many open connections from your ip or network\r\n";
/// `* BYE` when the server as a whole holds too many connections.
pub const BYE_OPEN_TOTAL: &str =
    "* BYE [UNAVAILABLE] too many open connections, try again later\r\n";

/// The untagged `BYE` line (with CRLF) for `refusal`.
pub fn bye_line(refusal: Refusal) -> &'static str {
    match refusal {
        Refusal::OpenTotal => BYE_OPEN_TOTAL,
        Refusal::Rate => BYE_RATE,
        Refusal::OpenPerNetwork => BYE_OPEN_PER_NETWORK,
    }
}
