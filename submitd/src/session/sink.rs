//! Where a session hands an accepted message: the durable queue, behind a small trait so
//! that the session does not depend on how the queue stores and delivers.

use std::future::Future;
use std::pin::Pin;

/// The envelope of a message a client submitted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submission {
    /// The authenticated account that sent it.
    pub account: String,
    /// MAIL FROM; empty for the null reverse path `<>`.
    pub mail_from: String,
    /// RCPT TO addresses, without duplicates, in the client's order.
    pub recipients: Vec<String>,
    /// Whether the client asked for SMTPUTF8.
    pub smtputf8: bool,
    /// When the message was accepted, unix seconds.
    pub received: i64,
}

/// Why the sink did not take a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Try again later (`451 4.3.0`).
    Temporary(String),
    /// Will never succeed (`554 5.3.0`).
    Permanent(String),
}

/// The future [`Accept::accept`] returns: the queue id once the message is durable.
pub type AcceptFuture<'a> = Pin<Box<dyn Future<Output = Result<String, Refusal>> + Send + 'a>>;

/// Takes a finished message. `message` holds the complete message (submitd's added
/// headers included), positioned at its start. The future ends only once the message is
/// on disk (DESIGN.md invariant 7), because the client gets `250` then.
pub trait Accept: Send + Sync {
    /// Stores the message for delivery; returns its queue id.
    fn accept(&self, submission: Submission, message: std::fs::File) -> AcceptFuture<'_>;
}

impl Accept for crate::queue::Queue {
    fn accept(&self, submission: Submission, message: std::fs::File) -> AcceptFuture<'_> {
        let envelope = crate::queue::Envelope {
            account: submission.account,
            mail_from: submission.mail_from,
            recipients: submission.recipients,
            smtputf8: submission.smtputf8,
            received: submission.received,
        };
        Box::pin(async move {
            match self.submit(envelope, message).await {
                Ok(id) => Ok(id.to_string()),
                Err(crate::queue::SubmitError::Temporary(reason)) => {
                    Err(Refusal::Temporary(reason))
                }
                Err(crate::queue::SubmitError::Permanent(reason)) => {
                    Err(Refusal::Permanent(reason))
                }
            }
        })
    }
}
