//! Imports: many staged messages into many mailboxes, made visible by one commit.
//!
//! An [`ImportPlan`] collects the mailboxes to create and the messages, each already
//! written to a temp file of the store and fsynced ([`Account::stage`]); nothing of it
//! is in the index, so no session sees any of it. [`Account::commit_import`] then, in
//! one transaction, creates (and subscribes) the missing mailboxes with their missing
//! parents, links every file into place and inserts every row. A failure removes the
//! linked files again; dropping the plan (an abort, a closed connection) removes the
//! temp files; a crash leaves temp files (removed when the store is next opened) or
//! linked files without rows (removed by the account's start-up repair).

use std::collections::BTreeMap;

use rusqlite::params;

use super::account::{PreparedMessage, insert_staged, next_modseq, unix_now};
use super::mailbox::{self, normalize_mailbox_name};
use super::message::normalize_keywords;
use super::{Account, NewMessage, Result, StagedMessage};

/// The messages and mailboxes of an import that is not committed yet.
#[derive(Debug, Default)]
pub struct ImportPlan {
    mailboxes: BTreeMap<String, Vec<PreparedMessage>>,
    messages: usize,
    bytes: u64,
}

/// One mailbox of a committed import.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportedMailboxOutcome {
    /// The mailbox name as stored.
    pub name: String,
    /// Messages added to it.
    pub messages: u64,
    /// Whether the import created it.
    pub created: bool,
}

/// What a committed import added.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImportOutcome {
    /// Messages added.
    pub messages: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Per mailbox named by the import, in name order.
    pub mailboxes: Vec<ImportedMailboxOutcome>,
}

impl ImportPlan {
    /// An empty plan.
    pub fn new() -> ImportPlan {
        ImportPlan::default()
    }

    /// Names a mailbox to create (and subscribe) at the commit, also without messages;
    /// returns the name as it will be stored.
    pub fn add_mailbox(&mut self, name: &str) -> Result<String> {
        let name = normalize_mailbox_name(name)?;
        self.mailboxes.entry(name.clone()).or_default();
        Ok(name)
    }

    /// Adds a staged message to `mailbox` (created at the commit when missing); checks
    /// the name and the keywords now, so the commit cannot fail on them.
    pub fn add_message(
        &mut self,
        mailbox: &str,
        meta: NewMessage,
        staged: StagedMessage,
    ) -> Result<String> {
        let name = normalize_mailbox_name(mailbox)?;
        let keywords = normalize_keywords(&meta.keywords)?;
        self.bytes += staged.size();
        self.messages += 1;
        self.mailboxes
            .entry(name.clone())
            .or_default()
            .push((meta, keywords, staged));
        Ok(name)
    }

    /// How many messages the plan holds.
    pub fn messages(&self) -> usize {
        self.messages
    }

    /// How many mailboxes the plan names.
    pub fn mailboxes(&self) -> usize {
        self.mailboxes.len()
    }

    /// The sum of the staged messages' sizes.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }
}

impl Account {
    /// Commits an import: all of it becomes visible at once, or (on `Err`) nothing
    /// does and no file of it is left in place. Missing mailboxes and their missing
    /// parents are created, each with a new UIDVALIDITY, and subscribed; existing ones
    /// get the messages appended.
    pub fn commit_import(&self, plan: ImportPlan) -> Result<ImportOutcome> {
        let save_date = unix_now();
        let msg_dir = self.inner.msg_dir.clone();
        self.write_placing(|tx, placed| {
            let modseq = next_modseq(tx)?;
            let mut outcome = ImportOutcome::default();
            for (name, messages) in &plan.mailboxes {
                let mut created = false;
                let mb = match mailbox::lookup_by_name(tx, name) {
                    Ok(mb) => mb,
                    Err(super::StoreError::NoSuchMailbox(_)) => {
                        let mut prefixes: Vec<&str> =
                            name.match_indices('/').map(|(i, _)| &name[..i]).collect();
                        prefixes.push(name);
                        for prefix in prefixes {
                            if mailbox::lookup_by_name(tx, prefix).is_err() {
                                tx.execute(
                                    "INSERT OR IGNORE INTO subscriptions (name) VALUES (?1)",
                                    params![prefix],
                                )?;
                            }
                        }
                        let id = mailbox::create_in_tx(tx, name, None, modseq)?;
                        created = true;
                        mailbox::lookup_by_id(tx, id)?
                    }
                    Err(e) => return Err(e),
                };
                let delivered =
                    insert_staged(tx, &msg_dir, &mb, modseq, save_date, messages, placed)?;
                outcome.messages += delivered.len() as u64;
                outcome.bytes += delivered.iter().map(|d| d.size).sum::<u64>();
                outcome.mailboxes.push(ImportedMailboxOutcome {
                    name: name.clone(),
                    messages: delivered.len() as u64,
                    created,
                });
            }
            Ok(outcome)
        })
    }
}
