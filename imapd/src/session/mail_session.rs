//! The authenticated and selected states: the command loop after login, the session's
//! mail state (account, enabled extensions, selected mailbox), reporting other
//! sessions' changes, and the replies for store failures. The commands themselves are
//! in their own modules (select, mailboxes, list, append, idle, fetch_command,
//! search_command, store_command, copy_move).

use tokio::sync::watch;

use super::AUTHENTICATED_IDLE_TIMEOUT;
use super::Authenticated;
use super::append::AppendStaging;
use super::connection::{End, Session};
use super::flags::flags_responses;
use super::mail_access::{MailError, blocking};
use super::view::{MailboxView, ViewUpdate, compact_set};
use crate::store::{Account, MailboxId, MessageInfo, StoreError, ViewPin};
use postern_imap_proto::command::{Command, CommandBody};
use postern_imap_proto::encode::{CONTINUE_LITERAL, EncodeOptions};
use postern_imap_proto::parse::{ParseOptions, append_mailbox, parse_command};
use postern_imap_proto::reader::Event;
use postern_imap_proto::response::{Code, Data, FetchData, Response, StatusKind, StatusResponse};
use postern_imap_proto::state::{ConnectionState, RequiredState, StateRefusal};
use postern_ipc::account_ends::ended_now;
use postern_ipc::auth::AccountEnd;

/// Extensions the client turned on (ENABLE, or implicitly by CONDSTORE commands).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Enabled {
    /// CONDSTORE (RFC 7162): MODSEQ in FETCH responses.
    pub(super) condstore: bool,
    /// QRESYNC (RFC 7162): VANISHED instead of EXPUNGE.
    pub(super) qresync: bool,
    /// IMAP4rev2 (RFC 9051): ESEARCH for SEARCH, no RECENT.
    pub(super) rev2: bool,
    /// UTF-8 mailbox names and strings (IMAP4rev2 or UTF8=ACCEPT).
    pub(super) utf8: bool,
}

/// The selected mailbox.
#[derive(Debug)]
pub(super) struct Selected {
    /// Its ID in the store (stable across renames).
    pub(super) id: MailboxId,
    /// Selected with EXAMINE.
    pub(super) read_only: bool,
    /// Sequence numbers, UIDs and the modseq caught up to.
    pub(super) view: MailboxView,
    /// UIDs saved by `SEARCH RETURN (SAVE)` (what `$` means).
    pub(super) saved: Vec<u32>,
    /// Keeps the files of messages the view may still show; stands at the account
    /// modseq up to which the view has taken in every expunge.
    pub(super) pin: ViewPin,
    /// The keywords the client was told of in FLAGS.
    pub(super) keywords: Vec<String>,
}

impl Selected {
    /// Takes in the keywords of `messages`: when one is new to the session, the FLAGS
    /// and PERMANENTFLAGS responses that announce it, to be sent before any FETCH that
    /// shows it (RFC 3501 §7.2.6); else nothing.
    pub(super) fn announce_keywords<'m>(
        &mut self,
        messages: impl IntoIterator<Item = &'m MessageInfo>,
    ) -> Vec<Response> {
        let before = self.keywords.len();
        for info in messages {
            for k in &info.keywords {
                if !self.keywords.contains(k) {
                    self.keywords.push(k.clone());
                }
            }
        }
        if self.keywords.len() == before {
            return Vec::new();
        }
        flags_responses(&self.keywords, self.read_only).into()
    }
}

/// Everything the session knows after login.
pub(super) struct MailState {
    /// The account of the login.
    pub(super) account: Account,
    /// The account's highest modseq, published by the store after every change.
    pub(super) changes: watch::Receiver<u64>,
    /// The account modseq when the selected mailbox was last compared with the store.
    pub(super) seen_modseq: u64,
    /// Enabled extensions.
    pub(super) enabled: Enabled,
    /// The selected mailbox, if any.
    pub(super) selected: Option<Selected>,
    /// (UID, modseq) of flag changes the current command reported itself, sorted, so
    /// that the next comparison with the store does not report them again.
    pub(super) reported: Vec<(u32, u64)>,
    /// Removed and disabled accounts, from authd: this session ends with its account.
    pub(super) ends: tokio::sync::broadcast::Receiver<AccountEnd>,
}

impl MailState {
    /// The connection state, as the state gate sees it.
    pub(super) fn connection_state(&self) -> ConnectionState {
        match &self.selected {
            None => ConnectionState::Authenticated,
            Some(sel) => ConnectionState::Selected {
                read_only: sel.read_only,
            },
        }
    }
}

/// The tagged answer of a command, sent after the untagged updates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Reply {
    /// OK, NO or BAD.
    pub(super) kind: StatusKind,
    /// Response code.
    pub(super) code: Option<Code>,
    /// Text.
    pub(super) text: String,
}

impl Reply {
    /// OK with text.
    pub(super) fn ok(text: &str) -> Reply {
        Reply {
            kind: StatusKind::Ok,
            code: None,
            text: text.to_owned(),
        }
    }

    /// OK with a code.
    pub(super) fn ok_code(code: Code, text: &str) -> Reply {
        Reply {
            kind: StatusKind::Ok,
            code: Some(code),
            text: text.to_owned(),
        }
    }

    /// NO, with an optional code.
    pub(super) fn no(code: Option<Code>, text: &str) -> Reply {
        Reply {
            kind: StatusKind::No,
            code,
            text: text.to_owned(),
        }
    }

    /// BAD.
    pub(super) fn bad(text: &str) -> Reply {
        Reply {
            kind: StatusKind::Bad,
            code: None,
            text: text.to_owned(),
        }
    }

    /// The answer to the command named `command` when the state gate refuses it.
    pub(super) fn refused(refusal: StateRefusal, command: &str) -> Reply {
        Reply {
            kind: refusal.kind(),
            code: refusal.code(),
            text: refusal.text(command),
        }
    }

    /// The reply for a failed store call. `missing` is the code for a mailbox that does
    /// not exist (NONEXISTENT, or TRYCREATE for a target mailbox).
    pub(super) fn failure(e: &MailError, missing: Code) -> Reply {
        let store = match e {
            MailError::Store(s) => s,
            MailError::Task(_) => {
                return Reply::no(Some(Code::ServerBug), "internal error, try again later");
            }
        };
        let (code, text) = match store {
            StoreError::NoSuchMailbox(_) => (Some(missing), "no such mailbox".to_owned()),
            StoreError::MailboxExists(_) => (Some(Code::AlreadyExists), store.to_string()),
            StoreError::HasChildren(_) => (Some(Code::HasChildren), store.to_string()),
            StoreError::InvalidMailboxName { .. } | StoreError::NotAllowed(_) => {
                (Some(Code::Cannot), store.to_string())
            }
            StoreError::InvalidKeyword(_) => (None, store.to_string()),
            StoreError::UidsExhausted(_) => (Some(Code::Limit), store.to_string()),
            StoreError::AccountRemoved(_) => (Some(Code::Unavailable), store.to_string()),
            StoreError::Io { .. }
            | StoreError::Sqlite(_)
            | StoreError::Migration(_)
            | StoreError::Corrupt(_)
            | StoreError::InvalidAccountName(_) => (
                Some(Code::ServerBug),
                "internal error, try again later".to_owned(),
            ),
        };
        Reply::no(code, &text)
    }
}

/// What the state gate hands a command it admits.
enum Admitted {
    /// A command of the authenticated state, or of any state.
    Unselected,
    /// A selected-state command, with the selected mailbox: taken out of the mail state
    /// while the command runs, and put back after it unless the command closes it.
    Selected(Selected),
}

/// The command-state gate: whether `body` may run in the session's state
/// ([`RequiredState::check`] decides, and how a refusal is answered), and for a
/// selected-state command the selected mailbox to run it on.
fn admit(st: &mut MailState, body: &CommandBody) -> Result<Admitted, StateRefusal> {
    let required = body.required_state();
    required.check(st.connection_state())?;
    match required {
        RequiredState::Selected | RequiredState::SelectedWritable => st
            .selected
            .take()
            .map(Admitted::Selected)
            .ok_or(StateRefusal::NoMailboxSelected),
        RequiredState::Any | RequiredState::NotAuthenticated | RequiredState::Authenticated => {
            Ok(Admitted::Unselected)
        }
    }
}

/// The answer when a command reaches a handler group the gate does not send it to:
/// a bug of this server, logged and answered `NO [SERVERBUG]`.
fn gate_mismatch(st: &MailState, command: &str) -> Reply {
    tracing::error!(
        account = st.account.name(),
        command,
        "command reached a handler of the wrong state"
    );
    Reply::no(Some(Code::ServerBug), "internal error, try again later")
}

/// Whether untagged EXPUNGE may be sent during `body` (RFC 9051 §7.5.1: not during
/// FETCH, STORE or SEARCH by sequence number).
fn expunge_allowed(body: &CommandBody) -> bool {
    match body {
        CommandBody::Fetch(c) => c.uid,
        CommandBody::Store(c) => c.uid,
        CommandBody::Search(c) => c.uid,
        _ => true,
    }
}

/// Commands that work on the selected mailbox's messages: the view is brought up to
/// date before them.
fn uses_messages(body: &CommandBody) -> bool {
    matches!(
        body,
        CommandBody::Fetch(_)
            | CommandBody::Store(_)
            | CommandBody::Search(_)
            | CommandBody::Copy { .. }
            | CommandBody::Move { .. }
            | CommandBody::Expunge
            | CommandBody::UidExpunge { .. }
    )
}

impl Session {
    /// The authenticated (and selected) state until LOGOUT or the end of the
    /// connection.
    pub(super) async fn mail_session(&mut self, user: &Authenticated) -> Result<(), End> {
        let ends = self.shared.account_ends.subscribe();
        let account = match self.shared.mail.open(user).await {
            Ok(account) => account,
            Err(e) => {
                tracing::error!(account = user.account(), error = %e, "cannot open the mail store");
                let bye = StatusResponse::untagged(
                    StatusKind::Bye,
                    Some(Code::Unavailable),
                    "mail store unavailable, try again later",
                );
                let _ = self.send(&Response::Status(bye)).await;
                return Err(End::Bye);
            }
        };
        let changes = account.watch_changes();
        let seen_modseq = *changes.borrow();
        let mut st = MailState {
            account,
            seen_modseq,
            changes,
            enabled: Enabled::default(),
            selected: None,
            reported: Vec::new(),
            ends,
        };
        loop {
            let Some((cmd, staged)) = self.next_mail_command(&st).await? else {
                continue;
            };
            if let Some(end) = ended_now(&mut st.ends, user.account()) {
                return Err(self.account_ended(&end).await);
            }
            self.run_command(&mut st, cmd, staged).await?;
            // Keep nothing big around while the client thinks.
            self.trim_buffers();
        }
    }

    /// Ends the session of a removed or disabled account: `* BYE [UNAVAILABLE]` with
    /// the admin's message, then the close.
    pub(super) async fn account_ended(&mut self, end: &AccountEnd) -> End {
        tracing::info!(account = %end.account, "account removed or disabled; ending the session");
        let bye = StatusResponse::untagged(StatusKind::Bye, Some(Code::Unavailable), &end.message);
        let _ = self.send(&Response::Status(bye)).await;
        End::Bye
    }

    /// Reads the next command, streaming APPEND message data into the store's temp
    /// files as it arrives. `None` when an error was answered instead.
    async fn next_mail_command(
        &mut self,
        st: &MailState,
    ) -> Result<Option<(Command, AppendStaging)>, End> {
        let mut staging = AppendStaging::new(st.account.clone());
        loop {
            match self.next_event(AUTHENTICATED_IDLE_TIMEOUT).await? {
                Event::Continue { .. } => self.send_bytes(CONTINUE_LITERAL).await?,
                Event::MessageStart { tag, sync, .. } => {
                    // mox refuses an APPEND to a missing mailbox before the client sends
                    // its first message, so no data is sent in vain.
                    if sync
                        && staging.is_empty()
                        && let Some(refusal) = self.missing_append_target(st).await
                        && self.reader.refuse_literal()
                    {
                        drop(staging);
                        self.reply(&tag, refusal.kind, refusal.code, &refusal.text)
                            .await?;
                        return Ok(None);
                    }
                    staging.start();
                }
                Event::MessageData(chunk) => staging.data(chunk).await,
                Event::Rejected(r) => {
                    drop(staging);
                    self.send_bytes(&r.reply).await?;
                    return if r.close { Err(End::Bye) } else { Ok(None) };
                }
                Event::Close => return Err(End::Bye),
                Event::Line(_) => {}
                Event::Command(raw) => {
                    let opts = ParseOptions {
                        utf8: st.enabled.utf8,
                    };
                    return match parse_command(&raw, opts) {
                        Ok(cmd) => Ok(Some((cmd, staging))),
                        Err(e) => {
                            drop(staging);
                            self.send_bytes(&e.reply()).await?;
                            Ok(None)
                        }
                    };
                }
            }
        }
    }

    /// For an APPEND about to get its first message literal: the refusal when its
    /// mailbox does not exist (`NO [TRYCREATE]`), else `None`.
    async fn missing_append_target(&self, st: &MailState) -> Option<Reply> {
        let opts = ParseOptions {
            utf8: st.enabled.utf8,
        };
        let mailbox = append_mailbox(self.reader.command_so_far(), opts)?;
        let account = st.account.clone();
        let name = mailbox.as_str().to_owned();
        match blocking(move || account.mailbox(&name)).await {
            Err(e @ MailError::Store(StoreError::NoSuchMailbox(_))) => {
                Some(Reply::failure(&e, Code::TryCreate))
            }
            _ => None,
        }
    }

    /// Runs one command: brings the view up to date, passes the state gate, runs it,
    /// reports what changed and sends the tagged reply.
    async fn run_command(
        &mut self,
        st: &mut MailState,
        cmd: Command,
        staged: AppendStaging,
    ) -> Result<(), End> {
        let tag = cmd.tag;
        let body = cmd.body;
        st.reported.clear();
        let expunge_ok = expunge_allowed(&body);
        if uses_messages(&body) {
            self.report_changes(st, expunge_ok).await?;
        }
        let name = body.name();
        tracing::debug!(account = st.account.name(), command = name, "command");
        if matches!(
            body,
            CommandBody::Capability | CommandBody::Id { .. } | CommandBody::Logout
        ) {
            self.common_command(&tag, &body).await?;
            return Ok(());
        }
        // SELECT, EXAMINE, CLOSE and UNSELECT leave a new view (or none): nothing of the
        // old one to report after them.
        let report_after = !matches!(
            body,
            CommandBody::Select { .. }
                | CommandBody::Examine { .. }
                | CommandBody::Close
                | CommandBody::Unselect
        );
        let reply = match admit(st, &body) {
            Err(refusal) => Reply::refused(refusal, name),
            Ok(Admitted::Selected(mut sel)) => {
                let deselects = matches!(body, CommandBody::Close | CommandBody::Unselect);
                let reply = self.selected_command(st, &mut sel, &tag, body).await?;
                if !deselects {
                    st.selected = Some(sel);
                }
                reply
            }
            Ok(Admitted::Unselected) => self.unselected_command(st, body, staged).await?,
        };
        if report_after {
            st.reported.sort_unstable();
            self.report_changes(st, expunge_ok).await?;
        }
        // Nothing of the command's size stays around while the client thinks.
        st.reported = Vec::new();
        self.reply(&tag, reply.kind, reply.code, &reply.text).await
    }

    /// Runs a command of the authenticated state (or of any state) that the gate let
    /// through.
    async fn unselected_command(
        &mut self,
        st: &mut MailState,
        body: CommandBody,
        staged: AppendStaging,
    ) -> Result<Reply, End> {
        Ok(match body {
            CommandBody::Noop => Reply::ok("noop done"),
            CommandBody::Enable { capabilities } => self.enable(st, &capabilities).await?,
            CommandBody::Select { mailbox, params } => {
                self.select(st, &mailbox, params, false).await?
            }
            CommandBody::Examine { mailbox, params } => {
                self.select(st, &mailbox, params, true).await?
            }
            CommandBody::Create {
                mailbox,
                special_use,
            } => self.create(st, &mailbox, &special_use).await,
            CommandBody::Delete { mailbox } => self.delete(st, &mailbox).await,
            CommandBody::Rename { from, to } => self.rename(st, &from, &to).await,
            CommandBody::Subscribe { mailbox } => self.subscribe(st, &mailbox, true).await,
            CommandBody::Unsubscribe { mailbox } => self.subscribe(st, &mailbox, false).await,
            CommandBody::Namespace => self.namespace().await?,
            CommandBody::Status { mailbox, items } => self.status(st, &mailbox, &items).await?,
            CommandBody::List(list) => self.list(st, &list).await?,
            CommandBody::Lsub { reference, pattern } => self.lsub(st, &reference, &pattern).await?,
            CommandBody::Append { mailbox, messages } => {
                self.append(st, &mailbox, messages, staged).await
            }
            CommandBody::Idle => self.idle(st).await?,
            other => gate_mismatch(st, other.name()),
        })
    }

    /// Runs a selected-state command that the gate let through, on the selected
    /// mailbox `sel`.
    async fn selected_command(
        &mut self,
        st: &mut MailState,
        sel: &mut Selected,
        tag: &str,
        body: CommandBody,
    ) -> Result<Reply, End> {
        Ok(match body {
            CommandBody::Check => Reply::ok("check done"),
            CommandBody::Close => self.close(st, sel).await,
            CommandBody::Unselect => Reply::ok("unselect done"),
            CommandBody::Expunge => self.expunge(st, sel, None).await?,
            CommandBody::UidExpunge { set } => self.expunge(st, sel, Some(set)).await?,
            CommandBody::Fetch(fetch) => self.fetch(st, sel, fetch).await?,
            CommandBody::Search(search) => self.search(st, sel, tag, search).await?,
            CommandBody::Store(store) => self.store(st, sel, store).await?,
            CommandBody::Copy { uid, set, mailbox } => {
                self.copy_or_move(st, sel, uid, &set, &mailbox, false)
                    .await?
            }
            CommandBody::Move { uid, set, mailbox } => {
                self.copy_or_move(st, sel, uid, &set, &mailbox, true)
                    .await?
            }
            other => gate_mismatch(st, other.name()),
        })
    }

    /// ENABLE (RFC 5161): CONDSTORE, QRESYNC, IMAP4rev2 and UTF8=ACCEPT.
    async fn enable(&mut self, st: &mut MailState, caps: &[String]) -> Result<Reply, End> {
        let mut newly = Vec::new();
        for cap in caps {
            let was = st.enabled;
            let mut condstore = false;
            let e = &mut st.enabled;
            let name = match cap.to_ascii_uppercase().as_str() {
                "CONDSTORE" => {
                    condstore = true;
                    "CONDSTORE"
                }
                "QRESYNC" => {
                    e.qresync = true;
                    condstore = true;
                    "QRESYNC"
                }
                "IMAP4REV2" => {
                    e.rev2 = true;
                    e.utf8 = true;
                    "IMAP4rev2"
                }
                "UTF8=ACCEPT" => {
                    e.utf8 = true;
                    "UTF8=ACCEPT"
                }
                _ => continue,
            };
            if condstore {
                let sel = st.selected.take();
                let result = self.enable_condstore(st, sel.as_ref()).await;
                st.selected = sel;
                result?;
            }
            if st.enabled != was {
                newly.push(name.to_owned());
            }
        }
        self.utf8 = st.enabled.utf8;
        self.send(&Response::Data(Data::Enabled(newly))).await?;
        Ok(Reply::ok("enable done"))
    }

    /// Turns CONDSTORE on, for a CONDSTORE-enabling command (RFC 7162 §3.1): the first
    /// one issued with a mailbox selected (`sel`, when the state gate took it out of
    /// `st`, else `st.selected`) is answered with `* OK [HIGHESTMODSEQ n]` for that
    /// mailbox. SELECT and EXAMINE announce HIGHESTMODSEQ themselves.
    pub(super) async fn enable_condstore(
        &mut self,
        st: &mut MailState,
        sel: Option<&Selected>,
    ) -> Result<(), End> {
        if st.enabled.condstore {
            return Ok(());
        }
        st.enabled.condstore = true;
        let Some(sel) = sel.or(st.selected.as_ref()) else {
            return Ok(());
        };
        let ok = StatusResponse::untagged(
            StatusKind::Ok,
            Some(Code::HighestModSeq(sel.view.modseq())),
            "highest modseq",
        );
        self.send(&Response::Status(ok)).await
    }

    /// Compares the selected mailbox with the store when the account changed, and
    /// sends what the client must hear: EXPUNGE (or VANISHED; only when
    /// `expunge_allowed`), EXISTS and FETCH of changed flags. A mailbox deleted under
    /// the session ends it.
    pub(super) async fn report_changes(
        &mut self,
        st: &mut MailState,
        expunge_allowed: bool,
    ) -> Result<(), End> {
        let qresync = st.enabled.qresync;
        let current = *st.changes.borrow_and_update();
        let Some(sel) = st.selected.as_mut() else {
            st.seen_modseq = current;
            return Ok(());
        };
        let mut announce = Vec::new();
        let updates = if current != st.seen_modseq {
            let account = st.account.clone();
            let (id, since) = (sel.id, sel.view.modseq());
            match blocking(move || account.changes_since(id, since)).await {
                Ok(changes) => {
                    st.seen_modseq = current;
                    announce = sel.announce_keywords(&changes.changed);
                    sel.view
                        .apply(changes, expunge_allowed, qresync, &st.reported)
                }
                Err(MailError::Store(StoreError::NoSuchMailbox(_))) => {
                    st.selected = None;
                    let bye = StatusResponse::untagged(
                        StatusKind::Bye,
                        None,
                        "selected mailbox was deleted, closing",
                    );
                    let _ = self.send(&Response::Status(bye)).await;
                    return Err(End::Bye);
                }
                Err(e) => {
                    tracing::warn!(account = st.account.name(), error = %e,
                        "cannot read changes of the selected mailbox");
                    return Ok(());
                }
            }
        } else if expunge_allowed {
            sel.view.flush_expunges(qresync)
        } else {
            Vec::new()
        };
        // Every expunge up to `seen_modseq` is now out of the view unless one is held
        // back; then the files of messages expunged since the pin stay.
        let erase_due = !sel.view.has_pending_expunges() && sel.pin.advance(st.seen_modseq);
        if !announce.is_empty() {
            let opts = self.encode_options();
            let bytes: Vec<u8> = announce.iter().flat_map(|r| r.to_bytes(opts)).collect();
            self.send_bytes(&bytes).await?;
        }
        self.send_updates(st.enabled, &updates).await?;
        if erase_due {
            let account = st.account.clone();
            if let Err(e) = blocking(move || account.process_pending_erases()).await {
                tracing::warn!(account = st.account.name(), error = %e,
                    "erasing expunged message files failed");
            }
        }
        Ok(())
    }

    /// Sends view updates as untagged responses, in one write.
    pub(super) async fn send_updates(
        &mut self,
        enabled: Enabled,
        updates: &[ViewUpdate],
    ) -> Result<(), End> {
        if updates.is_empty() {
            return Ok(());
        }
        let opts = self.encode_options();
        let mut out = Vec::new();
        for update in updates {
            let data = match update {
                ViewUpdate::Expunge(seq) => Data::Expunge(*seq),
                ViewUpdate::Vanished(uids) => Data::Vanished {
                    earlier: false,
                    uids: compact_set(uids),
                },
                ViewUpdate::Exists(n) => Data::Exists(*n),
                ViewUpdate::Flags { seq, info } => {
                    let mut items = vec![
                        FetchData::Uid(info.uid),
                        FetchData::Flags(super::fetch::flags_of(info)),
                    ];
                    if enabled.condstore {
                        items.push(FetchData::ModSeq(info.modseq));
                    }
                    Data::Fetch { seq: *seq, items }
                }
            };
            out.extend_from_slice(&Response::Data(data).to_bytes(opts));
        }
        self.send_bytes(&out).await
    }

    /// How responses are encoded for this client.
    pub(super) fn encode_options(&self) -> EncodeOptions {
        EncodeOptions { utf8: self.utf8 }
    }
}

/// The time now, unix seconds.
pub(super) fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use postern_imap_proto::command::{FetchCommand, SearchCommand};
    use postern_imap_proto::types::SequenceSet;

    #[test]
    fn store_failures_become_imap_codes() {
        let missing = MailError::Store(StoreError::NoSuchMailbox("x".into()));
        assert_eq!(
            Reply::failure(&missing, Code::TryCreate).code,
            Some(Code::TryCreate)
        );
        assert_eq!(
            Reply::failure(&missing, Code::NonExistent).code,
            Some(Code::NonExistent)
        );
        let exists = MailError::Store(StoreError::MailboxExists("x".into()));
        assert_eq!(
            Reply::failure(&exists, Code::NonExistent).code,
            Some(Code::AlreadyExists)
        );
        let corrupt = MailError::Store(StoreError::Corrupt("secret detail".into()));
        let reply = Reply::failure(&corrupt, Code::NonExistent);
        assert_eq!(reply.kind, StatusKind::No);
        assert_eq!(reply.code, Some(Code::ServerBug));
        assert!(!reply.text.contains("secret"), "{reply:?}");
    }

    #[test]
    fn expunges_wait_during_commands_by_sequence_number() {
        let fetch = |uid| {
            CommandBody::Fetch(FetchCommand {
                uid,
                set: SequenceSet::Saved,
                items: Vec::new(),
                changed_since: None,
                vanished: false,
            })
        };
        assert!(!expunge_allowed(&fetch(false)));
        assert!(expunge_allowed(&fetch(true)));
        let search = CommandBody::Search(SearchCommand {
            uid: false,
            returns: None,
            charset: None,
            criteria: Vec::new(),
        });
        assert!(!expunge_allowed(&search));
        assert!(expunge_allowed(&CommandBody::Noop));
        assert!(uses_messages(&fetch(false)));
        assert!(!uses_messages(&CommandBody::Noop));
    }
}
