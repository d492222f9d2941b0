//! Status responses (`OK`, `NO`, `BAD`, `PREAUTH`, `BYE`) and their response codes.

use super::Writer;
use crate::response::{Code, StatusKind, StatusResponse};

impl Writer {
    pub(super) fn status(&mut self, s: &StatusResponse) {
        match &s.tag {
            Some(t) => self.raw(t),
            None => self.raw("*"),
        }
        self.raw(match s.kind {
            StatusKind::Ok => " OK ",
            StatusKind::No => " NO ",
            StatusKind::Bad => " BAD ",
            StatusKind::PreAuth => " PREAUTH ",
            StatusKind::Bye => " BYE ",
        });
        if let Some(c) = &s.code {
            self.raw("[");
            self.code(c);
            self.raw("] ");
        }
        // A text starting with `[` would read as a response code: start it with a
        // space instead (SP is a TEXT-CHAR).
        if s.code.is_none() && s.text.starts_with('[') {
            self.raw(" ");
        }
        // resp-text needs at least one character.
        self.text(if s.text.is_empty() { "done" } else { &s.text });
    }

    fn code(&mut self, c: &Code) {
        let simple = match c {
            Code::Alert => "ALERT",
            Code::AlreadyExists => "ALREADYEXISTS",
            Code::AuthenticationFailed => "AUTHENTICATIONFAILED",
            Code::AuthorizationFailed => "AUTHORIZATIONFAILED",
            Code::Cannot => "CANNOT",
            Code::ClientBug => "CLIENTBUG",
            Code::Closed => "CLOSED",
            Code::ContactAdmin => "CONTACTADMIN",
            Code::Corruption => "CORRUPTION",
            Code::Expired => "EXPIRED",
            Code::ExpungeIssued => "EXPUNGEISSUED",
            Code::HasChildren => "HASCHILDREN",
            Code::InUse => "INUSE",
            Code::Limit => "LIMIT",
            Code::NoModSeq => "NOMODSEQ",
            Code::NonExistent => "NONEXISTENT",
            Code::NoPerm => "NOPERM",
            Code::OverQuota => "OVERQUOTA",
            Code::Parse => "PARSE",
            Code::PrivacyRequired => "PRIVACYREQUIRED",
            Code::ReadOnly => "READ-ONLY",
            Code::ReadWrite => "READ-WRITE",
            Code::ServerBug => "SERVERBUG",
            Code::TooBig => "TOOBIG",
            Code::TryCreate => "TRYCREATE",
            Code::Unavailable => "UNAVAILABLE",
            Code::UnknownCte => "UNKNOWN-CTE",
            Code::UidNotSticky => "UIDNOTSTICKY",
            Code::UseAttr => "USEATTR",
            Code::NotSaved => "NOTSAVED",
            _ => "",
        };
        if !simple.is_empty() {
            self.raw(simple);
            return;
        }
        match c {
            Code::AppendUid { uid_validity, uids } => {
                self.num(format_args!("APPENDUID {uid_validity} {uids}"));
            }
            Code::CopyUid {
                uid_validity,
                source,
                dest,
            } => self.num(format_args!("COPYUID {uid_validity} {source} {dest}")),
            Code::BadCharset(cs) => {
                self.raw("BADCHARSET");
                if !cs.is_empty() {
                    self.raw(" (");
                    for (i, c) in cs.iter().enumerate() {
                        if i > 0 {
                            self.raw(" ");
                        }
                        self.string(c.as_bytes());
                    }
                    self.raw(")");
                }
            }
            Code::Capability(caps) => {
                self.raw("CAPABILITY");
                self.atoms(caps);
            }
            Code::HighestModSeq(n) => self.num(format_args!("HIGHESTMODSEQ {n}")),
            Code::Modified(s) => self.num(format_args!("MODIFIED {s}")),
            Code::PermanentFlags {
                flags,
                new_keywords,
            } => {
                self.raw("PERMANENTFLAGS ");
                self.flags(flags, *new_keywords);
            }
            Code::UidNext(n) => self.num(format_args!("UIDNEXT {n}")),
            Code::UidValidity(n) => self.num(format_args!("UIDVALIDITY {n}")),
            Code::Unseen(n) => self.num(format_args!("UNSEEN {n}")),
            _ => {}
        }
    }
}
