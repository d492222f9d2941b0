//! Modified UTF-7 (RFC 3501 §5.1.3), as Maildir++ folder names use it.

/// Decodes a modified UTF-7 name; `None` when it is not valid modified UTF-7.
pub fn decode(name: &str) -> Option<String> {
    let mut out = String::new();
    let mut rest = name;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let after = &rest[amp + 1..];
        let end = after.find('-')?;
        let encoded = &after[..end];
        if encoded.is_empty() {
            out.push('&');
        } else {
            out.push_str(&decode_base64_utf16(encoded)?);
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Some(out)
}

fn decode_base64_utf16(encoded: &str) -> Option<String> {
    let mut bits: u32 = 0;
    let mut nbits = 0;
    let mut units = Vec::new();
    for c in encoded.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b',' => 63,
            _ => return None,
        };
        bits = (bits << 6) | u32::from(v);
        nbits += 6;
        if nbits >= 16 {
            nbits -= 16;
            units.push(((bits >> nbits) & 0xffff) as u16);
        }
    }
    // Leftover bits must be zero padding.
    if nbits >= 6 || bits & ((1 << nbits) - 1) != 0 {
        return None;
    }
    let s = String::from_utf16(&units).ok()?;
    // Printable ASCII must not be encoded.
    if s.chars().any(|c| (' '..='~').contains(&c)) {
        return None;
    }
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::decode;

    #[test]
    fn decodes_rfc_examples() {
        assert_eq!(decode("Entw&APw-rfe").as_deref(), Some("Entwürfe"));
        assert_eq!(decode("&ZeVnLIqe-").as_deref(), Some("日本語"));
        assert_eq!(decode("A&-B").as_deref(), Some("A&B"));
        assert_eq!(decode("plain").as_deref(), Some("plain"));
        assert_eq!(decode("&AGE-"), None, "encoded ASCII");
        assert_eq!(decode("&ZeVnLIqe"), None, "unterminated");
        assert_eq!(decode("&!!-"), None);
    }
}
