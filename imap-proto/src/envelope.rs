//! ENVELOPE data (RFC 9051 §7.5.2): a message's main header fields with parsed
//! address lists, as the MIME layer reads them.

/// An address of an envelope.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Address {
    /// Display name.
    pub name: Option<String>,
    /// Source route (obsolete, normally `None`).
    pub adl: Option<String>,
    /// Local part.
    pub mailbox: Option<String>,
    /// Domain.
    pub host: Option<String>,
}

/// ENVELOPE data.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Envelope {
    /// Date header.
    pub date: Option<String>,
    /// Subject header.
    pub subject: Option<String>,
    /// From.
    pub from: Vec<Address>,
    /// Sender.
    pub sender: Vec<Address>,
    /// Reply-To.
    pub reply_to: Vec<Address>,
    /// To.
    pub to: Vec<Address>,
    /// Cc.
    pub cc: Vec<Address>,
    /// Bcc.
    pub bcc: Vec<Address>,
    /// In-Reply-To.
    pub in_reply_to: Option<String>,
    /// Message-ID.
    pub message_id: Option<String>,
}
