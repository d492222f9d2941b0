//! SMTP protocol pieces for submission that do not depend on a connection: replies with
//! enhanced status codes, the EHLO keyword list, and the limits every session enforces.

pub mod ehlo;
pub mod limits;
pub mod reply;

pub use reply::{EnhancedCode, Reply};
