//! Modified UTF-7 (RFC 3501 §5.1.3): how IMAP4rev1 clients write mailbox names.

/// Decode a modified UTF-7 mailbox name (RFC 3501 §5.1.3). `None` when invalid.
pub fn decode_mutf7(s: &[u8]) -> Option<String> {
    let mut out = String::new();
    let mut i = 0;
    while i < s.len() {
        let b = s[i];
        if !(0x20..=0x7e).contains(&b) {
            return None;
        }
        if b != b'&' {
            out.push(char::from(b));
            i += 1;
            continue;
        }
        let end = i + 1 + s[i + 1..].iter().position(|&c| c == b'-')?;
        let enc = &s[i + 1..end];
        i = end + 1;
        if enc.is_empty() {
            out.push('&');
            continue;
        }
        let mut bits: u32 = 0;
        let mut nbits = 0;
        let mut units: Vec<u16> = Vec::new();
        for &c in enc {
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
        // Leftover bits must be zero padding of less than 6 bits.
        if nbits >= 6 || bits & ((1 << nbits) - 1) != 0 {
            return None;
        }
        let decoded = String::from_utf16(&units).ok()?;
        // Printable ASCII must not be encoded.
        if decoded.is_empty() || decoded.chars().any(|c| (' '..='~').contains(&c)) {
            return None;
        }
        out.push_str(&decoded);
    }
    Some(out)
}

/// Encode a UTF-8 mailbox name as modified UTF-7 (for IMAP4rev1 clients).
pub fn encode_mutf7(s: &str) -> String {
    const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";
    let mut out = String::new();
    let mut pending: Vec<u16> = Vec::new();
    let flush = |pending: &mut Vec<u16>, out: &mut String| {
        if pending.is_empty() {
            return;
        }
        out.push('&');
        let mut bits: u32 = 0;
        let mut nbits = 0;
        for &u in pending.iter() {
            bits = (bits << 16) | u32::from(u);
            nbits += 16;
            while nbits >= 6 {
                nbits -= 6;
                out.push(char::from(B64[((bits >> nbits) & 63) as usize]));
            }
        }
        if nbits > 0 {
            out.push(char::from(B64[((bits << (6 - nbits)) & 63) as usize]));
        }
        out.push('-');
        pending.clear();
    };
    for c in s.chars() {
        if (' '..='~').contains(&c) {
            flush(&mut pending, &mut out);
            if c == '&' {
                out.push_str("&-");
            } else {
                out.push(c);
            }
        } else {
            let mut buf = [0u16; 2];
            pending.extend_from_slice(c.encode_utf16(&mut buf));
        }
    }
    flush(&mut pending, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mutf7_round_trip() {
        for (enc, dec) in [
            ("INBOX", "INBOX"),
            ("&-", "&"),
            ("Entw&APw-rfe", "Entwürfe"),
            ("~peter/mail/&U,BTFw-/&ZeVnLIqe-", "~peter/mail/台北/日本語"),
        ] {
            assert_eq!(decode_mutf7(enc.as_bytes()).as_deref(), Some(dec));
            assert_eq!(encode_mutf7(dec), enc);
        }
        assert_eq!(decode_mutf7(b"&AGE-"), None, "encoded ASCII");
        assert_eq!(decode_mutf7(b"&U,BTFw"), None, "unterminated");
        assert_eq!(decode_mutf7(b"&*-"), None);
    }
}
