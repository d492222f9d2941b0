//! An async SMTP client for outbound delivery: greeting, EHLO, STARTTLS, AUTH and one
//! transaction with a result per recipient. Every reply line and every reply is
//! bounded, every read and write has a timeout.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::ServerName;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};

use super::sasl::{self, SaslClient};

/// The longest reply line accepted.
pub const MAX_REPLY_LINE: usize = 4096;
/// The most lines of one reply accepted.
pub const MAX_REPLY_LINES: usize = 128;

/// A byte stream SMTP can run over: TCP, TLS over TCP, a SOCKS5 tunnel.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// One SMTP reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    /// The three-digit code.
    pub code: u16,
    /// Each line's text, without code and separator.
    pub lines: Vec<String>,
}

impl Reply {
    /// Whether the code is 2xx or 3xx.
    pub fn is_positive(&self) -> bool {
        (200..400).contains(&self.code)
    }

    /// Whether the code is 5xx: the same request will never succeed.
    pub fn is_permanent(&self) -> bool {
        (500..600).contains(&self.code)
    }

    /// The enhanced status code (RFC 3463) at the start of the first line, or one
    /// derived from the reply code's class.
    pub fn status(&self) -> String {
        let first = self.lines.first().map(String::as_str).unwrap_or("");
        let word = first.split_whitespace().next().unwrap_or("");
        let parts: Vec<&str> = word.split('.').collect();
        let well_formed = parts.len() == 3
            && parts
                .iter()
                .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
            && parts.first().is_some_and(|c| matches!(*c, "2" | "4" | "5"));
        if well_formed {
            word.to_string()
        } else {
            format!("{}.0.0", self.code / 100)
        }
    }
}

impl std::fmt::Display for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.code, self.lines.join(" / "))
    }
}

/// Why an SMTP conversation failed.
#[derive(Debug, thiserror::Error)]
pub enum SmtpError {
    /// Reading or writing failed, or the server closed the connection.
    #[error("{stage}: {source}")]
    Io {
        /// What was being done.
        stage: &'static str,
        /// The error.
        source: std::io::Error,
    },
    /// No answer in time.
    #[error("{0}: timed out")]
    Timeout(&'static str),
    /// The server sent something that is not a valid reply.
    #[error("{stage}: protocol error: {message}")]
    Protocol {
        /// What was being done.
        stage: &'static str,
        /// What was wrong.
        message: String,
    },
    /// The server refused a step.
    #[error("{stage}: {reply}")]
    Refused {
        /// What was being done.
        stage: &'static str,
        /// Its reply.
        reply: Reply,
    },
    /// TLS could not be set up, or the certificate was not accepted.
    #[error("tls: {0}")]
    Tls(String),
    /// The server lacks something the transport requires (STARTTLS, AUTH).
    #[error("{0}")]
    Unsupported(String),
}

impl SmtpError {
    /// Whether the failure is permanent (a 5xx reply): bounce instead of retrying.
    pub fn is_permanent(&self) -> bool {
        matches!(self, SmtpError::Refused { reply, .. } if reply.is_permanent())
    }

    /// The SMTP reply, if the failure was one.
    pub fn reply(&self) -> Option<&Reply> {
        match self {
            SmtpError::Refused { reply, .. } => Some(reply),
            _ => None,
        }
    }
}

/// What the server announced in its EHLO reply.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Capabilities {
    /// Keywords, uppercased (`STARTTLS`, `SMTPUTF8`, `8BITMIME`, `SIZE`, …).
    pub keywords: HashSet<String>,
    /// SASL mechanisms offered with AUTH, uppercased.
    pub auth: Vec<String>,
    /// The SIZE limit, when announced with a number.
    pub size: Option<u64>,
}

impl Capabilities {
    fn parse(reply: &Reply) -> Capabilities {
        let mut caps = Capabilities::default();
        for line in reply.lines.iter().skip(1) {
            let mut words = line.split_whitespace();
            let Some(keyword) = words.next() else {
                continue;
            };
            let keyword = keyword.to_ascii_uppercase();
            match keyword.as_str() {
                "AUTH" => caps.auth.extend(words.map(str::to_ascii_uppercase)),
                "SIZE" => caps.size = words.next().and_then(|n| n.parse().ok()).filter(|n| *n > 0),
                _ => {}
            }
            caps.keywords.insert(keyword);
        }
        caps
    }

    /// Whether `keyword` was announced.
    pub fn has(&self, keyword: &str) -> bool {
        self.keywords.contains(keyword)
    }
}

/// What happened to each recipient of a transaction, and to the message data.
#[derive(Debug)]
pub struct TransactionOutcome {
    /// Per recipient (in the order given): accepted by RCPT TO, or the refusal.
    pub recipients: Vec<Result<(), Reply>>,
    /// The reply to the end of data when any recipient was accepted; `None` when none
    /// was (then DATA is not sent).
    pub data: Option<Result<Reply, SmtpError>>,
}

/// A connected SMTP client.
pub struct SmtpClient {
    stream: BufReader<Box<dyn Io>>,
    timeout: Duration,
    /// The host name or address the connection is to (for logs and DSNs).
    pub remote: String,
    /// The capabilities of the last EHLO.
    pub capabilities: Capabilities,
    /// The TLS exporter value (RFC 9266 `tls-exporter`) once TLS is up.
    tls_exporter: Option<Vec<u8>>,
}

impl std::fmt::Debug for SmtpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpClient")
            .field("remote", &self.remote)
            .field("tls", &self.tls_exporter.is_some())
            .finish_non_exhaustive()
    }
}

impl SmtpClient {
    /// Wraps a connected stream and reads the server's greeting. `tls_exporter` is set
    /// when the stream is already TLS (implicit TLS).
    pub async fn greet(
        stream: Box<dyn Io>,
        remote: &str,
        timeout: Duration,
        tls_exporter: Option<Vec<u8>>,
    ) -> Result<SmtpClient, SmtpError> {
        let mut client = SmtpClient {
            stream: BufReader::new(stream),
            timeout,
            remote: remote.to_string(),
            capabilities: Capabilities::default(),
            tls_exporter,
        };
        let greeting = client.read_reply("greeting").await?;
        if greeting.code != 220 {
            return Err(SmtpError::Refused {
                stage: "greeting",
                reply: greeting,
            });
        }
        Ok(client)
    }

    /// Whether the connection runs over TLS.
    pub fn is_tls(&self) -> bool {
        self.tls_exporter.is_some()
    }

    /// Sends EHLO and records the capabilities.
    pub async fn ehlo(&mut self, name: &str) -> Result<(), SmtpError> {
        let reply = self.command(&format!("EHLO {name}"), "EHLO").await?;
        if reply.code != 250 {
            return Err(SmtpError::Refused {
                stage: "EHLO",
                reply,
            });
        }
        self.capabilities = Capabilities::parse(&reply);
        Ok(())
    }

    /// Runs STARTTLS and the TLS handshake with `server_name`, then EHLO again.
    pub async fn starttls(
        self,
        config: Arc<rustls::ClientConfig>,
        server_name: ServerName<'static>,
        ehlo_name: &str,
    ) -> Result<SmtpClient, SmtpError> {
        let mut this = self;
        let reply = this.command("STARTTLS", "STARTTLS").await?;
        if reply.code != 220 {
            return Err(SmtpError::Refused {
                stage: "STARTTLS",
                reply,
            });
        }
        // Bytes the server sent after its 220 would be taken as coming through TLS
        // (command injection, CVE-2011-0411 and kin): refuse.
        if !this.stream.buffer().is_empty() {
            return Err(SmtpError::Protocol {
                stage: "STARTTLS",
                message: "data after the STARTTLS reply".into(),
            });
        }
        let inner = this.stream.into_inner();
        let (tls, exporter) = tls_handshake(inner, config, server_name, this.timeout).await?;
        let mut client = SmtpClient {
            stream: BufReader::new(tls),
            timeout: this.timeout,
            remote: this.remote,
            capabilities: Capabilities::default(),
            tls_exporter: Some(exporter),
        };
        client.ehlo(ehlo_name).await?;
        Ok(client)
    }

    /// Authenticates with the first of `preferred` (uppercase names) the server offers;
    /// PLAIN and LOGIN only over TLS, `-PLUS` variants only over TLS.
    pub async fn authenticate(
        &mut self,
        username: &str,
        password: &str,
        preferred: &[String],
    ) -> Result<String, SmtpError> {
        let tls = self.is_tls();
        let mechanism = preferred
            .iter()
            .find(|m| {
                self.capabilities.auth.iter().any(|o| o == *m) && (tls || !sasl::needs_tls(m))
            })
            .cloned()
            .ok_or_else(|| {
                SmtpError::Unsupported(format!(
                    "no usable AUTH mechanism (server offers {:?}, tls {tls})",
                    self.capabilities.auth
                ))
            })?;
        let mut client =
            SaslClient::new(&mechanism, username, password, self.tls_exporter.as_deref())
                .map_err(SmtpError::Unsupported)?;
        let initial = client.initial();
        let mut reply = match initial {
            Some(data) => {
                let encoded = sasl::b64(&data);
                let line = if encoded.is_empty() {
                    format!("AUTH {mechanism} =")
                } else {
                    format!("AUTH {mechanism} {encoded}")
                };
                self.command(&line, "AUTH").await?
            }
            None => self.command(&format!("AUTH {mechanism}"), "AUTH").await?,
        };
        let mut rounds = 0;
        while reply.code == 334 {
            rounds += 1;
            if rounds > 10 {
                return Err(SmtpError::Protocol {
                    stage: "AUTH",
                    message: "too many challenges".into(),
                });
            }
            let challenge_text = reply.lines.first().map(String::as_str).unwrap_or("");
            let challenge =
                sasl::unb64(challenge_text.trim()).map_err(|e| SmtpError::Protocol {
                    stage: "AUTH",
                    message: e,
                })?;
            let response = match client.step(&challenge) {
                Ok(r) => r,
                Err(e) => {
                    let _ = self.command("*", "AUTH").await;
                    return Err(SmtpError::Protocol {
                        stage: "AUTH",
                        message: e,
                    });
                }
            };
            reply = self.command(&sasl::b64(&response), "AUTH").await?;
        }
        if reply.code != 235 {
            return Err(SmtpError::Refused {
                stage: "AUTH",
                reply,
            });
        }
        client
            .finish(reply.lines.first().map(String::as_str))
            .map_err(|e| SmtpError::Protocol {
                stage: "AUTH",
                message: e,
            })?;
        Ok(mechanism)
    }

    /// One mail transaction: MAIL FROM, RCPT TO for each recipient (each answered on
    /// its own), and DATA with the dot-stuffed message when any was accepted. The
    /// message is the concatenation of `message`'s parts (e.g. DKIM-Signature header
    /// fields, then the queued message).
    pub async fn send(
        &mut self,
        mail_from: &str,
        smtputf8: bool,
        recipients: &[String],
        message: &[&[u8]],
    ) -> Result<TransactionOutcome, SmtpError> {
        let size: usize = message.iter().map(|part| part.len()).sum();
        let mut mail = format!("MAIL FROM:<{mail_from}>");
        if self.capabilities.has("8BITMIME") && !message.iter().all(|part| part.is_ascii()) {
            mail.push_str(" BODY=8BITMIME");
        }
        if smtputf8 {
            if !self.capabilities.has("SMTPUTF8") {
                return Err(SmtpError::Refused {
                    stage: "MAIL FROM",
                    reply: Reply {
                        code: 553,
                        lines: vec!["5.6.7 the receiving server does not support SMTPUTF8".into()],
                    },
                });
            }
            mail.push_str(" SMTPUTF8");
        }
        if self.capabilities.has("SIZE") {
            mail.push_str(&format!(" SIZE={size}"));
        }
        let reply = self.command(&mail, "MAIL FROM").await?;
        if reply.code != 250 {
            return Err(SmtpError::Refused {
                stage: "MAIL FROM",
                reply,
            });
        }
        let mut results = Vec::with_capacity(recipients.len());
        for rcpt in recipients {
            let reply = self
                .command(&format!("RCPT TO:<{rcpt}>"), "RCPT TO")
                .await?;
            if reply.code == 250 || reply.code == 251 {
                results.push(Ok(()));
            } else {
                results.push(Err(reply));
            }
        }
        if !results.iter().any(Result::is_ok) {
            let _ = self.command("RSET", "RSET").await;
            return Ok(TransactionOutcome {
                recipients: results,
                data: None,
            });
        }
        let data = self.data(message).await;
        Ok(TransactionOutcome {
            recipients: results,
            data: Some(data),
        })
    }

    async fn data(&mut self, message: &[&[u8]]) -> Result<Reply, SmtpError> {
        let reply = self.command("DATA", "DATA").await?;
        if reply.code != 354 {
            return Err(SmtpError::Refused {
                stage: "DATA",
                reply,
            });
        }
        let mut stuffer = DotStuffer::new();
        let mut out = Vec::with_capacity(DATA_CHUNK + DATA_CHUNK / 16);
        for part in message {
            for chunk in part.chunks(DATA_CHUNK) {
                out.clear();
                stuffer.feed(chunk, &mut out);
                self.write_all(&out, "message data").await?;
            }
        }
        out.clear();
        stuffer.finish(&mut out);
        self.write_all(&out, "message data").await?;
        let reply = self.read_reply("end of data").await?;
        if reply.code != 250 {
            return Err(SmtpError::Refused {
                stage: "end of data",
                reply,
            });
        }
        Ok(reply)
    }

    /// Sends QUIT and waits briefly for the answer; errors are ignored.
    pub async fn quit(mut self) {
        let _ = tokio::time::timeout(Duration::from_secs(5), self.command("QUIT", "QUIT")).await;
    }

    /// Sends one command line and reads the reply.
    async fn command(&mut self, line: &str, stage: &'static str) -> Result<Reply, SmtpError> {
        let mut bytes = Vec::with_capacity(line.len() + 2);
        bytes.extend_from_slice(line.as_bytes());
        bytes.extend_from_slice(b"\r\n");
        self.write_all(&bytes, stage).await?;
        self.read_reply(stage).await
    }

    async fn write_all(&mut self, bytes: &[u8], stage: &'static str) -> Result<(), SmtpError> {
        let write = async {
            let stream = self.stream.get_mut();
            stream.write_all(bytes).await?;
            stream.flush().await
        };
        match tokio::time::timeout(self.timeout, write).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(source)) => Err(SmtpError::Io { stage, source }),
            Err(_) => Err(SmtpError::Timeout(stage)),
        }
    }

    async fn read_reply(&mut self, stage: &'static str) -> Result<Reply, SmtpError> {
        match tokio::time::timeout(self.timeout, read_reply(&mut self.stream, stage)).await {
            Ok(result) => result,
            Err(_) => Err(SmtpError::Timeout(stage)),
        }
    }
}

async fn read_reply(
    stream: &mut BufReader<Box<dyn Io>>,
    stage: &'static str,
) -> Result<Reply, SmtpError> {
    let mut lines = Vec::new();
    let mut code = None;
    loop {
        let mut line = Vec::new();
        let n = (&mut *stream)
            .take(MAX_REPLY_LINE as u64)
            .read_until(b'\n', &mut line)
            .await
            .map_err(|source| SmtpError::Io { stage, source })?;
        if n == 0 {
            return Err(SmtpError::Io {
                stage,
                source: std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "connection closed by the server",
                ),
            });
        }
        if line.last() != Some(&b'\n') {
            return Err(SmtpError::Protocol {
                stage,
                message: "reply line too long".into(),
            });
        }
        while matches!(line.last(), Some(b'\n' | b'\r')) {
            line.pop();
        }
        let text = String::from_utf8_lossy(&line);
        let this_code = text
            .get(..3)
            .filter(|c| c.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|c| c.parse::<u16>().ok())
            .filter(|c| (200..600).contains(c))
            .ok_or_else(|| SmtpError::Protocol {
                stage,
                message: format!("not a reply line: {:?}", truncate(&text, 80)),
            })?;
        if *code.get_or_insert(this_code) != this_code {
            return Err(SmtpError::Protocol {
                stage,
                message: "reply lines with different codes".into(),
            });
        }
        let separator = text.as_bytes().get(3).copied();
        let rest = text.get(4..).unwrap_or("").to_string();
        lines.push(rest);
        if lines.len() > MAX_REPLY_LINES {
            return Err(SmtpError::Protocol {
                stage,
                message: "reply has too many lines".into(),
            });
        }
        match separator {
            Some(b'-') => continue,
            None | Some(b' ') => {
                return Ok(Reply {
                    code: this_code,
                    lines,
                });
            }
            Some(_) => {
                return Err(SmtpError::Protocol {
                    stage,
                    message: "bad reply separator".into(),
                });
            }
        }
    }
}

fn truncate(text: &str, max: usize) -> &str {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// How much of the message is stuffed and written at a time.
const DATA_CHUNK: usize = 64 * 1024;

/// Makes the DATA payload, chunk by chunk: every line ends in CRLF (bare LF become
/// CRLF), lines starting with `.` get another `.`, and [`DotStuffer::finish`] ends the
/// last line and appends the terminating `.` line.
#[derive(Debug)]
pub struct DotStuffer {
    at_line_start: bool,
    previous: u8,
}

impl Default for DotStuffer {
    fn default() -> Self {
        DotStuffer::new()
    }
}

impl DotStuffer {
    /// A stuffer at the start of a message.
    pub fn new() -> DotStuffer {
        DotStuffer {
            at_line_start: true,
            previous: 0,
        }
    }

    /// Appends the stuffed form of `chunk` to `out`.
    pub fn feed(&mut self, chunk: &[u8], out: &mut Vec<u8>) {
        for &b in chunk {
            if self.at_line_start && b == b'.' {
                out.push(b'.');
            }
            if b == b'\n' && self.previous != b'\r' {
                out.push(b'\r');
            }
            out.push(b);
            self.at_line_start = b == b'\n';
            self.previous = b;
        }
    }

    /// Appends the end of the data (a CRLF if the last line is open, then `.` CRLF).
    pub fn finish(self, out: &mut Vec<u8>) {
        if !self.at_line_start {
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b".\r\n");
    }
}

/// The whole DATA payload of `message` at once.
pub fn dot_stuff(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() + message.len() / 50 + 5);
    let mut stuffer = DotStuffer::new();
    stuffer.feed(message, &mut out);
    stuffer.finish(&mut out);
    out
}

/// Runs a TLS client handshake over `stream`, returning the TLS stream and the
/// `tls-exporter` channel-binding value.
pub async fn tls_handshake(
    stream: Box<dyn Io>,
    config: Arc<rustls::ClientConfig>,
    server_name: ServerName<'static>,
    timeout: Duration,
) -> Result<(Box<dyn Io>, Vec<u8>), SmtpError> {
    let connector = tokio_rustls::TlsConnector::from(config);
    let tls = match tokio::time::timeout(timeout, connector.connect(server_name, stream)).await {
        Ok(Ok(tls)) => tls,
        Ok(Err(e)) => return Err(SmtpError::Tls(e.to_string())),
        Err(_) => return Err(SmtpError::Timeout("TLS handshake")),
    };
    let mut exporter = vec![0u8; 32];
    tls.get_ref()
        .1
        .export_keying_material(&mut exporter, b"EXPORTER-Channel-Binding", None)
        .map_err(|e| SmtpError::Tls(e.to_string()))?;
    Ok((Box::new(tls), exporter))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_stuffing_and_line_endings() {
        assert_eq!(dot_stuff(b"a\r\n.b\r\n"), b"a\r\n..b\r\n.\r\n");
        assert_eq!(dot_stuff(b".\nx"), b"..\r\nx\r\n.\r\n");
        assert_eq!(dot_stuff(b""), b".\r\n");
        // Split anywhere, the result is the same.
        let message = b"a\r\n.b\n..c\r\nd";
        for split in 0..message.len() {
            let mut out = Vec::new();
            let mut stuffer = DotStuffer::new();
            stuffer.feed(&message[..split], &mut out);
            stuffer.feed(&message[split..], &mut out);
            stuffer.finish(&mut out);
            assert_eq!(out, dot_stuff(message), "split at {split}");
        }
    }

    #[test]
    fn enhanced_status_codes() {
        let r = Reply {
            code: 550,
            lines: vec!["5.1.1 no such user".into()],
        };
        assert_eq!(r.status(), "5.1.1");
        let r = Reply {
            code: 451,
            lines: vec!["try later".into()],
        };
        assert_eq!(r.status(), "4.0.0");
    }

    #[tokio::test]
    async fn replies_are_parsed_and_bounded() {
        let (a, mut b) = tokio::io::duplex(1 << 16);
        b.write_all(b"250-mx.example\r\n250-SIZE 1000\r\n250-AUTH PLAIN login\r\n250 STARTTLS\r\n")
            .await
            .unwrap();
        let mut reader = BufReader::new(Box::new(a) as Box<dyn Io>);
        let reply = read_reply(&mut reader, "test").await.unwrap();
        let caps = Capabilities::parse(&reply);
        assert!(caps.has("STARTTLS"));
        assert_eq!(caps.size, Some(1000));
        assert_eq!(caps.auth, vec!["PLAIN".to_string(), "LOGIN".to_string()]);
        b.write_all(&vec![b'2'; MAX_REPLY_LINE + 10]).await.unwrap();
        assert!(read_reply(&mut reader, "test").await.is_err());
    }
}
