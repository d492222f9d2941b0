//! The parts of a submitted message's header section that submitd checks: its fields,
//! split as every reader splits them, the strict grammar of their addresses, and which
//! of them name the sender.

pub mod address;
pub mod header;

use address::{AddressError, parse_address_list, parse_mailbox, parse_mailbox_list};
use header::HeaderError;

/// Why a message's sender fields are refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SenderFieldsError {
    /// The header section does not split into fields.
    #[error(transparent)]
    Header(#[from] HeaderError),
    /// No From field, or more than one.
    #[error("message must have one From header with an address of the authenticated account")]
    FromCount,
    /// A field that may appear once appears more often.
    #[error("message has more than one {0} header")]
    Repeated(&'static str),
    /// A field's value is not what its grammar allows.
    #[error("{field} header is not a valid address list: {error}")]
    Malformed {
        /// The field's name.
        field: &'static str,
        /// What is wrong.
        error: AddressError,
    },
}

/// An address a sender field names, which must belong to the sending account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SenderAddress {
    /// The field (From, Sender, Resent-From, Resent-Sender).
    pub field: &'static str,
    /// `local@domain`.
    pub address: String,
}

/// The grammar of a checked field's value.
#[derive(Clone, Copy)]
enum Grammar {
    MailboxList,
    Mailbox,
    AddressList,
}

/// A checked address field: its name, its grammar, whether it may appear more than
/// once, and whether its addresses must be the sender's.
struct AddressField {
    name: &'static str,
    grammar: Grammar,
    repeatable: bool,
    names_sender: bool,
}

/// The address fields checked, and how (RFC 5322 §3.6.2, §3.6.6).
const ADDRESS_FIELDS: [AddressField; 5] = [
    AddressField {
        name: "From",
        grammar: Grammar::MailboxList,
        repeatable: false,
        names_sender: true,
    },
    AddressField {
        name: "Sender",
        grammar: Grammar::Mailbox,
        repeatable: false,
        names_sender: true,
    },
    AddressField {
        name: "Reply-To",
        grammar: Grammar::AddressList,
        repeatable: false,
        names_sender: false,
    },
    AddressField {
        name: "Resent-From",
        grammar: Grammar::MailboxList,
        repeatable: true,
        names_sender: true,
    },
    AddressField {
        name: "Resent-Sender",
        grammar: Grammar::Mailbox,
        repeatable: true,
        names_sender: true,
    },
];

/// The addresses of From, Sender, Resent-From and Resent-Sender in a header section,
/// all of which must belong to the sending account. Refuses a section that does not
/// split into fields, has not exactly one From, repeats Sender or Reply-To, or has one
/// of these fields with a value outside its strict grammar.
pub fn sender_addresses(section: &[u8]) -> Result<Vec<SenderAddress>, SenderFieldsError> {
    let fields = header::fields(section)?;
    let mut senders = Vec::new();
    for checked in &ADDRESS_FIELDS {
        let values: Vec<&[u8]> = fields
            .iter()
            .filter(|f| f.is(checked.name))
            .map(|f| f.value)
            .collect();
        if checked.name == "From" && values.len() != 1 {
            return Err(SenderFieldsError::FromCount);
        }
        if !checked.repeatable && values.len() > 1 {
            return Err(SenderFieldsError::Repeated(checked.name));
        }
        for value in values {
            let addresses = match checked.grammar {
                Grammar::MailboxList => parse_mailbox_list(value),
                Grammar::Mailbox => parse_mailbox(value).map(|a| vec![a]),
                Grammar::AddressList => parse_address_list(value),
            }
            .map_err(|error| SenderFieldsError::Malformed {
                field: checked.name,
                error,
            })?;
            if checked.names_sender {
                senders.extend(addresses.into_iter().map(|address| SenderAddress {
                    field: checked.name,
                    address,
                }));
            }
        }
    }
    Ok(senders)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn senders(section: &str) -> Result<Vec<(&'static str, String)>, SenderFieldsError> {
        sender_addresses(section.as_bytes())
            .map(|list| list.into_iter().map(|s| (s.field, s.address)).collect())
    }

    #[test]
    fn every_sender_field_is_collected() {
        assert_eq!(
            senders(
                "From: A <a@example.org>, b@example.org\r\nSender: c@example.org\r\n\
                 Reply-To: list: x@example.net;\r\nResent-From: d@example.org\r\n\
                 Resent-Sender: e@example.org\r\nResent-From: f@example.org\r\n\r\n"
            ),
            Ok(vec![
                ("From", "a@example.org".into()),
                ("From", "b@example.org".into()),
                ("Sender", "c@example.org".into()),
                ("Resent-From", "d@example.org".into()),
                ("Resent-From", "f@example.org".into()),
                ("Resent-Sender", "e@example.org".into()),
            ])
        );
    }

    #[test]
    fn malformed_and_repeated_fields_are_refused() {
        assert_eq!(
            senders("Subject: x\r\n\r\n"),
            Err(SenderFieldsError::FromCount)
        );
        assert_eq!(
            senders("From: a@x\r\nfrom: b@x\r\n\r\n"),
            Err(SenderFieldsError::FromCount)
        );
        assert_eq!(
            senders("From: a@x\r\nSender: a@x\r\nSender: b@x\r\n\r\n"),
            Err(SenderFieldsError::Repeated("Sender"))
        );
        assert!(matches!(
            senders("From: victim@x <me@x>\r\n\r\n"),
            Err(SenderFieldsError::Malformed { field: "From", .. })
        ));
        assert!(matches!(
            senders("From: me@x\r\nReply-To: a@x <b@x>\r\n\r\n"),
            Err(SenderFieldsError::Malformed {
                field: "Reply-To",
                ..
            })
        ));
        assert!(matches!(
            senders("From: me@x\r\nSender: a@x, b@x\r\n\r\n"),
            Err(SenderFieldsError::Malformed {
                field: "Sender",
                ..
            })
        ));
        assert_eq!(
            senders("From: me@x\nFrom: victim@x\r\n\r\n"),
            Err(SenderFieldsError::Header(HeaderError::BareLineEnding {
                at: 10
            }))
        );
    }
}
