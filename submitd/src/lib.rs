//! postern's SMTP submission daemon (being built): the SMTP session (submission on 587
//! with STARTTLS and 465 with implicit TLS, every login through authd) and the durable
//! outbound queue with its transports, routes and DKIM signing.
#![warn(missing_docs)]
#![forbid(unsafe_code)]

pub mod dkim;
pub mod mail;
pub mod queue;
pub mod session;
pub mod smtp;
pub mod transport;
