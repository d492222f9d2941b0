//! postern's IMAP daemon (being built): the sans-I/O protocol layer and the mail store. No
//! binary yet; the session layer, TLS and the listeners come next.
#![warn(missing_docs)]
#![forbid(unsafe_code)]

pub mod protocol;
pub mod store;
