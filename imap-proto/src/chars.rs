//! Character classes of the IMAP grammar (RFC 9051 §9), shared by the reader and the
//! parser.

/// Whether `b` may appear in a tag (ASTRING-CHAR except `+`).
pub(crate) fn is_tag_char(b: u8) -> bool {
    is_astring_char(b) && b != b'+'
}

/// ATOM-CHAR: printable ASCII except `atom-specials`.
pub(crate) fn is_atom_char(b: u8) -> bool {
    (0x21..0x7f).contains(&b)
        && !matches!(b, b'(' | b')' | b'{' | b'%' | b'*' | b'"' | b'\\' | b']')
}

/// ASTRING-CHAR: ATOM-CHAR or `]`.
pub(crate) fn is_astring_char(b: u8) -> bool {
    is_atom_char(b) || b == b']'
}

/// list-char: ATOM-CHAR, the wildcards `%` and `*`, or `]`.
pub(crate) fn is_list_char(b: u8) -> bool {
    is_atom_char(b) || matches!(b, b'%' | b'*' | b']')
}
