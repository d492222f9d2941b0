//! Maildir trees in a tar built from the input (entries separated by 0xFF: name,
//! content, name, content, …): mailbox paths, Maildir++ modified-UTF-7 names, `:2,`
//! flags, dovecot-keywords before and after the messages, unsafe names. Never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

include!("common_archive.rs");

fuzz_target!(|data: &[u8]| {
    let mut parts = data.split(|&b| b == 0xff);
    let mut tar = Vec::new();
    let mut count = 0;
    while let (Some(name), Some(content)) = (parts.next(), parts.next()) {
        count += 1;
        if count > 64 || name.is_empty() || name.len() > 99 {
            break;
        }
        let mut header = [0u8; 512];
        header[..name.len()].copy_from_slice(name);
        header[100..107].copy_from_slice(b"0000600");
        let size = format!("{:011o}", content.len());
        header[124..135].copy_from_slice(size.as_bytes());
        header[136..147].copy_from_slice(b"00000000000");
        header[156] = if name.ends_with(b"/") { b'5' } else { b'0' };
        header[257..263].copy_from_slice(b"ustar\0");
        header[263..265].copy_from_slice(b"00");
        header[148..156].copy_from_slice(b"        ");
        let sum: u32 = header.iter().map(|&b| u32::from(b)).sum();
        header[148..155].copy_from_slice(format!("{sum:06o}\0").as_bytes());
        tar.extend_from_slice(&header);
        tar.extend_from_slice(content);
        tar.resize(tar.len().div_ceil(512) * 512, 0);
    }
    tar.resize(tar.len() + 1024, 0);
    read_bytes(&tar, &ReadOptions::default());
});
