//! TLS for imapd: postern's shared server-side TLS ([`postern_tls`]).

pub use postern_tls::*;
