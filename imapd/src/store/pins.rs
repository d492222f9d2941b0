//! Deferred erasing of expunged message files (mox §12.2 "Expunge"): a file is erased
//! only once every session that has a mailbox selected has processed the expunge, so
//! that a session still showing the message can fetch it.
//!
//! Each such session holds a [`ViewPin`] at the account modseq up to which its view
//! has taken in the expunges (and moves) of the account. A pending erase recorded at
//! modseq `M` (the `pending_erase.modseq` column) is carried out only when no pin is
//! below `M`. This is checked after every commit that records pending erases, when a
//! pin advances and when one is dropped. Pins live in memory only: after a crash or
//! restart no session exists, and the account's start-up repair erases every pending
//! erase. All handles of an account in the process share one [`PinTable`].
//!
//! Pins are account-wide, not per mailbox: a message moved away and later expunged
//! elsewhere is still held for a session that shows it under its old UID. The cost is
//! that a selected session that runs no command holds back all erases of the account
//! until it does (or ends); sessions in IDLE advance at once.

use std::collections::BTreeMap;

use super::StoreError;
use super::account::Account;

/// The pins of one account's sessions and what is known of its pending erases.
#[derive(Debug, Default)]
pub(crate) struct PinTable {
    /// How many pins stand at each modseq.
    by_modseq: BTreeMap<u64, usize>,
    /// The lowest modseq of a pending erase not done yet; `None` when there is none
    /// (a hint: only ever too low, which costs one needless look at the index).
    lowest_pending: Option<u64>,
}

impl PinTable {
    fn add(&mut self, modseq: u64) {
        *self.by_modseq.entry(modseq).or_insert(0) += 1;
    }

    fn remove(&mut self, modseq: u64) {
        if let Some(n) = self.by_modseq.get_mut(&modseq) {
            *n -= 1;
            if *n == 0 {
                self.by_modseq.remove(&modseq);
            }
        }
    }

    /// The highest expunge modseq whose files may be erased now.
    pub(super) fn erase_limit(&self) -> u64 {
        self.by_modseq
            .first_key_value()
            .map_or(u64::MAX, |(modseq, _)| *modseq)
    }

    /// Whether a pending erase may be carried out now.
    pub(super) fn erase_due(&self) -> bool {
        self.lowest_pending
            .is_some_and(|lowest| lowest <= self.erase_limit())
    }

    /// Records that a pending erase at `modseq` was committed.
    pub(super) fn note_pending(&mut self, modseq: u64) {
        self.lowest_pending = Some(self.lowest_pending.map_or(modseq, |l| l.min(modseq)));
    }

    /// Sets the lowest pending erase's modseq as read from the index (under the
    /// connection lock, so no commit can interleave).
    pub(super) fn set_lowest_pending(&mut self, lowest: Option<u64>) {
        self.lowest_pending = lowest;
    }

    /// How many pins are held (for tests and logs).
    pub(super) fn len(&self) -> usize {
        self.by_modseq.values().sum()
    }
}

/// A session's hold on the message files its view of the selected mailbox may still
/// show: expunges with a modseq above the pin's have their files kept. Taken with
/// [`Account::pin_view`] before the view is read, moved up with [`ViewPin::advance`]
/// whenever the view has taken in every expunge up to a modseq, dropped when the
/// session unselects or ends (which carries out erases that became due, on a blocking
/// thread when inside a tokio runtime).
pub struct ViewPin {
    account: Account,
    modseq: u64,
}

impl std::fmt::Debug for ViewPin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ViewPin")
            .field("account", &self.account.name())
            .field("modseq", &self.modseq)
            .finish()
    }
}

impl ViewPin {
    /// The account modseq the pin stands at.
    pub fn modseq(&self) -> u64 {
        self.modseq
    }

    /// Moves the pin up to `modseq` (a lower value is ignored). Returns whether
    /// pending erases became due; the caller then runs
    /// [`Account::process_pending_erases`] (it blocks, so from a blocking thread).
    pub fn advance(&mut self, modseq: u64) -> bool {
        if modseq <= self.modseq {
            return false;
        }
        let mut pins = self.account.pins();
        pins.remove(self.modseq);
        pins.add(modseq);
        self.modseq = modseq;
        pins.erase_due()
    }
}

impl Drop for ViewPin {
    fn drop(&mut self) {
        let due = {
            let mut pins = self.account.pins();
            pins.remove(self.modseq);
            pins.erase_due()
        };
        if !due {
            return;
        }
        let account = self.account.clone();
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn_blocking(move || account.erase_due_logged());
            }
            Err(_) => account.erase_due_logged(),
        }
    }
}

impl Account {
    /// Pins the message files a view of a mailbox may show, from account modseq
    /// `modseq` on: take it before reading the view, at a modseq no higher than the
    /// account's highest modseq at that moment (e.g. the value of
    /// [`Account::watch_changes`]).
    pub fn pin_view(&self, modseq: u64) -> ViewPin {
        self.pins().add(modseq);
        ViewPin {
            account: self.clone(),
            modseq,
        }
    }

    /// How many view pins the account's sessions hold.
    pub fn pin_count(&self) -> usize {
        self.pins().len()
    }

    /// Carries out the pending erases that are due, logging a failure (the next
    /// trigger or the next open retries).
    pub(super) fn erase_due_logged(&self) {
        match self.process_pending_erases() {
            Ok(()) | Err(StoreError::AccountRemoved(_)) => {}
            Err(e) => {
                tracing::warn!(account = %self.name(), error = %e, "erasing message files failed");
            }
        }
    }

    /// After a commit that recorded pending erases at `modseq`: erases them at once
    /// when no view pin holds them back.
    pub(super) fn erase_after_commit(&self, modseq: u64) {
        let due = {
            let mut pins = self.pins();
            pins.note_pending(modseq);
            pins.erase_due()
        };
        if due {
            self.erase_due_logged();
        }
    }
}
