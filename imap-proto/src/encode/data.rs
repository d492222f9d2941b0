//! Untagged data other than FETCH: CAPABILITY, ENABLED, FLAGS, EXISTS, EXPUNGE,
//! VANISHED, LIST/LSUB, STATUS, SEARCH, ESEARCH, ID, NAMESPACE.

use super::Writer;
use crate::command::StatusItem;
use crate::response::{Data, ListData};

fn status_name(i: StatusItem) -> &'static str {
    match i {
        StatusItem::Messages => "MESSAGES",
        StatusItem::UidNext => "UIDNEXT",
        StatusItem::UidValidity => "UIDVALIDITY",
        StatusItem::Unseen => "UNSEEN",
        StatusItem::Deleted => "DELETED",
        StatusItem::Size => "SIZE",
        StatusItem::Recent => "RECENT",
        StatusItem::HighestModSeq => "HIGHESTMODSEQ",
        StatusItem::AppendLimit => "APPENDLIMIT",
    }
}

impl Writer {
    pub(super) fn data(&mut self, d: &Data) {
        self.raw("* ");
        match d {
            Data::Capability(caps) => {
                self.raw("CAPABILITY");
                self.atoms(caps);
            }
            Data::Enabled(caps) => {
                self.raw("ENABLED");
                self.atoms(caps);
            }
            Data::Flags(f) => {
                self.raw("FLAGS ");
                self.flags(f, false);
            }
            Data::Exists(n) => self.num(format_args!("{n} EXISTS")),
            Data::Recent(n) => self.num(format_args!("{n} RECENT")),
            Data::Expunge(n) => self.num(format_args!("{n} EXPUNGE")),
            Data::Vanished { earlier, uids } => {
                self.raw("VANISHED ");
                if *earlier {
                    self.raw("(EARLIER) ");
                }
                self.num(uids);
            }
            Data::List(l) => {
                self.raw("LIST ");
                self.list(l);
            }
            Data::Lsub(l) => {
                self.raw("LSUB ");
                self.list(l);
            }
            Data::Status { mailbox, items } => {
                self.raw("STATUS ");
                self.mailbox(mailbox);
                self.raw(" (");
                for (i, (item, v)) in items.iter().enumerate() {
                    if i > 0 {
                        self.raw(" ");
                    }
                    self.raw(status_name(*item));
                    self.num(format_args!(" {v}"));
                }
                self.raw(")");
            }
            Data::Search { ids, mod_seq } => {
                self.raw("SEARCH");
                for id in ids {
                    self.num(format_args!(" {id}"));
                }
                if let Some(m) = mod_seq {
                    self.num(format_args!(" (MODSEQ {m})"));
                }
            }
            Data::Esearch(e) => {
                self.raw("ESEARCH");
                if let Some(t) = &e.tag {
                    self.raw(" (TAG ");
                    self.string(t.as_bytes());
                    self.raw(")");
                }
                if e.uid {
                    self.raw(" UID");
                }
                if let Some(n) = e.min {
                    self.num(format_args!(" MIN {n}"));
                }
                if let Some(n) = e.max {
                    self.num(format_args!(" MAX {n}"));
                }
                if let Some(s) = &e.all {
                    self.num(format_args!(" ALL {s}"));
                }
                if let Some(n) = e.count {
                    self.num(format_args!(" COUNT {n}"));
                }
                if let Some(n) = e.mod_seq {
                    self.num(format_args!(" MODSEQ {n}"));
                }
            }
            Data::Fetch { seq, items } => {
                self.num(format_args!("{seq} FETCH ("));
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        self.raw(" ");
                    }
                    self.fetch_data(item);
                }
                self.raw(")");
            }
            Data::Id(params) => {
                self.raw("ID ");
                match params {
                    None => self.raw("NIL"),
                    Some(p) => {
                        self.raw("(");
                        for (i, (k, v)) in p.iter().enumerate() {
                            if i > 0 {
                                self.raw(" ");
                            }
                            self.string(k.as_bytes());
                            self.raw(" ");
                            self.nstring(v.as_deref().map(str::as_bytes));
                        }
                        self.raw(")");
                    }
                }
            }
            Data::Namespace {
                personal,
                other,
                shared,
            } => {
                self.raw("NAMESPACE");
                for ns in [personal, other, shared] {
                    self.raw(" ");
                    match ns {
                        None => self.raw("NIL"),
                        Some(list) => {
                            self.raw("(");
                            for (prefix, delim) in list {
                                self.raw("(");
                                self.mailbox(prefix);
                                self.raw(" ");
                                self.delimiter(*delim);
                                self.raw(")");
                            }
                            self.raw(")");
                        }
                    }
                }
            }
        }
    }

    fn list(&mut self, l: &ListData) {
        self.raw("(");
        for (i, a) in l.attributes.iter().enumerate() {
            if i > 0 {
                self.raw(" ");
            }
            self.raw(a);
        }
        self.raw(") ");
        self.delimiter(l.delimiter);
        self.raw(" ");
        self.mailbox(&l.mailbox);
        if l.old_name.is_some() || l.child_info_subscribed {
            self.raw(" (");
            if l.child_info_subscribed {
                self.raw("\"CHILDINFO\" (\"SUBSCRIBED\")");
            }
            if let Some(old) = &l.old_name {
                if l.child_info_subscribed {
                    self.raw(" ");
                }
                self.raw("\"OLDNAME\" (");
                self.mailbox(old);
                self.raw(")");
            }
            self.raw(")");
        }
    }
}
