//! SMTP protocol pieces for submission that do not depend on a connection: replies with
//! enhanced status codes, the EHLO keyword list, the limits every session enforces, and
//! the readers of what a client sends.

pub mod ehlo;
pub mod input;
pub mod limits;
pub mod reply;

pub use reply::{EnhancedCode, Reply};
