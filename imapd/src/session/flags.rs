//! Flags between the protocol ([`Flag`]) and the store (system [`Flags`] bits plus
//! keywords).

use crate::store::Flags;
use postern_imap_proto::response::{Code, Data, Response, StatusKind, StatusResponse};
use postern_imap_proto::types::Flag;

/// A flag a client may not set.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown system flag \\{0}")]
pub(super) struct UnknownFlag(pub(super) String);

/// Splits client flags into system flags and keywords. `\Recent` is ignored (the
/// server keeps none); other unknown `\` flags are refused.
pub(super) fn split_flags(flags: &[Flag]) -> Result<(Flags, Vec<String>), UnknownFlag> {
    let mut system = Flags::EMPTY;
    let mut keywords = Vec::new();
    for flag in flags {
        match flag {
            Flag::Seen => system = system | Flags::SEEN,
            Flag::Answered => system = system | Flags::ANSWERED,
            Flag::Flagged => system = system | Flags::FLAGGED,
            Flag::Deleted => system = system | Flags::DELETED,
            Flag::Draft => system = system | Flags::DRAFT,
            Flag::Recent => {}
            Flag::Extension(name) => return Err(UnknownFlag(name.clone())),
            Flag::Keyword(k) => keywords.push(k.clone()),
        }
    }
    Ok((system, keywords))
}

/// The flags of a mailbox (FLAGS and PERMANENTFLAGS): the system flags, then the
/// keywords used in it.
pub(super) fn mailbox_flags(keywords: &[String]) -> Vec<Flag> {
    [
        Flag::Answered,
        Flag::Flagged,
        Flag::Deleted,
        Flag::Seen,
        Flag::Draft,
    ]
    .into_iter()
    .chain(keywords.iter().map(|k| Flag::Keyword(k.clone())))
    .collect()
}

/// The untagged FLAGS and `OK [PERMANENTFLAGS]` responses for a mailbox whose keywords
/// are `keywords`: sent at SELECT and again whenever a keyword comes into use while the
/// mailbox is selected (RFC 3501 §7.2.6). A read-only mailbox has no permanent flags.
pub(super) fn flags_responses(keywords: &[String], read_only: bool) -> [Response; 2] {
    let flags = mailbox_flags(keywords);
    [
        Response::Data(Data::Flags(flags.clone())),
        Response::Status(StatusResponse::untagged(
            StatusKind::Ok,
            Some(Code::PermanentFlags {
                flags: if read_only { Vec::new() } else { flags },
                new_keywords: !read_only,
            }),
            "flags",
        )),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_flags_and_keywords() {
        let (flags, keywords) = split_flags(&[
            Flag::Seen,
            Flag::Recent,
            Flag::Keyword("$Forwarded".into()),
            Flag::Draft,
        ])
        .unwrap();
        assert_eq!(flags, Flags::SEEN | Flags::DRAFT);
        assert_eq!(keywords, vec!["$Forwarded".to_owned()]);
        assert_eq!(
            split_flags(&[Flag::Extension("Bogus".into())]),
            Err(UnknownFlag("Bogus".into()))
        );
        assert_eq!(mailbox_flags(&["a".into()]).len(), 6);
    }
}
