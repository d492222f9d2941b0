//! Flags between the protocol ([`Flag`]) and the store (system [`Flags`] bits plus
//! keywords).

use crate::store::Flags;
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
