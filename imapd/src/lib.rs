//! postern's IMAP daemon: the sessions (TLS, logins through authd, every command after
//! login), the mail store, the local store socket for delivery, account data removal and
//! connection limits. The wire layer (reader, parser, encoder, MIME structure) is the
//! store-free crate `postern-imap-proto`.
#![warn(missing_docs)]
#![forbid(unsafe_code)]

pub mod account_removal;
pub mod connection_refusal;
pub mod delivery;
pub mod mail_transfer;
pub mod session;
pub mod store;
pub mod tls;
