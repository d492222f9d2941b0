//! Reading a message's bytes from the store for FETCH and SEARCH: the whole file, or only
//! its header when that is all the items or keys look at.

use std::io::Read as _;

use crate::store::{Account, MessageInfo};

/// The largest message read into memory at once (APPEND's limit is far below).
const MAX_CONTENT: u64 = 1 << 30;

/// The message's bytes, or its header's alone with `header_only`; `None` when its file
/// is gone (expunged meanwhile) or unreadable.
pub(super) fn read_content(
    account: &Account,
    info: &MessageInfo,
    header_only: bool,
) -> Option<Vec<u8>> {
    let file = match account.open_message(info.id) {
        Ok(f) => f,
        Err(e) => {
            tracing::debug!(account = account.name(), uid = info.uid, error = %e, "message file not readable");
            return None;
        }
    };
    let limit = if header_only {
        info.header_size
    } else {
        info.size
    }
    .min(MAX_CONTENT);
    let mut buf = Vec::with_capacity(usize::try_from(limit).unwrap_or(0));
    match file.take(limit).read_to_end(&mut buf) {
        Ok(_) => Some(buf),
        Err(e) => {
            tracing::warn!(account = account.name(), uid = info.uid, error = %e, "reading message file failed");
            None
        }
    }
}
