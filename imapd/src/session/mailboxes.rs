//! Mailbox management: CREATE, DELETE, RENAME, SUBSCRIBE, UNSUBSCRIBE, NAMESPACE and
//! STATUS, and how store names are shown to clients (`Inbox` is `INBOX`).

use super::connection::{End, Session};
use super::mail_access::blocking;
use super::mail_session::{MailState, Reply};
use crate::store::{INBOX, MailboxStatus, SpecialUse};
use postern_imap_proto::command::StatusItem;
use postern_imap_proto::limits::APPEND_LIMIT;
use postern_imap_proto::response::{Code, Data, Response};
use postern_imap_proto::types::Mailbox;

/// The hierarchy delimiter.
pub(super) const DELIMITER: char = '/';

/// A store mailbox name as clients see it: `Inbox` (and its children) as `INBOX`.
pub(super) fn display_name(store_name: &str) -> String {
    match store_name.strip_prefix(INBOX) {
        Some("") => "INBOX".to_owned(),
        Some(rest) if rest.starts_with(DELIMITER) => format!("INBOX{rest}"),
        _ => store_name.to_owned(),
    }
}

/// A client's mailbox name without a trailing delimiter (CREATE `a/b/`).
fn trimmed(mailbox: &Mailbox) -> String {
    mailbox.as_str().trim_end_matches(DELIMITER).to_owned()
}

/// The STATUS values of `items` for a mailbox.
pub(super) fn status_values(
    status: &MailboxStatus,
    items: &[StatusItem],
) -> Vec<(StatusItem, u64)> {
    items
        .iter()
        .map(|&item| {
            let v = match item {
                StatusItem::Messages => status.total,
                StatusItem::UidNext => u64::from(status.mailbox.uidnext),
                StatusItem::UidValidity => u64::from(status.mailbox.uidvalidity),
                StatusItem::Unseen => status.unseen,
                StatusItem::Deleted => status.deleted,
                StatusItem::Size => status.size,
                StatusItem::Recent => 0,
                StatusItem::HighestModSeq => status.highest_modseq,
                StatusItem::AppendLimit => APPEND_LIMIT,
            };
            (item, v)
        })
        .collect()
}

impl Session {
    /// CREATE, with CREATE-SPECIAL-USE's `USE (attr)`.
    pub(super) async fn create(
        &mut self,
        st: &mut MailState,
        mailbox: &Mailbox,
        special_use: &[String],
    ) -> Reply {
        let name = trimmed(mailbox);
        if Mailbox::new(&name).is_inbox() {
            return Reply::no(Some(Code::AlreadyExists), "INBOX always exists");
        }
        let special = match special_use {
            [] => None,
            [one] => match SpecialUse::from_attribute(one) {
                Some(u) => Some(u),
                None => return Reply::no(Some(Code::UseAttr), "unsupported special-use attribute"),
            },
            _ => return Reply::no(Some(Code::UseAttr), "at most one special-use attribute"),
        };
        let account = st.account.clone();
        match blocking(move || account.create_mailbox(&name, special)).await {
            Ok(_) => Reply::ok("create done"),
            Err(e) => Reply::failure(&e, Code::NonExistent),
        }
    }

    /// DELETE. Deleting the selected mailbox deselects it.
    pub(super) async fn delete(&mut self, st: &mut MailState, mailbox: &Mailbox) -> Reply {
        if mailbox.is_inbox() {
            return Reply::no(Some(Code::Cannot), "INBOX cannot be deleted");
        }
        let account = st.account.clone();
        let name = mailbox.as_str().to_owned();
        let res = blocking(move || {
            let info = account.mailbox(&name)?;
            account.delete_mailbox(&name)?;
            Ok(info.id)
        })
        .await;
        match res {
            Ok(id) => {
                if st.selected.as_ref().is_some_and(|s| s.id == id) {
                    st.selected = None;
                }
                Reply::ok("delete done")
            }
            Err(e) => Reply::failure(&e, Code::NonExistent),
        }
    }

    /// RENAME (renaming INBOX moves its messages, RFC 9051 §6.3.6).
    pub(super) async fn rename(
        &mut self,
        st: &mut MailState,
        from: &Mailbox,
        to: &Mailbox,
    ) -> Reply {
        let account = st.account.clone();
        let (from, to) = (from.as_str().to_owned(), trimmed(to));
        match blocking(move || account.rename_mailbox(&from, &to)).await {
            Ok(_) => Reply::ok("rename done"),
            Err(e) => Reply::failure(&e, Code::NonExistent),
        }
    }

    /// SUBSCRIBE (`on`) or UNSUBSCRIBE.
    pub(super) async fn subscribe(
        &mut self,
        st: &mut MailState,
        mailbox: &Mailbox,
        on: bool,
    ) -> Reply {
        let account = st.account.clone();
        let name = trimmed(mailbox);
        let res = blocking(move || {
            if on {
                account.subscribe(&name)
            } else {
                account.unsubscribe(&name).map(|_| ())
            }
        })
        .await;
        match res {
            Ok(()) if on => Reply::ok("subscribe done"),
            Ok(()) => Reply::ok("unsubscribe done"),
            Err(e) => Reply::failure(&e, Code::NonExistent),
        }
    }

    /// NAMESPACE: one personal namespace, no others.
    pub(super) async fn namespace(&mut self) -> Result<Reply, End> {
        let data = Data::Namespace {
            personal: Some(vec![(String::new(), Some(DELIMITER))]),
            other: None,
            shared: None,
        };
        self.send(&Response::Data(data)).await?;
        Ok(Reply::ok("namespace done"))
    }

    /// STATUS.
    pub(super) async fn status(
        &mut self,
        st: &mut MailState,
        mailbox: &Mailbox,
        items: &[StatusItem],
    ) -> Result<Reply, End> {
        if items.contains(&StatusItem::HighestModSeq) {
            self.enable_condstore(st, None).await?;
        }
        let account = st.account.clone();
        let name = mailbox.as_str().to_owned();
        let status = blocking(move || {
            let info = account.mailbox(&name)?;
            account.mailbox_status(info.id)
        })
        .await;
        let status = match status {
            Ok(s) => s,
            Err(e) => return Ok(Reply::failure(&e, Code::NonExistent)),
        };
        let data = Data::Status {
            mailbox: display_name(&status.mailbox.name),
            items: status_values(&status, items),
        };
        self.send(&Response::Data(data)).await?;
        Ok(Reply::ok("status done"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inbox_is_shown_in_capitals() {
        assert_eq!(display_name("Inbox"), "INBOX");
        assert_eq!(display_name("Inbox/Lists"), "INBOX/Lists");
        assert_eq!(display_name("Inboxes"), "Inboxes");
        assert_eq!(display_name("Archive/Inbox"), "Archive/Inbox");
    }
}
