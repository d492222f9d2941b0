//! authd: the only process that holds credentials. It runs every SASL exchange, looks up
//! TLS client keys, keeps the login history and the brute-force limiter, and answers the
//! protocol daemons with verdicts, never with secrets.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod names;
pub mod password;
pub mod ratelimit;
pub mod sasl;
pub mod server;
pub mod store;
pub mod tls_key;
