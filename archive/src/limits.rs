//! Every bound the readers enforce, in one place. Each is crossed by a test.

/// Largest upload (archive, mbox or .eml file) accepted, in bytes.
pub const MAX_UPLOAD_BYTES: u64 = 16 * 1024 * 1024 * 1024;
/// Most entries (files and directories) an archive may have.
pub const MAX_ARCHIVE_ENTRIES: u64 = 100_000;
/// Largest message accepted: the store's limit, the same as IMAP APPEND's. A maildir
/// entry declaring more is refused before it is read.
pub const MAX_MESSAGE_BYTES: u64 = postern_config::MAX_STORED_MESSAGE;
/// Most uncompressed bytes read from one upload, all entries together (what an entry
/// declares counts as well as what it really inflates to).
pub const MAX_TOTAL_UNCOMPRESSED: u64 = 16 * 1024 * 1024 * 1024;
/// Largest `dovecot-keywords` file read.
pub const MAX_KEYWORDS_FILE_BYTES: u64 = 64 * 1024;
/// Most problems one import may have before it is given up.
pub const MAX_PROBLEMS: usize = 1_000;
/// Longest piece of a line the mbox and line readers look at at once; longer lines are
/// passed through in pieces.
pub const MAX_LINE_PIECE: usize = 64 * 1024;
/// Longest mailbox name produced, in bytes (the store's limit).
pub const MAX_MAILBOX_NAME_BYTES: usize = 1000;
/// Largest GNU long-name/long-link or pax extension header of a tar (the tar library
/// reads these whole into memory).
pub const MAX_TAR_EXTENSION_BYTES: u64 = 64 * 1024;
