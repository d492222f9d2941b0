//! The database schema, as rusqlite_migration migrations (SQLite's `user_version` holds
//! the schema version). Never edit a released migration; append a new one.

use rusqlite_migration::{M, Migrations};

/// Schema version 1.
const V1: &str = r#"
CREATE TABLE meta (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    server_secret BLOB NOT NULL
) STRICT;

CREATE TABLE accounts (
    name TEXT PRIMARY KEY NOT NULL,
    created INTEGER NOT NULL,
    -- NULL: logins allowed; otherwise the message shown to the user.
    disabled TEXT
) STRICT;

CREATE TABLE addresses (
    address TEXT PRIMARY KEY NOT NULL,
    account TEXT NOT NULL REFERENCES accounts (name),
    UNIQUE (address, account)
) STRICT;
CREATE INDEX addresses_account ON addresses (account);

-- What is needed to check a password, never the password or the salted password.
CREATE TABLE password_verifiers (
    account TEXT PRIMARY KEY NOT NULL REFERENCES accounts (name),
    argon2id TEXT NOT NULL,
    scram_sha1_salt BLOB NOT NULL,
    scram_sha1_iterations INTEGER NOT NULL,
    scram_sha1_stored_key BLOB NOT NULL,
    scram_sha1_server_key BLOB NOT NULL,
    scram_sha256_salt BLOB NOT NULL,
    scram_sha256_iterations INTEGER NOT NULL,
    scram_sha256_stored_key BLOB NOT NULL,
    scram_sha256_server_key BLOB NOT NULL,
    cram_md5_inner BLOB NOT NULL,
    cram_md5_outer BLOB NOT NULL
) STRICT;

-- Accounts removed from here whose mail imapd has not deleted yet: the name stays
-- reserved until then.
CREATE TABLE pending_removals (
    name TEXT PRIMARY KEY NOT NULL
) STRICT;

CREATE TABLE tls_keys (
    fingerprint BLOB PRIMARY KEY NOT NULL CHECK (length(fingerprint) = 32),
    created INTEGER NOT NULL,
    name TEXT NOT NULL,
    key_type TEXT NOT NULL,
    account TEXT NOT NULL REFERENCES accounts (name),
    login_address TEXT NOT NULL,
    no_imap_preauth INTEGER NOT NULL CHECK (no_imap_preauth IN (0, 1)),
    certificate_der BLOB NOT NULL,
    -- The login address must be an address of the key's account.
    FOREIGN KEY (login_address, account) REFERENCES addresses (address, account)
) STRICT;
CREATE INDEX tls_keys_account ON tls_keys (account, created);
CREATE INDEX tls_keys_login_address ON tls_keys (login_address, account);

-- Keyed by SHA-256 of the session token; the token itself is never stored.
CREATE TABLE web_sessions (
    token_hash BLOB PRIMARY KEY NOT NULL,
    account TEXT NOT NULL REFERENCES accounts (name),
    login_address TEXT NOT NULL,
    csrf_hash BLOB NOT NULL,
    created INTEGER NOT NULL,
    last_used INTEGER NOT NULL
) STRICT;
CREATE INDEX web_sessions_account ON web_sessions (account, last_used);
CREATE INDEX web_sessions_last_used ON web_sessions (last_used);

-- Identical attempts collapse into one row with a count. `key` is SHA-256 over the
-- descriptive fields; `account` is not a foreign key: `-` stands for unknown users.
CREATE TABLE login_attempts (
    id INTEGER PRIMARY KEY,
    key BLOB NOT NULL UNIQUE,
    account TEXT NOT NULL,
    login_name TEXT NOT NULL,
    result TEXT NOT NULL,
    failed INTEGER NOT NULL CHECK (failed IN (0, 1)),
    protocol TEXT NOT NULL,
    mechanism TEXT NOT NULL,
    remote_ip TEXT NOT NULL,
    local_ip TEXT NOT NULL,
    tls_version TEXT NOT NULL,
    tls_cipher TEXT NOT NULL,
    client_key TEXT NOT NULL,
    user_agent TEXT NOT NULL,
    first_seen INTEGER NOT NULL,
    last_seen INTEGER NOT NULL,
    count INTEGER NOT NULL CHECK (count >= 1)
) STRICT;
CREATE INDEX login_attempts_account ON login_attempts (account, last_seen);
CREATE INDEX login_attempts_failed ON login_attempts (account, failed, last_seen);
CREATE INDEX login_attempts_last_seen ON login_attempts (last_seen);

-- The number of rows with failed = 1 per account, to cap them cheaply.
CREATE TABLE login_attempt_failed_counts (
    account TEXT PRIMARY KEY NOT NULL,
    failed INTEGER NOT NULL CHECK (failed >= 0)
) STRICT;
"#;

/// Schema version 2: what the web pages need. Web sessions remember the browser and
/// address they were created from; the admin password's verifier, admin web sessions
/// and mail-access tickets, each stored like web sessions (hashes only).
const V2: &str = r#"
ALTER TABLE web_sessions ADD COLUMN user_agent TEXT NOT NULL DEFAULT '';
ALTER TABLE web_sessions ADD COLUMN remote_ip TEXT NOT NULL DEFAULT '';

-- The argon2id verifier of the admin password (never the password).
CREATE TABLE admin_password (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    argon2id TEXT NOT NULL
) STRICT;

-- Keyed by SHA-256 of the session token; the token itself is never stored.
CREATE TABLE admin_sessions (
    token_hash BLOB PRIMARY KEY NOT NULL CHECK (length(token_hash) = 32),
    csrf_hash BLOB NOT NULL,
    created INTEGER NOT NULL,
    last_used INTEGER NOT NULL,
    user_agent TEXT NOT NULL,
    remote_ip TEXT NOT NULL
) STRICT;
CREATE INDEX admin_sessions_last_used ON admin_sessions (last_used);

-- Keyed by SHA-256 of the ticket; single use, short-lived.
CREATE TABLE mail_tickets (
    ticket_hash BLOB PRIMARY KEY NOT NULL CHECK (length(ticket_hash) = 32),
    account TEXT NOT NULL REFERENCES accounts (name),
    purpose TEXT NOT NULL CHECK (purpose IN ('import', 'export')),
    issuer_uid INTEGER NOT NULL,
    expires INTEGER NOT NULL
) STRICT;
CREATE INDEX mail_tickets_expires ON mail_tickets (expires);
CREATE INDEX mail_tickets_account ON mail_tickets (account);
"#;

/// Schema version 3: each address with its case-folded form (see
/// [`crate::names::folded_address`]), under which addresses compare when localparts are
/// case-insensitive. Unicode lowercasing is not SQLite's, so the store fills the column
/// in when it opens (rows of older versions have NULL until then).
const V3: &str = r#"
ALTER TABLE addresses ADD COLUMN folded TEXT;
CREATE INDEX addresses_folded ON addresses (folded);
"#;

const MIGRATIONS: &[M<'static>] = &[M::up(V1), M::up(V2), M::up(V3)];

/// The migrations from an empty database to the current schema.
pub(super) fn migrations() -> Migrations<'static> {
    Migrations::from_slice(MIGRATIONS)
}

#[cfg(test)]
mod tests {
    #[test]
    fn migrations_are_valid() {
        super::migrations().validate().unwrap();
    }
}
