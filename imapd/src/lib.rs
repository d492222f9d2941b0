//! postern's IMAP daemon: the sans-I/O protocol layer, the mail store, MIME structure,
//! the sessions (TLS, logins through authd, every command after login), the local store
//! socket for delivery, account data removal and connection limits.
#![warn(missing_docs)]
#![forbid(unsafe_code)]

pub mod account_removal;
pub mod connection_refusal;
pub mod delivery;
pub mod mime;
pub mod protocol;
pub mod session;
pub mod store;
pub mod tls;
