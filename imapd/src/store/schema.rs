//! The account index's schema and its migrations.

use rusqlite_migration::{M, Migrations};

const V1: &str = r#"
-- One row: the account's sequences.
CREATE TABLE meta (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    -- The ID the next message file gets; only ever grows.
    next_message_id INTEGER NOT NULL CHECK (next_message_id >= 1),
    -- The UIDVALIDITY the next created mailbox gets.
    next_uidvalidity INTEGER NOT NULL CHECK (next_uidvalidity >= 1),
    -- The last modseq handed out (per account, shared by all changes); the first is 2.
    highest_modseq INTEGER NOT NULL CHECK (highest_modseq >= 1),
    -- Total bytes of all message files.
    disk_usage INTEGER NOT NULL CHECK (disk_usage >= 0)
) STRICT;

CREATE TABLE mailboxes (
    -- AUTOINCREMENT: a deleted mailbox's ID is never given to a new one.
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    -- Slash-separated hierarchy; "Inbox" has this exact case.
    name TEXT NOT NULL UNIQUE,
    uidvalidity INTEGER NOT NULL CHECK (uidvalidity BETWEEN 1 AND 4294967295),
    uidnext INTEGER NOT NULL CHECK (uidnext BETWEEN 1 AND 4294967295),
    -- NULL or one of Archive, Drafts, Junk, Sent, Trash.
    special_use TEXT,
    create_modseq INTEGER NOT NULL,
    modseq INTEGER NOT NULL
) STRICT;

-- Live messages. The ID names the file; it is never reused.
CREATE TABLE messages (
    id INTEGER PRIMARY KEY,
    mailbox_id INTEGER NOT NULL REFERENCES mailboxes(id),
    uid INTEGER NOT NULL CHECK (uid BETWEEN 1 AND 4294967295),
    modseq INTEGER NOT NULL,
    create_modseq INTEGER NOT NULL,
    -- System flags as bits (see Flags).
    flags INTEGER NOT NULL,
    -- Other keywords, lowercased, sorted, space-separated.
    keywords TEXT NOT NULL,
    size INTEGER NOT NULL CHECK (size >= 0),
    -- Offset of the body: length of the header including the empty line.
    header_size INTEGER NOT NULL CHECK (header_size >= 0),
    -- Unix seconds: INTERNALDATE and SAVEDATE.
    received INTEGER NOT NULL,
    save_date INTEGER NOT NULL,
    UNIQUE (mailbox_id, uid)
) STRICT;
CREATE INDEX messages_by_modseq ON messages (mailbox_id, modseq);

-- Tombstones of expunged (or moved away) messages, for CONDSTORE/QRESYNC. Kept while
-- the mailbox exists.
CREATE TABLE expunged (
    mailbox_id INTEGER NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
    uid INTEGER NOT NULL,
    modseq INTEGER NOT NULL,
    PRIMARY KEY (mailbox_id, uid)
) STRICT, WITHOUT ROWID;
CREATE INDEX expunged_by_modseq ON expunged (mailbox_id, modseq);

-- Message files to delete: written in the transaction that drops the rows, the files
-- are deleted after commit, and whatever a crash left is deleted at the next open.
CREATE TABLE pending_erase (
    message_id INTEGER PRIMARY KEY
) STRICT;

-- The keywords ever set in a mailbox (for the FLAGS response).
CREATE TABLE mailbox_keywords (
    mailbox_id INTEGER NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
    keyword TEXT NOT NULL,
    PRIMARY KEY (mailbox_id, keyword)
) STRICT, WITHOUT ROWID;

-- Subscribed names; a subscription outlives its mailbox (RFC 9051 SUBSCRIBE).
CREATE TABLE subscriptions (
    name TEXT PRIMARY KEY
) STRICT;
"#;

/// Version 2: deferred erases. A pending erase carries the modseq of its expunge (its
/// file is erased only when no session's view is behind that modseq, see
/// `store::pins`) and the message's index entry, so that a session still showing the
/// message can fetch it; a tombstone names the message its UID stood for (expunged or
/// moved away).
const V2: &str = r#"
-- The modseq of the expunge (or mailbox deletion); 0 for rows from version 1.
ALTER TABLE pending_erase ADD COLUMN modseq INTEGER NOT NULL DEFAULT 0;
-- The message's index entry as it was; NULL for rows from version 1.
ALTER TABLE pending_erase ADD COLUMN message_modseq INTEGER;
ALTER TABLE pending_erase ADD COLUMN flags INTEGER;
ALTER TABLE pending_erase ADD COLUMN keywords TEXT;
ALTER TABLE pending_erase ADD COLUMN size INTEGER;
ALTER TABLE pending_erase ADD COLUMN header_size INTEGER;
ALTER TABLE pending_erase ADD COLUMN received INTEGER;
ALTER TABLE pending_erase ADD COLUMN save_date INTEGER;
CREATE INDEX pending_erase_by_modseq ON pending_erase (modseq);
-- The message (ID) the UID stood for; NULL for tombstones from version 1.
ALTER TABLE expunged ADD COLUMN message_id INTEGER;
"#;

/// Version 3: message summaries (`store::summary`): what SORT, THREAD and FETCH PREVIEW
/// need of a message file, read from it once when it is stored. Rows for the messages
/// of older versions are filled in by the account's first open (resumably, in batches),
/// not by this migration, which only creates the table.
const V3: &str = r#"
CREATE TABLE message_summaries (
    -- The message file's ID (a live message's or a pending erase's).
    message_id INTEGER PRIMARY KEY,
    -- RFC 5256 base subject, as extracted (not case-mapped).
    base_subject TEXT NOT NULL,
    -- Extracting it removed a reply or forward marker (0 or 1).
    subject_is_reply INTEGER NOT NULL CHECK (subject_is_reply IN (0, 1)),
    -- Unix seconds (UTC) of the Date header; NULL when it has none that can be read.
    sent_date INTEGER,
    -- addr-mailbox of the first From, To and Cc address; '' without one.
    from_mailbox TEXT NOT NULL,
    to_mailbox TEXT NOT NULL,
    cc_mailbox TEXT NOT NULL,
    -- RFC 5957 display value of the first From and To address.
    display_from TEXT NOT NULL,
    display_to TEXT NOT NULL,
    -- Normalised msg-ids: Message-ID, References (LF-separated), first In-Reply-To.
    msgid TEXT,
    refs TEXT NOT NULL,
    in_reply_to TEXT,
    -- RFC 8970 preview.
    preview TEXT NOT NULL
) STRICT;
"#;

const MIGRATIONS: &[M<'static>] = &[M::up(V1), M::up(V2), M::up(V3)];

/// The migrations from an empty database to the current schema.
pub(super) fn migrations() -> Migrations<'static> {
    Migrations::from_slice(MIGRATIONS)
}
