use super::*;
use crate::store::{Flags, MessageId};

fn info(uid: u32, modseq: u64) -> MessageInfo {
    MessageInfo {
        id: MessageId::new(u64::from(uid) + 100),
        uid,
        modseq,
        flags: Flags::SEEN,
        keywords: Vec::new(),
        size: 10,
        header_size: 5,
        received: 0,
        save_date: 0,
    }
}

fn set(ranges: &[(SeqNum, SeqNum)]) -> SequenceSet {
    SequenceSet::Ranges(ranges.to_vec())
}

const fn v(n: u32) -> SeqNum {
    SeqNum::Value(n)
}

#[test]
fn sequence_numbers_and_uids() {
    let view = MailboxView::new(vec![3, 5, 9, 10], 7);
    assert_eq!(view.len(), 4);
    assert_eq!(view.uid_at(1), Some(3));
    assert_eq!(view.uid_at(0), None);
    assert_eq!(view.uid_at(5), None);
    assert_eq!(view.seq_of(9), Some(3));
    assert_eq!(view.seq_of(4), None);
    assert_eq!(
        view.resolve_seqs(&set(&[(v(2), SeqNum::Star)]), &[]),
        Ok(vec![5, 9, 10])
    );
    assert_eq!(
        view.resolve_seqs(&set(&[(v(3), v(1))]), &[]),
        Ok(vec![3, 5, 9])
    );
    assert_eq!(
        view.resolve_seqs(&set(&[(v(5), v(5))]), &[]),
        Err(SetError::OutOfRange(5, 4))
    );
    assert_eq!(view.resolve_uids(&set(&[(v(4), v(9))]), &[]), vec![5, 9]);
    // `a:*` with a above every UID still names the last message.
    assert_eq!(
        view.resolve_uids(&set(&[(v(50), SeqNum::Star)]), &[]),
        vec![10]
    );
    assert_eq!(
        view.resolve_uids(&set(&[(v(11), v(20))]), &[]),
        Vec::<u32>::new()
    );
    assert_eq!(
        view.resolve_uids(&SequenceSet::Saved, &[10, 4, 3]),
        vec![3, 10]
    );
    let empty = MailboxView::new(Vec::new(), 1);
    assert_eq!(
        empty.resolve_seqs(&set(&[(v(1), SeqNum::Star)]), &[]),
        Ok(vec![])
    );
}

#[test]
fn other_sessions_changes_become_updates() {
    let mut view = MailboxView::new(vec![1, 2, 3, 4], 10);
    let changes = Changes {
        changed: vec![info(2, 11), info(5, 12), info(6, 12)],
        expunged: vec![1, 3, 99],
        highest_modseq: 12,
    };
    let updates = view.apply(changes, true, false, &[]);
    // UID 1 is sequence 1; after it goes, UID 3 is sequence 2.
    assert_eq!(
        updates,
        vec![
            ViewUpdate::Expunge(1),
            ViewUpdate::Expunge(2),
            ViewUpdate::Flags {
                seq: 1,
                info: info(2, 11)
            },
            ViewUpdate::Exists(4),
        ]
    );
    assert_eq!(view.uids(), &[2, 4, 5, 6]);
    assert_eq!(view.modseq(), 12);
}

#[test]
fn expunges_wait_until_allowed_and_vanished_with_qresync() {
    let mut view = MailboxView::new(vec![1, 2, 3], 10);
    let changes = Changes {
        changed: vec![],
        expunged: vec![2, 3],
        highest_modseq: 11,
    };
    assert!(view.apply(changes, false, true, &[]).is_empty());
    // The messages keep their sequence numbers meanwhile.
    assert_eq!(view.len(), 3);
    assert!(view.is_pending_expunge(2));
    let next = Changes {
        changed: vec![info(4, 12)],
        expunged: vec![],
        highest_modseq: 12,
    };
    let updates = view.apply(next, true, true, &[]);
    assert_eq!(
        updates,
        vec![ViewUpdate::Vanished(vec![2, 3]), ViewUpdate::Exists(2)]
    );
    assert_eq!(view.uids(), &[1, 4]);
    assert!(!view.is_pending_expunge(2));
}

#[test]
fn own_changes_are_not_echoed() {
    let mut view = MailboxView::new(vec![1, 2], 10);
    let changes = Changes {
        changed: vec![info(1, 11), info(2, 11)],
        expunged: vec![],
        highest_modseq: 11,
    };
    let updates = view.apply(changes, true, false, &[(1, 11)]);
    assert_eq!(
        updates,
        vec![ViewUpdate::Flags {
            seq: 2,
            info: info(2, 11)
        }]
    );
}

#[test]
fn own_removals() {
    let mut view = MailboxView::new(vec![1, 2, 3, 4], 10);
    assert!(view.push(7));
    assert!(!view.push(5));
    assert_eq!(
        view.remove(&[2, 4, 8], false),
        vec![ViewUpdate::Expunge(2), ViewUpdate::Expunge(3)]
    );
    assert_eq!(view.uids(), &[1, 3, 7]);
}

#[test]
fn sets_and_ranges() {
    assert_eq!(uid_ranges(&[1, 2, 3, 7, 9, 10]), vec![1..=3, 7..=7, 9..=10]);
    assert_eq!(compact_set(&[9, 1, 2, 3, 10, 2]).to_string(), "1:3,9:10");
    assert_eq!(ordered_set(&[5, 6, 2, 3]).to_string(), "5:6,2:3");
    assert_eq!(
        uid_ranges(&[u32::MAX - 1, u32::MAX]),
        vec![u32::MAX - 1..=u32::MAX]
    );
}

/// A client following the updates ends up with the view's sequence of UIDs, whatever
/// the store reports and whenever expunges are allowed.
mod client_model {
    use super::*;
    use proptest::prelude::*;

    /// One step: the UIDs the store expunged (as indexes into the current view, may
    /// be out of range), how many new messages arrived, which messages' flags
    /// changed, whether expunges may be announced now, QRESYNC.
    type Step = (Vec<usize>, u8, Vec<usize>, bool, bool);

    fn step() -> impl Strategy<Value = Step> {
        (
            proptest::collection::vec(0usize..40, 0..5),
            0u8..4,
            proptest::collection::vec(0usize..40, 0..5),
            any::<bool>(),
            any::<bool>(),
        )
    }

    proptest! {
        #[test]
        fn client_follows_the_view(initial in 0u32..20, steps in proptest::collection::vec(step(), 1..20)) {
            let mut view = MailboxView::new((1..=initial).collect(), 1);
            let mut client: Vec<u32> = view.uids().to_vec();
            let mut next_uid = initial + 1;
            let mut modseq = 1;
            let mut gone: Vec<u32> = Vec::new();
            for (expunge, new, flagged, allowed, qresync) in steps {
                modseq += 1;
                let live: Vec<u32> = view.uids().iter().copied().filter(|u| !gone.contains(u)).collect();
                let mut expunged: Vec<u32> = expunge.iter().filter_map(|&i| live.get(i).copied()).collect();
                expunged.sort_unstable();
                expunged.dedup();
                gone.extend(&expunged);
                let mut changed: Vec<MessageInfo> = flagged
                    .iter()
                    .filter_map(|&i| live.get(i).copied())
                    .filter(|u| !expunged.contains(u))
                    .map(|u| info(u, modseq))
                    .collect();
                changed.sort_by_key(|m| m.uid);
                changed.dedup_by_key(|m| m.uid);
                for _ in 0..new {
                    changed.push(info(next_uid, modseq));
                    next_uid += 1;
                }
                let updates = view.apply(
                    Changes { changed, expunged, highest_modseq: modseq },
                    allowed,
                    qresync,
                    &[],
                );
                for update in updates {
                    match update {
                        ViewUpdate::Expunge(seq) => {
                            let i = usize::try_from(seq).unwrap() - 1;
                            prop_assert!(i < client.len());
                            let uid = client.remove(i);
                            prop_assert!(gone.contains(&uid));
                        }
                        ViewUpdate::Vanished(uids) => {
                            for uid in uids {
                                prop_assert!(gone.contains(&uid));
                                client.retain(|&u| u != uid);
                            }
                        }
                        ViewUpdate::Exists(n) => {
                            let n = usize::try_from(n).unwrap();
                            prop_assert!(n >= client.len());
                            let more = view.uids().get(client.len()..n).unwrap().to_vec();
                            client.extend(more);
                        }
                        ViewUpdate::Flags { seq, info } => {
                            let i = usize::try_from(seq).unwrap() - 1;
                            prop_assert_eq!(client.get(i).copied(), Some(info.uid));
                        }
                    }
                }
                prop_assert_eq!(&client, &view.uids().to_vec());
                if allowed {
                    prop_assert!(!view.uids().iter().any(|u| gone.contains(u)));
                }
            }
        }
    }
}
