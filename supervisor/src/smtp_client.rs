//! A small blocking SMTP submission client for `postern sendmail`: connects with implicit
//! TLS or STARTTLS, authenticates with a password (PLAIN) or a TLS client certificate
//! (EXTERNAL, or none when the server already knows the key), and submits one message.
#![forbid(unsafe_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use rustls::pki_types::ServerName;

/// How long one read or write may take.
pub const IO_TIMEOUT: Duration = Duration::from_secs(60);
/// The longest reply line accepted from the server.
pub const MAX_REPLY_LINE: usize = 4096;
/// The most lines of one multi-line reply accepted.
pub const MAX_REPLY_LINES: usize = 100;

/// Why submitting failed.
#[derive(Debug, thiserror::Error)]
pub enum SmtpClientError {
    /// The network or TLS failed.
    #[error("connection: {0}")]
    Io(#[from] std::io::Error),
    /// TLS could not be set up.
    #[error("tls: {0}")]
    Tls(#[from] rustls::Error),
    /// The server name is not a valid DNS name or address.
    #[error("invalid server name {0:?}")]
    ServerName(String),
    /// The server answered something that is not an SMTP reply.
    #[error("bad reply from the server: {0}")]
    Protocol(String),
    /// The server refused a step.
    #[error("{step}: the server said {reply}")]
    Refused {
        /// What was being done.
        step: &'static str,
        /// The server's reply, as it sent it.
        reply: Reply,
    },
}

/// One SMTP reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The three-digit code.
    pub code: u16,
    /// The text of every line, without code and separator.
    pub lines: Vec<String>,
}

impl std::fmt::Display for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.code, self.lines.join(" / "))
    }
}

/// How TLS starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    /// TLS from the first byte (port 465, RFC 8314).
    Implicit,
    /// Plain, then STARTTLS (port 587).
    StartTls,
}

/// How to log in.
#[derive(Debug, Clone)]
pub enum Login {
    /// SASL PLAIN with this user name and password (only ever sent over TLS).
    Password {
        /// The login name.
        username: String,
        /// The password.
        password: String,
    },
    /// The TLS client certificate in the TLS configuration identifies the account;
    /// `AUTH EXTERNAL` is sent only if the server asks for a login.
    Certificate,
}

/// What to submit.
#[derive(Debug, Clone)]
pub struct Submission<'a> {
    /// The envelope sender.
    pub mail_from: &'a str,
    /// The envelope recipients.
    pub recipients: &'a [String],
    /// The message, CRLF line ends.
    pub message: &'a [u8],
}

enum Stream {
    Plain(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf),
            Stream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(buf),
            Stream::Tls(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            Stream::Tls(s) => s.flush(),
        }
    }
}

/// One SMTP conversation.
struct Conversation {
    reader: BufReader<Stream>,
}

impl Conversation {
    fn send(&mut self, line: &str) -> Result<(), SmtpClientError> {
        let stream = self.reader.get_mut();
        stream.write_all(line.as_bytes())?;
        stream.write_all(b"\r\n")?;
        stream.flush()?;
        Ok(())
    }

    fn reply(&mut self) -> Result<Reply, SmtpClientError> {
        let mut lines = Vec::new();
        loop {
            let mut line = Vec::new();
            let read = (&mut self.reader)
                .take(MAX_REPLY_LINE as u64 + 2)
                .read_until(b'\n', &mut line)?;
            if read == 0 {
                return Err(SmtpClientError::Protocol("connection closed".into()));
            }
            if !line.ends_with(b"\n") {
                return Err(SmtpClientError::Protocol("reply line too long".into()));
            }
            let text = String::from_utf8_lossy(&line);
            let text = text.trim_end_matches(['\r', '\n']);
            let code = text
                .get(..3)
                .and_then(|c| c.parse::<u16>().ok())
                .filter(|c| (200..600).contains(c))
                .ok_or_else(|| SmtpClientError::Protocol(text.to_string()))?;
            let (more, rest) = match text.as_bytes().get(3) {
                Some(b'-') => (true, text.get(4..).unwrap_or("")),
                Some(b' ') => (false, text.get(4..).unwrap_or("")),
                None => (false, ""),
                Some(_) => return Err(SmtpClientError::Protocol(text.to_string())),
            };
            lines.push(rest.to_string());
            if lines.len() > MAX_REPLY_LINES {
                return Err(SmtpClientError::Protocol("reply too long".into()));
            }
            if !more {
                return Ok(Reply { code, lines });
            }
        }
    }

    /// Sends `line` and expects a reply of class `class` (2 or 3).
    fn command(
        &mut self,
        step: &'static str,
        line: &str,
        class: u16,
    ) -> Result<Reply, SmtpClientError> {
        self.send(line)?;
        expect(step, self.reply()?, class)
    }
}

fn expect(step: &'static str, reply: Reply, class: u16) -> Result<Reply, SmtpClientError> {
    if reply.code / 100 == class {
        Ok(reply)
    } else {
        Err(SmtpClientError::Refused { step, reply })
    }
}

/// Whether an EHLO reply lists `keyword` (case-insensitive), and its parameters.
fn ehlo_keyword<'a>(ehlo: &'a Reply, keyword: &str) -> Option<Vec<&'a str>> {
    ehlo.lines.iter().skip(1).find_map(|line| {
        let mut words = line.split_whitespace();
        let first = words.next()?;
        first
            .eq_ignore_ascii_case(keyword)
            .then(|| words.collect::<Vec<_>>())
    })
}

/// Connects to `host:port`, logs in and submits the message. `tls` must carry the client
/// certificate when `login` is [`Login::Certificate`].
pub fn submit(
    host: &str,
    port: u16,
    mode: TlsMode,
    tls: Arc<rustls::ClientConfig>,
    helo_name: &str,
    login: &Login,
    submission: &Submission<'_>,
) -> Result<Reply, SmtpClientError> {
    let server_name = ServerName::try_from(host.to_string())
        .map_err(|_| SmtpClientError::ServerName(host.to_string()))?;
    let tcp = TcpStream::connect((host, port))?;
    tcp.set_read_timeout(Some(IO_TIMEOUT))?;
    tcp.set_write_timeout(Some(IO_TIMEOUT))?;
    let start_tls = |tcp: TcpStream| -> Result<Stream, SmtpClientError> {
        let conn = rustls::ClientConnection::new(tls.clone(), server_name.clone())?;
        Ok(Stream::Tls(Box::new(rustls::StreamOwned::new(conn, tcp))))
    };
    let stream = match mode {
        TlsMode::Implicit => start_tls(tcp)?,
        TlsMode::StartTls => Stream::Plain(tcp),
    };
    let mut smtp = Conversation {
        reader: BufReader::new(stream),
    };
    expect("greeting", smtp.reply()?, 2)?;
    let mut ehlo = smtp.command("EHLO", &format!("EHLO {helo_name}"), 2)?;
    if mode == TlsMode::StartTls {
        if ehlo_keyword(&ehlo, "STARTTLS").is_none() {
            return Err(SmtpClientError::Protocol(
                "the server does not offer STARTTLS".into(),
            ));
        }
        smtp.command("STARTTLS", "STARTTLS", 2)?;
        let Stream::Plain(tcp) = smtp.reader.into_inner() else {
            return Err(SmtpClientError::Protocol("TLS started twice".into()));
        };
        smtp = Conversation {
            reader: BufReader::new(start_tls(tcp)?),
        };
        ehlo = smtp.command("EHLO", &format!("EHLO {helo_name}"), 2)?;
    }
    let mechanisms = ehlo_keyword(&ehlo, "AUTH").unwrap_or_default();
    match login {
        Login::Password { username, password } => {
            let token = base64::engine::general_purpose::STANDARD
                .encode(format!("\0{username}\0{password}"));
            smtp.command("AUTH PLAIN", &format!("AUTH PLAIN {token}"), 2)?;
        }
        // With a registered key the server has logged us in during the handshake; it
        // then offers EXTERNAL, which confirms it. Without AUTH offered at all, the
        // server decides at MAIL.
        Login::Certificate => {
            if mechanisms
                .iter()
                .any(|m| m.eq_ignore_ascii_case("EXTERNAL"))
            {
                smtp.command("AUTH EXTERNAL", "AUTH EXTERNAL =", 2)?;
            }
        }
    }
    let smtputf8 = ehlo_keyword(&ehlo, "SMTPUTF8").is_some()
        && (!submission.mail_from.is_ascii()
            || submission.recipients.iter().any(|r| !r.is_ascii()));
    let eightbit = ehlo_keyword(&ehlo, "8BITMIME").is_some() && !submission.message.is_ascii();
    let mut mail = format!("MAIL FROM:<{}>", submission.mail_from);
    if eightbit {
        mail.push_str(" BODY=8BITMIME");
    }
    if smtputf8 {
        mail.push_str(" SMTPUTF8");
    }
    smtp.command("MAIL FROM", &mail, 2)?;
    for recipient in submission.recipients {
        smtp.command("RCPT TO", &format!("RCPT TO:<{recipient}>"), 2)?;
    }
    smtp.command("DATA", "DATA", 3)?;
    let data = dot_stuff(submission.message);
    smtp.reader.get_mut().write_all(&data)?;
    smtp.reader.get_mut().write_all(b".\r\n")?;
    smtp.reader.get_mut().flush()?;
    let done = expect("message", smtp.reply()?, 2)?;
    let _ = smtp.send("QUIT");
    let _ = smtp.reply();
    Ok(done)
}

/// The message with CRLF line ends, a final CRLF, and every line starting with a dot
/// given another one (RFC 5321 §4.5.2).
pub fn dot_stuff(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() + message.len() / 50 + 3);
    let mut at_line_start = true;
    let mut previous = 0u8;
    for &byte in message {
        if byte == b'\n' && previous != b'\r' {
            out.push(b'\r');
        }
        if at_line_start && byte == b'.' {
            out.push(b'.');
        }
        out.push(byte);
        at_line_start = byte == b'\n';
        previous = byte;
    }
    if !message.is_empty() && !at_line_start {
        out.extend_from_slice(b"\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_stuffing_and_line_ends() {
        assert_eq!(dot_stuff(b"a\n.b\r\n..c"), b"a\r\n..b\r\n...c\r\n");
        assert_eq!(dot_stuff(b".\n"), b"..\r\n");
        assert_eq!(dot_stuff(b""), b"");
        assert_eq!(dot_stuff(b"x.y\r\n"), b"x.y\r\n");
    }

    #[test]
    fn ehlo_keywords() {
        let reply = Reply {
            code: 250,
            lines: vec![
                "mail.example".into(),
                "PIPELINING".into(),
                "AUTH EXTERNAL PLAIN".into(),
            ],
        };
        assert_eq!(
            ehlo_keyword(&reply, "auth"),
            Some(vec!["EXTERNAL", "PLAIN"])
        );
        assert_eq!(ehlo_keyword(&reply, "STARTTLS"), None);
        assert_eq!(ehlo_keyword(&reply, "mail.example"), None);
    }
}
