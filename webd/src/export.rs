//! Export downloads: the account's own mail (account pages) or any account's (admin
//! pages), all mailboxes or one with its children, as maildir or mbox in a zip, tgz or
//! tar. webd gets a mail-access ticket from authd for the session (DESIGN.md invariant
//! 8), opens the export on imapd's store socket with it, and writes the archive while
//! it streams to the browser: each message comes from imapd as a read-only fd, the
//! archive is never built in memory (a bounded channel of [`CHUNK`]-sized pieces
//! between the writing thread and the response), and a message imapd cannot open is
//! listed in `errors.txt` inside the archive.

use std::io::Write;

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::header;
use postern_archive::{ArchiveKind, ExportWriter, ExportedMessage, Flag, MailFormat};
use postern_ipc::auth::{AuthRequest, AuthResponse};
use postern_ipc::store::SystemFlag;
use postern_ipc::store_client::{DEFAULT_STORE_TIMEOUT, StoreClient, StoreClientError};
use postern_ipc::web::{MailPurpose, WebAuth};
use serde::Deserialize;
use tokio::sync::mpsc;

use crate::App;
use crate::cookies::Area;
use crate::page::PageError;

/// Bytes handed to the response at a time.
pub const CHUNK: usize = 64 * 1024;
/// Chunks waiting for the browser at most; the writer waits when they are there.
pub const CHUNKS_IN_FLIGHT: usize = 4;

/// The export form.
#[derive(Debug, Deserialize)]
pub struct ExportForm {
    /// The CSRF token.
    #[serde(default)]
    pub csrf: String,
    /// The account (admin pages only).
    #[serde(default)]
    pub account: String,
    /// One mailbox (with its children), or empty for all.
    #[serde(default)]
    pub mailbox: String,
    /// `maildir` or `mbox`.
    pub format: String,
    /// `zip`, `tgz` or `tar`.
    pub archive: String,
}

fn choices(form: &ExportForm) -> Result<(MailFormat, ArchiveKind), PageError> {
    let format = match form.format.as_str() {
        "maildir" => MailFormat::Maildir,
        "mbox" => MailFormat::Mbox,
        _ => return Err(PageError::BadForm("Choose maildir or mbox.".into())),
    };
    let kind = match form.archive.as_str() {
        "zip" => ArchiveKind::Zip,
        "tgz" => ArchiveKind::Tgz,
        "tar" => ArchiveKind::Tar,
        _ => return Err(PageError::BadForm("Choose zip, tgz or tar.".into())),
    };
    Ok((format, kind))
}

fn archive_flag(flag: SystemFlag) -> Flag {
    match flag {
        SystemFlag::Seen => Flag::Seen,
        SystemFlag::Answered => Flag::Answered,
        SystemFlag::Flagged => Flag::Flagged,
        SystemFlag::Deleted => Flag::Deleted,
        SystemFlag::Draft => Flag::Draft,
    }
}

fn store_error(e: StoreClientError) -> PageError {
    tracing::warn!(daemon = "webd", "export: store socket: {e}");
    PageError::BadForm(format!("The mail store could not start the export: {e}"))
}

/// The response streaming the export that `form` asks for, for `account` (`None`: the
/// account session's own).
pub async fn download(
    app: &App,
    area: Area,
    auth: WebAuth,
    account: Option<String>,
    form: &ExportForm,
) -> Result<Response, PageError> {
    let (format, kind) = choices(form)?;
    let issued = match app
        .authd
        .call(AuthRequest::MailTicket {
            auth,
            purpose: MailPurpose::Export,
            account,
        })
        .await?
    {
        AuthResponse::MailTicket(issued) => issued,
        AuthResponse::WebRefused(refusal) => return Err(PageError::Refused(area, refusal)),
        AuthResponse::Error(e) => return Err(PageError::Request(e)),
        _ => return Err(PageError::Unexpected),
    };
    let mut store = StoreClient::connect(&app.store_socket, DEFAULT_STORE_TIMEOUT)
        .await
        .map_err(store_error)?;
    let account = store
        .export_begin(&issued.ticket, DEFAULT_STORE_TIMEOUT)
        .await
        .map_err(store_error)?;
    let wanted = form.mailbox.trim().to_string();
    let mailboxes: Vec<String> = store
        .export_mailboxes(DEFAULT_STORE_TIMEOUT)
        .await
        .map_err(store_error)?
        .into_iter()
        .map(|m| m.name)
        .filter(|name| {
            wanted.is_empty() || *name == wanted || name.starts_with(&format!("{wanted}/"))
        })
        .collect();
    if !wanted.is_empty() && mailboxes.is_empty() {
        return Err(PageError::BadForm(format!(
            "There is no mailbox {wanted:?}."
        )));
    }
    tracing::info!(daemon = "webd", %account, mailboxes = mailboxes.len(), "export started");
    let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(CHUNKS_IN_FLIGHT);
    let handle = tokio::runtime::Handle::current();
    let name = format!(
        "mailexport-{}{}.{}.{}",
        file_name_part(&account),
        if wanted.is_empty() {
            String::new()
        } else {
            format!("-{}", file_name_part(&wanted))
        },
        match format {
            MailFormat::Maildir => "maildir",
            MailFormat::Mbox => "mbox",
        },
        kind.extension()
    );
    tokio::task::spawn_blocking(move || {
        let sender = tx.clone();
        let out = ChannelWriter {
            tx,
            buffer: Vec::with_capacity(CHUNK),
        };
        if let Err(e) = write_export(&handle, &mut store, &mailboxes, out, kind, format) {
            tracing::warn!(daemon = "webd", %account, "export ended early: {e}");
            // The browser sees a broken download, never a short archive that looks whole.
            let _ = sender.blocking_send(Err(std::io::Error::other(e)));
        } else {
            tracing::info!(daemon = "webd", %account, "export done");
        }
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    let content_type = match kind {
        ArchiveKind::Zip => "application/zip",
        ArchiveKind::Tar => "application/x-tar",
        // Not application/gzip: browsers would helpfully unpack it.
        ArchiveKind::Tgz => "application/octet-stream",
    };
    Ok((
        [
            (header::CONTENT_TYPE, content_type.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        Body::from_stream(stream),
    )
        .into_response())
}

/// `text` with everything but ASCII letters, digits, `-`, `_` and `.` made `-`, for a
/// file name in a header.
fn file_name_part(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '-'
            }
        })
        .collect()
}

fn write_export(
    handle: &tokio::runtime::Handle,
    store: &mut StoreClient,
    mailboxes: &[String],
    out: ChannelWriter,
    kind: ArchiveKind,
    format: MailFormat,
) -> Result<(), String> {
    let mut writer = ExportWriter::new(out, kind, format);
    for mailbox in mailboxes {
        let listed = handle
            .block_on(store.export_all_messages(mailbox, DEFAULT_STORE_TIMEOUT))
            .map_err(|e| e.to_string())?;
        let keywords: Vec<String> = listed.iter().flat_map(|m| m.keywords.clone()).collect();
        writer
            .begin_mailbox(mailbox, &keywords)
            .map_err(|e| e.to_string())?;
        for m in &listed {
            match handle.block_on(store.export_open(mailbox, m.uid, DEFAULT_STORE_TIMEOUT)) {
                Ok((mut file, size)) => {
                    let meta = ExportedMessage {
                        uid: m.uid,
                        flags: m.flags.iter().copied().map(archive_flag).collect(),
                        keywords: m.keywords.clone(),
                        received: m.received,
                    };
                    writer
                        .message(&meta, &mut file, size)
                        .map_err(|e| e.to_string())?;
                }
                Err(StoreClientError::Failed(f)) => writer.unreadable(mailbox, m.uid, &f.reason),
                Err(e) => return Err(e.to_string()),
            }
        }
    }
    let mut out = writer.finish().map_err(|e| e.to_string())?;
    out.flush().map_err(|e| e.to_string())
}

/// Hands what is written to the response, [`CHUNK`] bytes at a time, waiting while
/// [`CHUNKS_IN_FLIGHT`] are unsent; a browser that went away ends the writing.
struct ChannelWriter {
    tx: mpsc::Sender<Result<Bytes, std::io::Error>>,
    buffer: Vec<u8>,
}

impl ChannelWriter {
    fn send(&mut self) -> std::io::Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(
            &mut self.buffer,
            Vec::with_capacity(CHUNK),
        ));
        self.tx.blocking_send(Ok(chunk)).map_err(|_| {
            std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the browser went away")
        })
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        let room = CHUNK - self.buffer.len();
        let taken = data.len().min(room);
        self.buffer.extend_from_slice(&data[..taken]);
        if self.buffer.len() >= CHUNK {
            self.send()?;
        }
        Ok(taken)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.send()
    }
}
