//! The collation SORT and THREAD compare strings with: `i;ascii-casemap` (RFC 4790
//! §9.2), the comparator of servers that do not advertise I18NLEVEL (RFC 5255 §4.5):
//! `a`-`z` count as `A`-`Z`, everything else compares octet by octet.

use std::cmp::Ordering;

/// Orders `a` and `b` under `i;ascii-casemap`.
pub fn ascii_casemap_cmp(a: &str, b: &str) -> Ordering {
    a.bytes()
        .map(|c| c.to_ascii_uppercase())
        .cmp(b.bytes().map(|c| c.to_ascii_uppercase()))
}

/// `s` mapped by `i;ascii-casemap`: two strings are equal under the collation exactly
/// when their keys are equal (for hashing, e.g. THREAD's subject table).
pub fn ascii_casemap_key(s: &str) -> String {
    s.to_ascii_uppercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ascii_letters_fold_and_nothing_else() {
        assert_eq!(ascii_casemap_cmp("hello", "HELLO"), Ordering::Equal);
        assert_eq!(ascii_casemap_cmp("a", "B"), Ordering::Less);
        // `_` (0x5F) sorts after `Z` (0x5A) but before `a` would if it were not folded.
        assert_eq!(ascii_casemap_cmp("_", "a"), Ordering::Greater);
        assert_eq!(ascii_casemap_cmp("", "a"), Ordering::Less);
        // Non-ASCII letters are not folded.
        assert_ne!(ascii_casemap_cmp("é", "É"), Ordering::Equal);
        assert_eq!(ascii_casemap_key("Re: Hä"), "RE: Hä");
    }
}
