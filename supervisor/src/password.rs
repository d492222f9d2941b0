//! Reading a new password for `postern account password` and `postern admin password`:
//! typed twice without echo on a
//! terminal, otherwise exactly one line from standard input.
#![forbid(unsafe_code)]

use std::io::{self, BufRead, IsTerminal};

use anyhow::{Context, bail};

/// Reads the new password from the terminal (asking twice) or, when stdin is not a
/// terminal, takes one line from it.
pub fn read_new_password() -> anyhow::Result<String> {
    if io::stdin().is_terminal() {
        let first = rpassword::prompt_password("New password: ")
            .context("cannot read the password from the terminal")?;
        let second = rpassword::prompt_password("Repeat new password: ")
            .context("cannot read the password from the terminal")?;
        if first != second {
            bail!("the passwords do not match");
        }
        if first.is_empty() {
            bail!("no password given");
        }
        Ok(first)
    } else {
        read_line(&mut io::stdin().lock())
    }
}

/// One line from `input`, without its line ending (`\n` or `\r\n`); nothing else is
/// trimmed, so leading and trailing spaces stay part of the password.
pub fn read_line(input: &mut impl BufRead) -> anyhow::Result<String> {
    let mut line = String::new();
    let n = input
        .read_line(&mut line)
        .context("cannot read the password from standard input")?;
    if n == 0 {
        bail!("no password on standard input (give it as one line)");
    }
    if line.ends_with('\n') {
        line.pop();
        if line.ends_with('\r') {
            line.pop();
        }
    }
    if line.is_empty() {
        bail!("the password on standard input is empty");
    }
    Ok(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_only_the_newline_stripped() {
        let mut input: &[u8] = b" secret pass \nsecond line\n";
        assert_eq!(read_line(&mut input).unwrap(), " secret pass ");
        let mut input: &[u8] = b"crlf-pass\r\n";
        assert_eq!(read_line(&mut input).unwrap(), "crlf-pass");
        let mut input: &[u8] = b"no-newline";
        assert_eq!(read_line(&mut input).unwrap(), "no-newline");
        let mut input: &[u8] = b"";
        assert!(read_line(&mut input).is_err());
        let mut input: &[u8] = b"\n";
        assert!(read_line(&mut input).is_err());
        let mut input: &[u8] = b"\xff\xfe\n";
        assert!(read_line(&mut input).is_err());
    }
}
