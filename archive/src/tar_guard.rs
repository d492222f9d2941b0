//! A watch over a tar stream's headers before the tar library sees them: the library
//! reads GNU long names and pax extension headers whole into memory, so one declaring
//! gigabytes would be allocated; this refuses any such header larger than
//! [`MAX_TAR_EXTENSION_BYTES`]. It follows the stream block by block (headers, data
//! rounded up to 512, the size a pax `size` record gives the next entry).

use std::io::{self, Read};

use crate::limits::MAX_TAR_EXTENSION_BYTES;

/// The io error message for an oversized extension header.
pub(crate) const EXTENSION_TOO_LARGE: &str = "tar extension header larger than allowed";

/// Passes a tar stream through, checking every header on the way.
pub(crate) struct TarGuard<R> {
    inner: R,
    header: Vec<u8>,
    /// Bytes of the current entry's data (with padding) still to pass.
    data_left: u64,
    /// The current pax extension's data, kept to find its `size` record.
    pax: Option<Vec<u8>>,
    /// The size a pax header set for the next entry.
    next_size: Option<u64>,
}

impl<R: Read> TarGuard<R> {
    pub(crate) fn new(inner: R) -> TarGuard<R> {
        TarGuard {
            inner,
            header: Vec::with_capacity(512),
            data_left: 0,
            pax: None,
            next_size: None,
        }
    }

    fn header_done(&mut self) -> io::Result<()> {
        let h = std::mem::take(&mut self.header);
        if h.iter().all(|&b| b == 0) {
            return Ok(());
        }
        let declared =
            parse_size(&h[124..136]).ok_or_else(|| io::Error::other("bad tar size field"))?;
        let kind = h[156];
        let extension = matches!(kind, b'L' | b'K' | b'x' | b'g');
        if extension && declared > MAX_TAR_EXTENSION_BYTES {
            return Err(io::Error::other(EXTENSION_TOO_LARGE));
        }
        let size = if extension {
            declared
        } else {
            self.next_size.take().unwrap_or(declared)
        };
        self.pax = (kind == b'x').then(Vec::new);
        self.data_left = size.div_ceil(512).saturating_mul(512);
        if self.data_left == 0 {
            self.pax_done();
        }
        Ok(())
    }

    fn pax_done(&mut self) {
        if let Some(data) = self.pax.take() {
            let text = String::from_utf8_lossy(&data);
            for record in text.split('\n') {
                if let Some((_, kv)) = record.split_once(' ')
                    && let Some(v) = kv.strip_prefix("size=")
                {
                    self.next_size = v.trim().parse().ok();
                }
            }
        }
    }

    fn watch(&mut self, mut bytes: &[u8]) -> io::Result<()> {
        while !bytes.is_empty() {
            if self.data_left > 0 {
                let n = bytes
                    .len()
                    .min(usize::try_from(self.data_left).unwrap_or(usize::MAX));
                if let Some(pax) = self.pax.as_mut() {
                    pax.extend_from_slice(&bytes[..n]);
                }
                self.data_left -= n as u64;
                bytes = &bytes[n..];
                if self.data_left == 0 {
                    self.pax_done();
                }
            } else {
                let n = bytes.len().min(512 - self.header.len());
                self.header.extend_from_slice(&bytes[..n]);
                bytes = &bytes[n..];
                if self.header.len() == 512 {
                    self.header_done()?;
                }
            }
        }
        Ok(())
    }
}

/// A tar size field: octal digits (space or NUL ended), or base-256 with the high bit.
fn parse_size(field: &[u8]) -> Option<u64> {
    if field.first().is_some_and(|b| b & 0x80 != 0) {
        let mut v: u64 = u64::from(field[0] & 0x7f);
        for &b in &field[1..] {
            v = v.checked_mul(256)?.checked_add(u64::from(b))?;
        }
        return Some(v);
    }
    let digits: Vec<u8> = field
        .iter()
        .copied()
        .skip_while(|b| *b == b' ')
        .take_while(|b| (b'0'..=b'7').contains(b))
        .collect();
    if digits.is_empty() {
        return Some(0);
    }
    u64::from_str_radix(std::str::from_utf8(&digits).ok()?, 8).ok()
}

impl<R: Read> Read for TarGuard<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.watch(&buf[..n])?;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pass(bytes: &[u8]) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        TarGuard::new(bytes).read_to_end(&mut out)?;
        Ok(out)
    }

    #[test]
    fn ordinary_and_long_name_tars_pass_unchanged() {
        let mut b = tar::Builder::new(Vec::new());
        let long = format!("{}/cur/1", "d".repeat(300));
        for name in ["a/cur/1", long.as_str()] {
            let mut h = tar::Header::new_gnu();
            h.set_size(5);
            b.append_data(&mut h, name, &b"hello"[..]).unwrap();
        }
        let bytes = b.into_inner().unwrap();
        assert_eq!(pass(&bytes).unwrap(), bytes);
    }

    #[test]
    fn an_oversized_long_name_header_is_refused() {
        let mut h = tar::Header::new_gnu();
        h.as_gnu_mut().unwrap().name[..13].copy_from_slice(b"././@LongLink");
        h.set_entry_type(tar::EntryType::GNULongName);
        h.set_size(MAX_TAR_EXTENSION_BYTES + 1);
        h.set_cksum();
        let mut bytes = h.as_bytes().to_vec();
        bytes.resize(512 + 4096, b'a');
        let err = pass(&bytes).unwrap_err();
        assert_eq!(err.to_string(), EXTENSION_TOO_LARGE);
    }

    #[test]
    fn a_pax_size_record_moves_the_next_header() {
        // pax header saying the next entry has 600 bytes, while its header says 0.
        let record = b"12 size=600\n";
        let mut x = tar::Header::new_ustar();
        x.set_entry_type(tar::EntryType::XHeader);
        x.set_size(record.len() as u64);
        x.set_cksum();
        let mut bytes = x.as_bytes().to_vec();
        bytes.extend_from_slice(record);
        bytes.resize(1024, 0);
        let mut f = tar::Header::new_ustar();
        f.set_size(0);
        f.set_cksum();
        bytes.extend_from_slice(f.as_bytes());
        // 600 data bytes that look like a huge long-name header if misread.
        let mut fake = tar::Header::new_gnu();
        fake.set_entry_type(tar::EntryType::GNULongName);
        fake.set_size(1 << 40);
        fake.set_cksum();
        bytes.extend_from_slice(fake.as_bytes());
        bytes.resize(bytes.len() + 88, 0);
        bytes.resize(bytes.len().div_ceil(512) * 512 + 1024, 0);
        assert!(pass(&bytes).is_ok());
    }
}
