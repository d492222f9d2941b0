//! A mail transaction: MAIL FROM (an address of the authenticated account), RCPT TO
//! (bounded), the message by DATA or BDAT (bounded, written to an unlinked file), the
//! checks on its From header, and the hand-over to the queue.

use postern_ipc::auth::{AuthRequest, AuthResponse};
use smtp_proto::{MailFrom, RcptTo};

use super::connection::{End, Session};
use super::message::{MessageProblem, MessageWriter, unix_now, unlinked_file};
use super::{Refusal, Submission};
use crate::smtp::Reply;
use crate::smtp::input::{BdatReader, DataReader};
use crate::smtp::limits::{DATA_READ_TIMEOUT, DATA_TIMEOUT};

/// The state of one mail transaction.
pub(super) struct Transaction {
    /// MAIL FROM; empty for `<>`.
    mail_from: String,
    smtputf8: bool,
    recipients: Vec<String>,
    /// The message being received by BDAT, between chunks.
    chunks: Option<MessageWriter>,
}

/// Whether an address owner check passed.
enum Ownership {
    Owned,
    NotOwned,
    Unavailable,
}

impl Session {
    /// MAIL FROM:<address> [parameters].
    pub(super) async fn mail(&mut self, from: MailFrom<String>) -> Result<(), End> {
        if self.hello.is_none() {
            self.reply(Reply::new(503, 5, 1, "no ehlo/helo yet"));
            return Ok(());
        }
        if !self.stream.is_tls() {
            self.reply(Reply::new(530, 7, 0, "must issue a STARTTLS command first"));
            return Ok(());
        }
        let Some(user) = self.user.clone() else {
            if self.certificate_unavailable {
                self.reply(Reply::new(
                    454,
                    7,
                    0,
                    "authentication service unavailable, try again later",
                ));
            } else {
                self.reply(Reply::new(530, 7, 0, "authentication required"));
            }
            return Ok(());
        };
        if self.transaction.is_some() {
            self.reply(Reply::new(503, 5, 1, "already in a mail transaction"));
            return Ok(());
        }
        if from.size as u64 > self.shared.max_message_size {
            self.reply(Reply::new(552, 3, 4, "message too large"));
            return Ok(());
        }
        if from.flags & smtp_proto::MAIL_BODY_BINARYMIME != 0 {
            self.reply(Reply::new(555, 5, 4, "BODY=BINARYMIME not supported"));
            return Ok(());
        }
        let smtputf8 = from.flags & smtp_proto::MAIL_SMTPUTF8 != 0;
        if !from.address.is_ascii() && !smtputf8 {
            self.reply(Reply::new(553, 6, 7, "non-ascii address requires SMTPUTF8"));
            return Ok(());
        }
        if !from.address.is_empty() {
            match self.owns_address(user.account(), &from.address).await {
                Ownership::Owned => {}
                Ownership::NotOwned => {
                    tracing::info!(
                        account = user.account(),
                        mail_from = ?from.address,
                        "refused MAIL FROM of another account"
                    );
                    self.reply(Reply::new(
                        550,
                        7,
                        1,
                        "mail from address must belong to the authenticated account",
                    ));
                    return Ok(());
                }
                Ownership::Unavailable => {
                    self.reply(Reply::new(
                        451,
                        3,
                        0,
                        "cannot check the address now, try again later",
                    ));
                    return Ok(());
                }
            }
        }
        self.transaction = Some(Transaction {
            mail_from: from.address,
            smtputf8,
            recipients: Vec::new(),
            chunks: None,
        });
        self.reply(Reply::new(250, 1, 0, "sender ok"));
        Ok(())
    }

    /// RCPT TO:<address> [parameters].
    pub(super) fn rcpt(&mut self, to: RcptTo<String>) {
        let max = self.shared.max_recipients;
        let Some(transaction) = self.transaction.as_mut() else {
            self.reply(Reply::new(503, 5, 1, "missing MAIL FROM"));
            return;
        };
        let reply = if transaction.chunks.is_some() {
            Reply::new(503, 5, 1, "RCPT not allowed during BDAT transfer")
        } else if transaction.recipients.len() >= max {
            Reply::new(452, 5, 3, format!("max of {max} recipients reached"))
        } else if !to.address.is_ascii() && !transaction.smtputf8 {
            Reply::new(553, 6, 7, "non-ascii address requires SMTPUTF8")
        } else if !is_mailbox(&to.address) {
            Reply::new(501, 1, 3, "bad recipient address syntax")
        } else if transaction.mail_from.is_empty()
            && !transaction.recipients.is_empty()
            && !transaction.recipients.contains(&to.address)
        {
            // A null reverse path is for auto-replies (RFC 3834 §3.3), which go to one
            // recipient; nothing can bounce back, so no more (mox's rule on port 25).
            Reply::new(
                452,
                5,
                3,
                "only one recipient allowed with null reverse address",
            )
        } else {
            if !transaction.recipients.contains(&to.address) {
                transaction.recipients.push(to.address);
            }
            Reply::new(250, 1, 5, "recipient ok")
        };
        self.reply(reply);
    }

    /// DATA: the message follows, dot-stuffed, up to `CRLF.CRLF`.
    pub(super) async fn data(&mut self) -> Result<(), End> {
        match &self.transaction {
            None => {
                self.reply(Reply::new(503, 5, 1, "missing MAIL FROM"));
                return Ok(());
            }
            Some(t) if t.chunks.is_some() => {
                self.reply(Reply::new(
                    503,
                    5,
                    1,
                    "DATA not allowed during BDAT transfer",
                ));
                return Ok(());
            }
            Some(t) if t.recipients.is_empty() => {
                self.reply(Reply::new(503, 5, 1, "missing RCPT TO"));
                return Ok(());
            }
            Some(_) => {}
        }
        let writer = self.new_writer(true);
        self.reply(Reply::new(
            354,
            0,
            0,
            "start mail input; end with <CRLF>.<CRLF>",
        ));
        let deadline = tokio::time::Instant::now() + DATA_TIMEOUT;
        let mut reader = DataReader::new();
        let mut sink = writer;
        let mut chunk = Vec::new();
        loop {
            let done = reader.read(&mut self.input, &mut chunk);
            if let Some(writer) = sink.as_mut() {
                writer.push(&chunk);
            }
            chunk.clear();
            if done {
                break;
            }
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            self.fill(left.min(DATA_READ_TIMEOUT)).await?;
        }
        self.complete_message(sink).await;
        Ok(())
    }

    /// BDAT size [LAST] (RFC 3030): the chunk is always read, whatever the answer, so
    /// that the session stays in step with the client.
    pub(super) async fn bdat(&mut self, size: usize, last: bool) -> Result<(), End> {
        let refusal = match &self.transaction {
            _ if self.user.is_none() => Some(Reply::new(530, 7, 0, "authentication required")),
            None => Some(Reply::new(503, 5, 1, "missing MAIL FROM")),
            Some(t) if t.recipients.is_empty() => Some(Reply::new(503, 5, 1, "missing RCPT TO")),
            Some(_) => None,
        };
        let mut writer = match refusal {
            Some(_) => None,
            None => match self.transaction.as_mut().and_then(|t| t.chunks.take()) {
                Some(writer) => Some(writer),
                None => self.new_writer(false),
            },
        };
        let deadline = tokio::time::Instant::now() + DATA_TIMEOUT;
        let mut reader = BdatReader::new(size, last);
        let mut chunk = Vec::new();
        loop {
            let done = reader.read(&mut self.input, &mut chunk);
            if let Some(writer) = writer.as_mut() {
                writer.push(&chunk);
            }
            chunk.clear();
            if done {
                break;
            }
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            self.fill(left.min(DATA_READ_TIMEOUT)).await?;
        }
        if let Some(reply) = refusal {
            self.reply(reply);
            return Ok(());
        }
        let Some(writer) = writer else {
            // No file for the message: the data was read and dropped.
            self.transaction = None;
            self.reply(Reply::new(
                451,
                3,
                0,
                "cannot store the message now, try again later",
            ));
            return Ok(());
        };
        if last {
            self.complete_message(Some(writer)).await;
        } else if writer.too_large() {
            self.transaction = None;
            self.reply(Reply::new(552, 3, 4, "message too large"));
        } else {
            let received = writer.size();
            if let Some(transaction) = self.transaction.as_mut() {
                transaction.chunks = Some(writer);
            }
            self.reply(Reply::new(
                250,
                0,
                0,
                format!("{size} octets received, {received} in total"),
            ));
        }
        Ok(())
    }

    /// A writer for the transaction's message, or `None` when no file can be made; the
    /// data is then still read, and answered `451`.
    fn new_writer(&mut self, check_line_endings: bool) -> Option<MessageWriter> {
        let file = match unlinked_file(&self.shared.temp_dir) {
            Ok(file) => file,
            Err(e) => {
                tracing::error!(dir = %self.shared.temp_dir.display(), "cannot create message file: {e}");
                return None;
            }
        };
        let received = self.received_header();
        Some(MessageWriter::new(
            file,
            received,
            &self.shared.hostname,
            self.shared.max_message_size,
            check_line_endings,
        ))
    }

    /// Checks a complete message and hands it to the queue; answers the client. The
    /// transaction ends whatever the outcome.
    async fn complete_message(&mut self, writer: Option<MessageWriter>) {
        let Some(transaction) = self.transaction.take() else {
            return;
        };
        let Some(user) = self.user.clone() else {
            self.reply(Reply::new(530, 7, 0, "authentication required"));
            return;
        };
        let Some(writer) = writer else {
            self.reply(Reply::new(
                451,
                3,
                0,
                "cannot store the message now, try again later",
            ));
            return;
        };
        let size = writer.size();
        let (file, facts) = match writer.finish() {
            Ok(done) => done,
            Err(problem) => {
                let reply = match problem {
                    MessageProblem::TooLarge => Reply::new(552, 3, 4, "message too large"),
                    MessageProblem::HeaderTooLarge => {
                        Reply::new(552, 3, 4, "message header section too large")
                    }
                    MessageProblem::BareLineEnding => Reply::new(
                        500,
                        5,
                        2,
                        "invalid bare CR or LF in message, may be smtp smuggling",
                    ),
                    MessageProblem::Io(e) => {
                        tracing::error!("writing message file: {e}");
                        Reply::new(451, 3, 0, "cannot store the message now, try again later")
                    }
                };
                self.reply(reply);
                return;
            }
        };
        let senders = match facts.senders {
            Ok(senders) => senders,
            Err(e) => {
                tracing::info!(account = user.account(), error = ?e.to_string(), "refused message header");
                self.reply(Reply::new(550, 6, 0, e.to_string()));
                return;
            }
        };
        for sender in &senders {
            match self.owns_address(user.account(), &sender.address).await {
                Ownership::Owned => {}
                Ownership::NotOwned => {
                    tracing::info!(
                        account = user.account(),
                        field = sender.field,
                        address = ?sender.address,
                        "refused message sender of another account"
                    );
                    self.reply(Reply::new(
                        550,
                        7,
                        1,
                        format!(
                            "message {} address must belong to the authenticated account",
                            sender.field
                        ),
                    ));
                    return;
                }
                Ownership::Unavailable => {
                    self.reply(Reply::new(
                        451,
                        3,
                        0,
                        format!(
                            "cannot check the {} address now, try again later",
                            sender.field
                        ),
                    ));
                    return;
                }
            }
        }
        let submission = Submission {
            account: user.account().to_owned(),
            mail_from: transaction.mail_from,
            recipients: transaction.recipients,
            smtputf8: transaction.smtputf8,
            received: unix_now(),
        };
        let recipients = submission.recipients.len();
        self.messages += 1;
        match self.shared.sink.accept(submission, file).await {
            Ok(queue_id) => {
                tracing::info!(
                    account = user.account(),
                    %queue_id,
                    size,
                    recipients,
                    message_id = ?facts.message_id,
                    "message submitted"
                );
                self.reply(Reply::new(250, 0, 0, format!("queued as {queue_id}")));
            }
            Err(Refusal::Temporary(reason)) => {
                tracing::warn!(
                    account = user.account(),
                    "queue refused message for now: {reason}"
                );
                self.reply(Reply::new(
                    451,
                    3,
                    0,
                    format!("temporary failure: {reason}"),
                ));
            }
            Err(Refusal::Permanent(reason)) => {
                tracing::warn!(account = user.account(), "queue refused message: {reason}");
                self.reply(Reply::new(554, 3, 0, format!("message refused: {reason}")));
            }
        }
    }

    /// Asks authd whether `address` belongs to `account`.
    async fn owns_address(&self, account: &str, address: &str) -> Ownership {
        let request = AuthRequest::ResolveAddress {
            address: address.to_owned(),
        };
        match self.authd_call_once(request).await {
            Some(AuthResponse::Address(Some(owner))) if owner.account == account => {
                Ownership::Owned
            }
            Some(AuthResponse::Address(_)) => Ownership::NotOwned,
            other => {
                tracing::warn!("authd did not resolve an address: {other:?}");
                Ownership::Unavailable
            }
        }
    }

    /// The Received header for the transaction's message (mox's form for submission:
    /// the client's name and address are not shown, RFC 5321 §7.6; our host, the TLS
    /// facts and the authenticated account are).
    fn received_header(&self) -> String {
        let hostname = &self.shared.hostname;
        let transaction = self.transaction.as_ref();
        let smtputf8 = transaction.is_some_and(|t| t.smtputf8);
        let extended = self.hello.as_ref().is_some_and(|h| h.extended);
        // RFC 3848 and RFC 6531 protocol names.
        let mut with = String::from(if smtputf8 {
            "UTF8SMTP"
        } else if extended {
            "ESMTP"
        } else {
            "SMTP"
        });
        if self.stream.is_tls() {
            with.push('S');
        }
        if self.user.is_some() {
            with.push('A');
        }
        let local = match self.local.ip() {
            std::net::IpAddr::V4(ip) => format!("[{ip}]"),
            std::net::IpAddr::V6(ip) => format!("[IPv6:{ip}]"),
        };
        let mut header = format!(
            "Received: from {hostname} by {hostname} ({local}) via tcp with {with} id {}.{}\r\n",
            self.id, self.messages
        );
        if let Some(tls) = &self.tls {
            header.push_str(&format!(
                "\t(version={} cipher={})\r\n",
                tls.version, tls.cipher
            ));
        }
        if let Some(user) = &self.user {
            header.push_str(&format!(
                "\t(authenticated account {})\r\n",
                sanitize_comment(user.account())
            ));
        }
        // One recipient only: several would make the copies differ (mox does the same).
        if let Some([recipient]) = transaction.map(|t| t.recipients.as_slice()) {
            header.push_str(&format!("\tfor <{recipient}>;\r\n"));
        } else {
            header.truncate(header.len() - 2);
            header.push_str(";\r\n");
        }
        let date = mail_parser::DateTime::from_timestamp(unix_now()).to_rfc822();
        header.push_str(&format!("\t{date}\r\n"));
        header
    }
}

/// Whether `address` looks like `local@domain` (smtp-proto checked the syntax already).
fn is_mailbox(address: &str) -> bool {
    match address.rsplit_once('@') {
        Some((local, domain)) => !local.is_empty() && !domain.is_empty(),
        None => false,
    }
}

/// Text safe inside a header comment: no parentheses, backslashes or control characters.
fn sanitize_comment(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() || matches!(c, '(' | ')' | '\\') {
                '_'
            } else {
                c
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mailbox_syntax() {
        assert!(is_mailbox("a@b"));
        assert!(is_mailbox("\"a@b\"@c"));
        assert!(!is_mailbox("postmaster"));
        assert!(!is_mailbox("@b"));
        assert!(!is_mailbox("a@"));
    }

    #[test]
    fn comments_are_sanitized() {
        assert_eq!(sanitize_comment("a(b)\\c\r\n"), "a_b__c__");
    }
}
