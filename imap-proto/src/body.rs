//! BODY / BODYSTRUCTURE data (RFC 9051 §7.5.2), as the MIME layer describes a message.
//! Encoded by [`crate::encode`].

use crate::envelope::Envelope;

/// A body parameter list: (attribute, value) pairs.
pub type Params = Vec<(String, String)>;

/// The structure of a message or of one of its parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyStructure {
    /// A non-multipart part.
    Single(Box<SinglePart>),
    /// A multipart. An empty `parts` list is written as one empty text/plain part, so
    /// that a malformed message still gets a valid structure.
    Multipart(Multipart),
}

/// A non-multipart part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SinglePart {
    /// Media type, e.g. `text` (upper- or lower-case as in the message).
    pub media_type: String,
    /// Media subtype, e.g. `plain`.
    pub subtype: String,
    /// Content-Type parameters.
    pub params: Params,
    /// Content-ID.
    pub id: Option<String>,
    /// Content-Description.
    pub description: Option<String>,
    /// Content-Transfer-Encoding (`7BIT` when absent).
    pub encoding: String,
    /// Size of the encoded body in bytes.
    pub size: u64,
    /// Type-specific fields.
    pub kind: SingleKind,
    /// Extension data (BODYSTRUCTURE only).
    pub ext: PartExtension,
}

/// Type-specific fields of a non-multipart part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SingleKind {
    /// Any type but text and message/rfc822 (and message/global).
    Basic,
    /// `text/*`: the number of lines.
    Text {
        /// Lines of the encoded body.
        lines: u64,
    },
    /// `message/rfc822` or `message/global`: the enclosed message.
    Message {
        /// Envelope of the enclosed message.
        envelope: Box<Envelope>,
        /// Structure of the enclosed message.
        body: Box<BodyStructure>,
        /// Lines of the encoded body.
        lines: u64,
    },
}

/// Extension data shared by both kinds of part.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PartExtension {
    /// Content-MD5 (single parts only).
    pub md5: Option<String>,
    /// Content-Disposition: value and parameters.
    pub disposition: Option<(String, Params)>,
    /// Content-Language tags.
    pub language: Vec<String>,
    /// Content-Location.
    pub location: Option<String>,
}

/// A multipart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Multipart {
    /// The parts.
    pub parts: Vec<BodyStructure>,
    /// Subtype, e.g. `mixed`.
    pub subtype: String,
    /// Content-Type parameters (BODYSTRUCTURE only).
    pub params: Params,
    /// Extension data (BODYSTRUCTURE only; `md5` is not used).
    pub ext: PartExtension,
}
