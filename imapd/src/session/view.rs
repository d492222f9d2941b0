//! The selected mailbox as one session sees it: message sequence numbers mapped to
//! UIDs, the mailbox modseq the session has caught up to, and expunges by other
//! sessions that cannot be announced yet (no EXPUNGE during FETCH, STORE or SEARCH by
//! sequence number, RFC 9051 §7.5.1). Pure logic, no I/O: the session feeds it the
//! store's [`Changes`] and sends the [`ViewUpdate`]s it returns.
//!
//! Memory: four bytes per message (the UID list); no message data is kept.

use crate::store::{Changes, MessageInfo, UidRange};
use postern_imap_proto::types::{SeqNum, SequenceSet};

/// Something the client must be told about the selected mailbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ViewUpdate {
    /// `* n EXPUNGE` (sequence number at the time of the response).
    Expunge(u32),
    /// `* VANISHED uids` (QRESYNC).
    Vanished(Vec<u32>),
    /// `* n EXISTS`.
    Exists(u32),
    /// `* n FETCH (UID FLAGS MODSEQ)` for a message whose flags changed.
    Flags {
        /// Sequence number.
        seq: u32,
        /// The message as it is now.
        info: MessageInfo,
    },
}

/// A sequence set that does not fit the mailbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum SetError {
    /// A message sequence number above the number of messages.
    #[error("invalid message sequence number {0}, mailbox has {1} messages")]
    OutOfRange(u32, u32),
}

/// The session's view of its selected mailbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MailboxView {
    /// UIDs by sequence number (index + 1), ascending.
    uids: Vec<u32>,
    /// The mailbox HIGHESTMODSEQ whose changes the view has taken in.
    modseq: u64,
    /// UIDs still in `uids` that the store has expunged; announced when allowed.
    pending_expunges: Vec<u32>,
}

impl MailboxView {
    /// A view of `uids` (ascending) as of mailbox modseq `modseq`.
    pub(crate) fn new(mut uids: Vec<u32>, modseq: u64) -> MailboxView {
        uids.sort_unstable();
        uids.dedup();
        uids.shrink_to_fit();
        MailboxView {
            uids,
            modseq,
            pending_expunges: Vec::new(),
        }
    }

    /// Number of messages (`EXISTS`).
    pub(crate) fn len(&self) -> u32 {
        u32::try_from(self.uids.len()).unwrap_or(u32::MAX)
    }

    /// The UIDs by sequence number.
    pub(crate) fn uids(&self) -> &[u32] {
        &self.uids
    }

    /// The mailbox modseq the view has caught up to.
    pub(crate) fn modseq(&self) -> u64 {
        self.modseq
    }

    /// The highest UID in the view; 0 when empty.
    pub(crate) fn max_uid(&self) -> u32 {
        self.uids.last().copied().unwrap_or(0)
    }

    /// The sequence number of `uid`.
    pub(crate) fn seq_of(&self, uid: u32) -> Option<u32> {
        self.uids
            .binary_search(&uid)
            .ok()
            .and_then(|i| u32::try_from(i + 1).ok())
    }

    /// The UID at sequence number `seq`.
    pub(crate) fn uid_at(&self, seq: u32) -> Option<u32> {
        let i = usize::try_from(seq).ok()?.checked_sub(1)?;
        self.uids.get(i).copied()
    }

    /// Whether the view holds expunges the client has not been told of yet.
    pub(crate) fn has_pending_expunges(&self) -> bool {
        !self.pending_expunges.is_empty()
    }

    /// Whether the store expunged `uid` and the client has not been told yet.
    #[cfg(test)]
    pub(crate) fn is_pending_expunge(&self, uid: u32) -> bool {
        self.pending_expunges.contains(&uid)
    }

    /// The UIDs a sequence-number set names (`saved` is what `$` holds, as UIDs),
    /// ascending. Numbers above the message count are an error, except that an empty
    /// mailbox answers any set with nothing.
    pub(crate) fn resolve_seqs(
        &self,
        set: &SequenceSet,
        saved: &[u32],
    ) -> Result<Vec<u32>, SetError> {
        let ranges = match set {
            SequenceSet::Saved => return Ok(self.in_view(saved)),
            SequenceSet::Ranges(r) => r,
        };
        let len = self.len();
        if len == 0 {
            return Ok(Vec::new());
        }
        let mut out = Vec::new();
        for &(a, b) in ranges {
            let a = seq_value(a, len);
            let b = seq_value(b, len);
            let (lo, hi) = (a.min(b), a.max(b));
            if hi > len || lo == 0 {
                return Err(SetError::OutOfRange(hi, len));
            }
            for seq in lo..=hi {
                out.extend(self.uid_at(seq));
            }
        }
        out.sort_unstable();
        out.dedup();
        Ok(out)
    }

    /// The UIDs of the view a UID set names (`*` is the highest UID of the view),
    /// ascending.
    pub(crate) fn resolve_uids(&self, set: &SequenceSet, saved: &[u32]) -> Vec<u32> {
        let ranges = match set {
            SequenceSet::Saved => return self.in_view(saved),
            SequenceSet::Ranges(r) => r,
        };
        let star = self.max_uid();
        let mut out = Vec::new();
        for &(a, b) in ranges {
            let a = seq_value(a, star);
            let b = seq_value(b, star);
            let (lo, hi) = (a.min(b), a.max(b));
            let start = self.uids.partition_point(|&u| u < lo);
            let end = self.uids.partition_point(|&u| u <= hi);
            out.extend_from_slice(self.uids.get(start..end).unwrap_or_default());
        }
        out.sort_unstable();
        out.dedup();
        out
    }

    /// The UIDs of `uids` that are in the view, ascending.
    fn in_view(&self, uids: &[u32]) -> Vec<u32> {
        let mut out: Vec<u32> = uids
            .iter()
            .copied()
            .filter(|u| self.uids.binary_search(u).is_ok())
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }

    /// Takes in what the store reports changed since [`MailboxView::modseq`]. Expunges
    /// are announced only when `expunge_allowed` (else kept for later); flag changes in
    /// `skip` (UID and modseq already reported by the command itself; sorted) are left
    /// out.
    pub(crate) fn apply(
        &mut self,
        changes: Changes,
        expunge_allowed: bool,
        qresync: bool,
        skip: &[(u32, u64)],
    ) -> Vec<ViewUpdate> {
        for uid in changes.expunged {
            if self.uids.binary_search(&uid).is_ok() && !self.pending_expunges.contains(&uid) {
                self.pending_expunges.push(uid);
            }
        }
        let mut out = if expunge_allowed {
            self.flush_expunges(qresync)
        } else {
            Vec::new()
        };
        let max = self.max_uid();
        let before = self.uids.len();
        for info in changes.changed {
            if info.uid > max {
                self.uids.push(info.uid);
                continue;
            }
            if skip.binary_search(&(info.uid, info.modseq)).is_ok() {
                continue;
            }
            if let Some(seq) = self.seq_of(info.uid) {
                out.push(ViewUpdate::Flags { seq, info });
            }
        }
        if self.uids.len() != before {
            // `changed` is by UID, so the pushes kept the list ascending.
            out.push(ViewUpdate::Exists(self.len()));
        }
        self.modseq = self.modseq.max(changes.highest_modseq);
        out
    }

    /// Announces the expunges kept back by [`MailboxView::apply`].
    pub(crate) fn flush_expunges(&mut self, qresync: bool) -> Vec<ViewUpdate> {
        let mut pending = std::mem::take(&mut self.pending_expunges);
        pending.sort_unstable();
        self.remove(&pending, qresync)
    }

    /// Removes `uids` (expunged or moved by this session, or flushed), returning the
    /// EXPUNGE (or one VANISHED) responses. UIDs not in the view are ignored.
    pub(crate) fn remove(&mut self, uids: &[u32], qresync: bool) -> Vec<ViewUpdate> {
        let mut out = Vec::new();
        let mut vanished = Vec::new();
        for &uid in uids {
            let Ok(i) = self.uids.binary_search(&uid) else {
                continue;
            };
            self.uids.remove(i);
            self.pending_expunges.retain(|&u| u != uid);
            if qresync {
                vanished.push(uid);
            } else if let Ok(seq) = u32::try_from(i + 1) {
                out.push(ViewUpdate::Expunge(seq));
            }
        }
        if !vanished.is_empty() {
            out.push(ViewUpdate::Vanished(vanished));
        }
        if self.uids.capacity() > 64 && self.uids.capacity() > 2 * self.uids.len() {
            self.uids.shrink_to_fit();
        }
        out
    }

    /// Adds a message this session knows to be new (it was given a UID above the
    /// view's). Returns false (and does nothing) for a UID not above the view's.
    #[cfg(test)]
    pub(crate) fn push(&mut self, uid: u32) -> bool {
        if uid > self.max_uid() {
            self.uids.push(uid);
            true
        } else {
            false
        }
    }
}

fn seq_value(n: SeqNum, star: u32) -> u32 {
    match n {
        SeqNum::Value(v) => v,
        SeqNum::Star => star,
    }
}

/// `uids` (ascending) as few inclusive ranges, for the store's UID arguments.
pub(crate) fn uid_ranges(uids: &[u32]) -> Vec<UidRange> {
    runs(uids).into_iter().map(|(a, b)| a..=b).collect()
}

/// `numbers` as a compact sequence set (sorted, runs as ranges).
pub(crate) fn compact_set(numbers: &[u32]) -> SequenceSet {
    let mut sorted = numbers.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    SequenceSet::Ranges(
        runs(&sorted)
            .into_iter()
            .map(|(a, b)| (SeqNum::Value(a), SeqNum::Value(b)))
            .collect(),
    )
}

/// `numbers` in their given order as ranges of consecutive values (for COPYUID, whose
/// two sets must pair up in order).
pub(crate) fn ordered_set(numbers: &[u32]) -> SequenceSet {
    SequenceSet::Ranges(
        runs(numbers)
            .into_iter()
            .map(|(a, b)| (SeqNum::Value(a), SeqNum::Value(b)))
            .collect(),
    )
}

/// Runs of consecutive ascending values.
fn runs(numbers: &[u32]) -> Vec<(u32, u32)> {
    let mut out: Vec<(u32, u32)> = Vec::new();
    for &n in numbers {
        match out.last_mut() {
            Some(last) if last.1.checked_add(1) == Some(n) => last.1 = n,
            _ => out.push((n, n)),
        }
    }
    out
}

#[cfg(test)]
mod tests;
