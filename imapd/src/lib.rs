//! postern's IMAP daemon (being built): the sans-I/O protocol layer, the mail store, MIME
//! structure, and the binary's not-authenticated state (TLS, logins through authd).
#![warn(missing_docs)]
#![forbid(unsafe_code)]

pub mod mime;
pub mod protocol;
pub mod session;
pub mod store;
pub mod tls;
