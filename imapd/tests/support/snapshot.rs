//! An account's mail as stored, read from the index and the message files on disk
//! while imapd runs (opening a MailStore would clean the running imapd's temp files).

use std::path::Path;

use postern_imapd::store::{Flags, fanout_dir_name};

/// Everything of an account as stored: per mailbox (name, subscribed) its messages
/// (flags, keywords, received, bytes), read from disk.
pub type Snapshot = Vec<(
    String,
    bool,
    Vec<(Vec<&'static str>, Vec<String>, i64, Vec<u8>)>,
)>;

pub fn snapshot(root: &Path, account: &str) -> Snapshot {
    // Read the index directly: opening a MailStore would clean the temp directory of
    // the running imapd.
    let dir = root.join("accounts").join(account);
    if !dir.join("index.db").exists() {
        return Vec::new();
    }
    let db = rusqlite::Connection::open_with_flags(
        dir.join("index.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap();
    let subscribed: Vec<String> = db
        .prepare("SELECT name FROM subscriptions")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let mailboxes: Vec<(i64, String)> = db
        .prepare("SELECT id, name FROM mailboxes ORDER BY name")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    mailboxes
        .into_iter()
        .map(|(id, name)| {
            let rows: Vec<(i64, u8, String, i64)> = db
                .prepare(
                    "SELECT id, flags, keywords, received FROM messages \
                     WHERE mailbox_id = ?1 ORDER BY uid",
                )
                .unwrap()
                .query_map([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
                .unwrap()
                .map(Result::unwrap)
                .collect();
            let messages = rows
                .into_iter()
                .map(|(id, flags, keywords, received)| {
                    let id = id as u64;
                    let path = dir
                        .join("msg")
                        .join(fanout_dir_name(id))
                        .join(id.to_string());
                    let keywords = keywords
                        .split(' ')
                        .filter(|k| !k.is_empty())
                        .map(str::to_string)
                        .collect();
                    (
                        Flags::from_bits(flags).unwrap().names(),
                        keywords,
                        received,
                        std::fs::read(path).unwrap(),
                    )
                })
                .collect();
            let sub = subscribed.contains(&name);
            (name, sub, messages)
        })
        .collect()
}
