//! `postern import` and `postern export`: an account's mail in and out through imapd's
//! store socket, the same requests webd's import and export pages use.
//!
//! The command gets a mail-access ticket for the account from authd's admin socket
//! (which only the admin users may use, root on a server) and presents it on the store
//! socket; imapd redeems it with authd, which checks that the same uid presents it.
//! imapd lets root open imports and exports with a ticket (root can read the store
//! anyway), so no config change is needed; in localserve everything runs as one user.
//!
//! The archive is read here, by `postern-archive`, never extracted: each message goes
//! to imapd as the fd of one reused unlinked temp file. imapd keeps all of the import
//! or, after any error, none of it.

use std::fs::File;
use std::io::{BufWriter, IsTerminal, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use postern_archive::{
    Accepted, ArchiveKind, ExportWriter, ExportedMessage, Flag, ImportSink, MailFormat, Message,
    Problem, ReadOptions, SinkError, read_upload,
};
use postern_config::Config;
use postern_ipc::admin::{AdminRequest, AdminResponse};
use postern_ipc::store::{ImportedMessage, SystemFlag};
use postern_ipc::store_client::{
    DEFAULT_STORE_TIMEOUT, IMPORT_COMMIT_TIMEOUT, StoreClient, StoreClientError,
};
use postern_ipc::web::MailPurpose;
use tokio::runtime::Runtime;

use crate::admin::Admin;
use crate::cli::{ExportArchive, ExportArgs, ExportFormat, ImportArgs};

/// How often the progress line on a terminal is redrawn at most.
const PROGRESS_INTERVAL: Duration = Duration::from_millis(200);

fn runtime() -> anyhow::Result<Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// A ticket for `account` and `purpose` from authd's admin socket, and a store
/// connection opened with it.
async fn open_store(
    config: &Config,
    account: &str,
    purpose: MailPurpose,
) -> anyhow::Result<StoreClient> {
    let mut admin = Admin::connect(&config.admin_socket()).await?;
    let issued = match admin
        .call(AdminRequest::MailTicket {
            account: account.to_string(),
            purpose,
        })
        .await?
    {
        AdminResponse::MailTicket(issued) => issued,
        other => bail!("authd answered {other:?} to a ticket request"),
    };
    let socket = config.store_socket();
    let mut store = StoreClient::connect(&socket, DEFAULT_STORE_TIMEOUT)
        .await
        .with_context(|| format!("imapd's store socket {}", socket.display()))?;
    let opened = match purpose {
        MailPurpose::Import => {
            store
                .import_begin(&issued.ticket, DEFAULT_STORE_TIMEOUT)
                .await
        }
        MailPurpose::Export => {
            store
                .export_begin(&issued.ticket, DEFAULT_STORE_TIMEOUT)
                .await
        }
    }?;
    if opened != issued.account {
        bail!(
            "imapd opened account {opened:?} instead of {:?}",
            issued.account
        );
    }
    Ok(store)
}

/// A progress line on standard error when it is a terminal.
struct Progress {
    on_terminal: bool,
    last: Option<Instant>,
}

impl Progress {
    fn new() -> Progress {
        Progress {
            on_terminal: std::io::stderr().is_terminal(),
            last: None,
        }
    }

    fn show(&mut self, line: impl FnOnce() -> String) {
        if !self.on_terminal || self.last.is_some_and(|t| t.elapsed() < PROGRESS_INTERVAL) {
            return;
        }
        self.last = Some(Instant::now());
        eprint!("\r\x1b[K{}", line());
    }

    fn done(&self) {
        if self.on_terminal && self.last.is_some() {
            eprint!("\r\x1b[K");
        }
    }
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn store_flag(flag: Flag) -> SystemFlag {
    match flag {
        Flag::Seen => SystemFlag::Seen,
        Flag::Answered => SystemFlag::Answered,
        Flag::Flagged => SystemFlag::Flagged,
        Flag::Deleted => SystemFlag::Deleted,
        Flag::Draft => SystemFlag::Draft,
    }
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

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(0))
        .unwrap_or(0)
}

/// The reader's messages, sent to the running import one at a time.
struct StoreSink<'a> {
    runtime: &'a Runtime,
    store: &'a mut StoreClient,
    progress: Progress,
    messages: u64,
    bytes: u64,
    problems: u64,
}

impl ImportSink for StoreSink<'_> {
    fn mailbox(&mut self, name: &str) -> Result<(), SinkError> {
        match self
            .runtime
            .block_on(self.store.import_mailbox(name, DEFAULT_STORE_TIMEOUT))
        {
            Ok(_) => Ok(()),
            Err(StoreClientError::Failed(f))
                if f.kind == postern_ipc::store::FailureKind::Permanent =>
            {
                self.problems += 1;
                eprintln!("mailbox {name:?}: {}", f.reason);
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }

    fn message(&mut self, message: &Message<'_>) -> Result<Accepted, SinkError> {
        let meta = ImportedMessage {
            mailbox: message.mailbox.to_string(),
            flags: message.flags.iter().copied().map(store_flag).collect(),
            keywords: message.keywords.clone(),
            received: message.received.unwrap_or_else(unix_now),
        };
        match self.runtime.block_on(self.store.import_message(
            message.file,
            &meta,
            DEFAULT_STORE_TIMEOUT,
        )) {
            Ok(size) => {
                self.messages += 1;
                self.bytes += size;
                let (n, b, p) = (self.messages, self.bytes, self.problems);
                self.progress
                    .show(|| format!("{n} messages, {:.1} MiB, {p} problems", mib(b)));
                Ok(Accepted::Yes)
            }
            Err(e) if e.is_permanent() => Ok(Accepted::Refused(e.to_string())),
            Err(e) => Err(e.into()),
        }
    }

    fn problem(&mut self, problem: &Problem) -> Result<(), SinkError> {
        self.problems += 1;
        self.progress.done();
        eprintln!("{problem}");
        Ok(())
    }
}

/// `postern import ACCOUNT FILE [--skip-prefix P]`.
pub fn run_import(config_path: &Path, args: &ImportArgs) -> anyhow::Result<()> {
    let config = Config::load(config_path)?;
    let mut upload =
        File::open(&args.file).with_context(|| format!("opening {}", args.file.display()))?;
    let runtime = runtime()?;
    let mut store = runtime.block_on(open_store(&config, &args.account, MailPurpose::Import))?;
    let options = ReadOptions {
        skip_prefix: args.skip_prefix.clone(),
        file_name: args
            .file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned()),
    };
    let mut sink = StoreSink {
        runtime: &runtime,
        store: &mut store,
        progress: Progress::new(),
        messages: 0,
        bytes: 0,
        problems: 0,
    };
    let read = read_upload(&mut upload, &options, &mut sink);
    sink.progress.done();
    let problems = sink.problems;
    if let Err(e) = read {
        // Best effort: a closed connection drops the import as well.
        let _ = runtime.block_on(store.import_abort(DEFAULT_STORE_TIMEOUT));
        return Err(anyhow!("{e}; nothing was imported"));
    }
    let summary = runtime
        .block_on(store.import_commit(IMPORT_COMMIT_TIMEOUT))
        .map_err(|e| anyhow!("committing the import: {e}; nothing was imported"))?;
    let created = summary.mailboxes.iter().filter(|m| m.created).count();
    println!(
        "imported {} messages ({:.1} MiB) into {} mailboxes ({created} new) of {}; {problems} problems",
        summary.messages,
        mib(summary.bytes),
        summary.mailboxes.len(),
        args.account,
    );
    Ok(())
}

/// `postern export ACCOUNT [MAILBOX] --format … --archive … [-o FILE]`.
pub fn run_export(config_path: &Path, args: &ExportArgs) -> anyhow::Result<()> {
    let config = Config::load(config_path)?;
    let out: Box<dyn Write> = match &args.output {
        Some(path) => Box::new(
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
                .with_context(|| format!("creating {}", path.display()))?,
        ),
        None if std::io::stdout().is_terminal() => {
            bail!("the export is a binary archive; give -o FILE or redirect standard output")
        }
        None => Box::new(std::io::stdout().lock()),
    };
    let runtime = runtime()?;
    let mut store = runtime.block_on(open_store(&config, &args.account, MailPurpose::Export))?;
    let mailboxes = runtime.block_on(store.export_mailboxes(DEFAULT_STORE_TIMEOUT))?;
    let chosen: Vec<_> = mailboxes
        .into_iter()
        .filter(|m| match &args.mailbox {
            Some(wanted) => m.name == *wanted || m.name.starts_with(&format!("{wanted}/")),
            None => true,
        })
        .collect();
    if let Some(wanted) = &args.mailbox
        && chosen.is_empty()
    {
        bail!("account {} has no mailbox {wanted:?}", args.account);
    }
    let kind = match args.archive {
        ExportArchive::Zip => ArchiveKind::Zip,
        ExportArchive::Tgz => ArchiveKind::Tgz,
        ExportArchive::Tar => ArchiveKind::Tar,
    };
    let format = match args.format {
        ExportFormat::Maildir => MailFormat::Maildir,
        ExportFormat::Mbox => MailFormat::Mbox,
    };
    let mut writer = ExportWriter::new(BufWriter::with_capacity(256 * 1024, out), kind, format);
    let mut progress = Progress::new();
    let (mut messages, mut bytes) = (0u64, 0u64);
    for mailbox in &chosen {
        let listed =
            runtime.block_on(store.export_all_messages(&mailbox.name, DEFAULT_STORE_TIMEOUT))?;
        let keywords: Vec<String> = listed.iter().flat_map(|m| m.keywords.clone()).collect();
        writer.begin_mailbox(&mailbox.name, &keywords)?;
        for m in &listed {
            match runtime.block_on(store.export_open(&mailbox.name, m.uid, DEFAULT_STORE_TIMEOUT)) {
                Ok((mut file, size)) => {
                    let meta = ExportedMessage {
                        uid: m.uid,
                        flags: m.flags.iter().copied().map(archive_flag).collect(),
                        keywords: m.keywords.clone(),
                        received: m.received,
                    };
                    writer.message(&meta, &mut file, size)?;
                    messages += 1;
                    bytes += size;
                    progress.show(|| {
                        format!(
                            "{}: {messages} messages, {:.1} MiB",
                            mailbox.name,
                            mib(bytes)
                        )
                    });
                }
                Err(StoreClientError::Failed(f)) => {
                    writer.unreadable(&mailbox.name, m.uid, &f.reason);
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
    let errors = writer.errors().len();
    let mut out = writer.finish()?;
    out.flush().context("writing the export")?;
    progress.done();
    let target = match &args.output {
        Some(path) => path.display().to_string(),
        None => "standard output".into(),
    };
    let summary = format!(
        "exported {messages} messages ({:.1} MiB) of {} mailboxes of {} to {target}; {errors} not exported{}",
        mib(bytes),
        chosen.len(),
        args.account,
        if errors > 0 { " (see errors.txt)" } else { "" }
    );
    if args.output.is_some() {
        println!("{summary}");
    } else {
        eprintln!("{summary}");
    }
    Ok(())
}
