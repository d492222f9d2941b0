//! The command dispatcher (tag, name, arguments) and the arguments of the commands
//! that have no grammar area of their own: authentication, mailboxes, SELECT, STATUS,
//! LIST, APPEND and STORE.

use super::cursor::{Parser, R};
use super::error::SyntaxError;
use crate::chars::is_tag_char;
use crate::command::{
    AppendMessage, CommandBody, ListCommand, ListReturn, ListSelect, QresyncParams, SelectParams,
    StatusItem, StoreAction, StoreCommand,
};
use crate::limits::{MAX_ID_FIELD, MAX_ID_PAIRS, MAX_ID_VALUE};
use crate::types::{Secret, SequenceSet};

impl Parser<'_> {
    /// The tag that starts every command.
    pub(super) fn tag(&mut self) -> R<String> {
        let tag = self.take_while(is_tag_char);
        if tag.is_empty() {
            return Err(SyntaxError::MissingTag);
        }
        Ok(String::from_utf8_lossy(tag).into_owned())
    }

    /// What follows the tag: the command name and its arguments, to the end of the
    /// text, with every streamed APPEND message accounted for.
    pub(super) fn command_body(&mut self) -> R<CommandBody> {
        self.sp()?;
        let name = self.upper_atom()?;
        let body = self.body(&name)?;
        self.end()?;
        if self.next_message != self.messages.len() {
            return Err(SyntaxError::MessageLiteralsLeftOver);
        }
        Ok(body)
    }

    /// The arguments of the command called `name` (upper-cased).
    fn body(&mut self, name: &str) -> R<CommandBody> {
        Ok(match name {
            "CAPABILITY" => CommandBody::Capability,
            "NOOP" => CommandBody::Noop,
            "LOGOUT" => CommandBody::Logout,
            "STARTTLS" => CommandBody::StartTls,
            "NAMESPACE" => CommandBody::Namespace,
            "IDLE" => CommandBody::Idle,
            "CHECK" => CommandBody::Check,
            "CLOSE" => CommandBody::Close,
            "UNSELECT" => CommandBody::Unselect,
            "EXPUNGE" => CommandBody::Expunge,
            "AUTHENTICATE" => {
                self.sp()?;
                let mechanism = self.upper_atom()?;
                let initial_response = if self.eat(b' ') {
                    if self.eat(b'=') {
                        Some(Secret::default())
                    } else {
                        let b = self.take_while(|b| {
                            b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=')
                        });
                        if b.is_empty() {
                            return Err(SyntaxError::InvalidInitialResponse);
                        }
                        Some(Secret(b.to_vec()))
                    }
                } else {
                    None
                };
                CommandBody::Authenticate {
                    mechanism,
                    initial_response,
                }
            }
            "LOGIN" => {
                self.sp()?;
                let username = self.astring()?;
                self.sp()?;
                let password = Secret(self.astring()?);
                CommandBody::Login { username, password }
            }
            "ENABLE" => {
                let mut capabilities = Vec::new();
                while self.eat(b' ') {
                    capabilities.push(self.upper_atom()?);
                }
                if capabilities.is_empty() {
                    return Err(SyntaxError::EnableWithoutCapability);
                }
                CommandBody::Enable { capabilities }
            }
            "ID" => {
                self.sp()?;
                let parameters = if self.eat_word("NIL") {
                    None
                } else {
                    Some(self.id_parameters()?)
                };
                CommandBody::Id { parameters }
            }
            "SELECT" | "EXAMINE" => {
                self.sp()?;
                let mailbox = self.mailbox()?;
                let params = self.select_params()?;
                if name == "SELECT" {
                    CommandBody::Select { mailbox, params }
                } else {
                    CommandBody::Examine { mailbox, params }
                }
            }
            "CREATE" => {
                self.sp()?;
                let mailbox = self.mailbox()?;
                let mut special_use = Vec::new();
                if self.eat(b' ') {
                    self.expect(b'(')?;
                    if !self.eat_word("USE") {
                        return Err(SyntaxError::UnknownCreateParameter);
                    }
                    self.sp()?;
                    special_use = self.paren_list(0, |p| {
                        p.expect(b'\\')?;
                        Ok(format!("\\{}", p.atom()?))
                    })?;
                    self.expect(b')')?;
                }
                CommandBody::Create {
                    mailbox,
                    special_use,
                }
            }
            "DELETE" | "SUBSCRIBE" | "UNSUBSCRIBE" => {
                self.sp()?;
                let mailbox = self.mailbox()?;
                match name {
                    "DELETE" => CommandBody::Delete { mailbox },
                    "SUBSCRIBE" => CommandBody::Subscribe { mailbox },
                    _ => CommandBody::Unsubscribe { mailbox },
                }
            }
            "RENAME" => {
                self.sp()?;
                let from = self.mailbox()?;
                self.sp()?;
                let to = self.mailbox()?;
                CommandBody::Rename { from, to }
            }
            "LIST" => CommandBody::List(self.list()?),
            "LSUB" => {
                self.sp()?;
                let reference = self.astring()?;
                let reference = self.decode_name(reference)?;
                self.sp()?;
                let pattern = self.list_mailbox()?;
                CommandBody::Lsub { reference, pattern }
            }
            "STATUS" => {
                self.sp()?;
                let mailbox = self.mailbox()?;
                self.sp()?;
                let items = self.paren_list(1, Self::status_item)?;
                CommandBody::Status { mailbox, items }
            }
            "APPEND" => self.append()?,
            "SEARCH" => CommandBody::Search(self.search(false)?),
            "FETCH" => CommandBody::Fetch(self.fetch(false)?),
            "STORE" => CommandBody::Store(self.store(false)?),
            "COPY" | "MOVE" => self.copy_or_move(false, name == "MOVE")?,
            "UID" => {
                self.sp()?;
                let sub = self.upper_atom()?;
                match sub.as_str() {
                    "SEARCH" => CommandBody::Search(self.search(true)?),
                    "FETCH" => CommandBody::Fetch(self.fetch(true)?),
                    "STORE" => CommandBody::Store(self.store(true)?),
                    "EXPUNGE" => {
                        self.sp()?;
                        CommandBody::UidExpunge {
                            set: self.sequence_set()?,
                        }
                    }
                    "COPY" | "MOVE" => self.copy_or_move(true, sub == "MOVE")?,
                    _ => return Err(SyntaxError::UnknownUidCommand(sub)),
                }
            }
            _ => return Err(SyntaxError::UnknownCommand),
        })
    }

    /// COPY or MOVE (`is_move`) arguments: a sequence set and the target mailbox.
    /// The field-value list of ID, within RFC 2971's limits: fields of at most
    /// [`MAX_ID_FIELD`] octets, values of at most [`MAX_ID_VALUE`], at most
    /// [`MAX_ID_PAIRS`] pairs, no field twice.
    fn id_parameters(&mut self) -> R<Vec<(String, Option<String>)>> {
        let pairs = self.paren_list(0, |p| {
            let k = p.string()?;
            if k.len() > MAX_ID_FIELD {
                return Err(SyntaxError::IdFieldTooLong);
            }
            let k = Self::utf8(k)?;
            p.sp()?;
            let v = p.nstring()?;
            if v.as_ref().is_some_and(|v| v.len() > MAX_ID_VALUE) {
                return Err(SyntaxError::IdValueTooLong);
            }
            let v = v.map(Self::utf8).transpose()?;
            Ok((k, v))
        })?;
        if pairs.len() > MAX_ID_PAIRS {
            return Err(SyntaxError::TooManyIdFields);
        }
        for (i, (k, _)) in pairs.iter().enumerate() {
            if pairs[..i].iter().any(|(o, _)| o.eq_ignore_ascii_case(k)) {
                return Err(SyntaxError::DuplicateIdField(k.clone()));
            }
        }
        Ok(pairs)
    }

    fn copy_or_move(&mut self, uid: bool, is_move: bool) -> R<CommandBody> {
        self.sp()?;
        let set = self.sequence_set()?;
        self.sp()?;
        let mailbox = self.mailbox()?;
        Ok(if is_move {
            CommandBody::Move { uid, set, mailbox }
        } else {
            CommandBody::Copy { uid, set, mailbox }
        })
    }

    fn select_params(&mut self) -> R<SelectParams> {
        let mut params = SelectParams::default();
        if !self.eat(b' ') {
            return Ok(params);
        }
        self.paren_list(1, |p| {
            if p.eat_word("CONDSTORE") {
                params.condstore = true;
            } else if p.eat_word("QRESYNC") {
                p.sp()?;
                p.expect(b'(')?;
                let uid_validity = p.nz_number()?;
                p.sp()?;
                let mod_seq = p.number64()?;
                let mut known_uids = None;
                let mut seq_match = None;
                if p.eat(b' ') {
                    if p.peek() != Some(b'(') {
                        known_uids = Some(p.sequence_set()?);
                        if p.eat(b' ') {
                            seq_match = Some(p.seq_match()?);
                        }
                    } else {
                        seq_match = Some(p.seq_match()?);
                    }
                }
                p.expect(b')')?;
                params.qresync = Some(QresyncParams {
                    uid_validity,
                    mod_seq,
                    known_uids,
                    seq_match,
                });
            } else {
                return Err(SyntaxError::UnknownSelectParameter);
            }
            Ok(())
        })?;
        Ok(params)
    }

    fn seq_match(&mut self) -> R<(SequenceSet, SequenceSet)> {
        self.expect(b'(')?;
        let a = self.sequence_set()?;
        self.sp()?;
        let b = self.sequence_set()?;
        self.expect(b')')?;
        Ok((a, b))
    }

    fn status_item(&mut self) -> R<StatusItem> {
        Ok(match self.upper_atom()?.as_str() {
            "MESSAGES" => StatusItem::Messages,
            "UIDNEXT" => StatusItem::UidNext,
            "UIDVALIDITY" => StatusItem::UidValidity,
            "UNSEEN" => StatusItem::Unseen,
            "DELETED" => StatusItem::Deleted,
            "SIZE" => StatusItem::Size,
            "RECENT" => StatusItem::Recent,
            "HIGHESTMODSEQ" => StatusItem::HighestModSeq,
            "APPENDLIMIT" => StatusItem::AppendLimit,
            a => return Err(SyntaxError::UnknownStatusAttribute(a.to_owned())),
        })
    }

    fn list(&mut self) -> R<ListCommand> {
        self.sp()?;
        let mut selection = Vec::new();
        if self.peek() == Some(b'(') {
            selection = self.paren_list(0, |p| {
                Ok(match p.upper_atom()?.as_str() {
                    "SUBSCRIBED" => ListSelect::Subscribed,
                    "REMOTE" => ListSelect::Remote,
                    "RECURSIVEMATCH" => ListSelect::RecursiveMatch,
                    "SPECIAL-USE" => ListSelect::SpecialUse,
                    o => return Err(SyntaxError::UnknownListSelection(o.to_owned())),
                })
            })?;
            self.sp()?;
        }
        let reference = self.astring()?;
        let reference = self.decode_name(reference)?;
        self.sp()?;
        let patterns = if self.peek() == Some(b'(') {
            self.paren_list(1, Self::list_mailbox)?
        } else {
            vec![self.list_mailbox()?]
        };
        let mut returns = Vec::new();
        if self.eat(b' ') {
            if !self.eat_word("RETURN") {
                return Err(SyntaxError::ExpectedReturn);
            }
            self.sp()?;
            returns = self.paren_list(0, |p| {
                Ok(match p.upper_atom()?.as_str() {
                    "SUBSCRIBED" => ListReturn::Subscribed,
                    "CHILDREN" => ListReturn::Children,
                    "SPECIAL-USE" => ListReturn::SpecialUse,
                    "STATUS" => {
                        p.sp()?;
                        ListReturn::Status(p.paren_list(1, Self::status_item)?)
                    }
                    o => return Err(SyntaxError::UnknownListReturn(o.to_owned())),
                })
            })?;
        }
        Ok(ListCommand {
            selection,
            reference,
            patterns,
            returns,
        })
    }

    fn message_literal(&mut self, utf8: bool) -> R<AppendMessage> {
        let (size, binary) = self.literal_header(true)?;
        let m = self
            .messages
            .get(self.next_message)
            .ok_or(SyntaxError::MessageLiteralMissing)?;
        if m.size != size || m.binary != binary {
            return Err(SyntaxError::MessageLiteralMismatch);
        }
        self.next_message += 1;
        Ok(AppendMessage {
            flags: Vec::new(),
            date: None,
            size,
            binary,
            utf8,
        })
    }

    fn append(&mut self) -> R<CommandBody> {
        self.sp()?;
        let mailbox = self.mailbox()?;
        let mut messages = Vec::new();
        while self.eat(b' ') {
            let mut flags = Vec::new();
            let mut date = None;
            if self.peek() == Some(b'(') {
                flags = self.flag_list()?;
                self.sp()?;
            }
            if self.peek() == Some(b'"') {
                date = Some(self.date_time()?);
                self.sp()?;
            }
            let mut m = if self.eat_word("UTF8") {
                self.sp()?;
                self.expect(b'(')?;
                let m = self.message_literal(true)?;
                if !m.binary {
                    return Err(SyntaxError::Utf8AppendNeedsLiteral8);
                }
                self.expect(b')')?;
                m
            } else {
                self.message_literal(false)?
            };
            m.flags = flags;
            m.date = date;
            messages.push(m);
        }
        if messages.is_empty() {
            return Err(SyntaxError::AppendWithoutMessage);
        }
        Ok(CommandBody::Append { mailbox, messages })
    }

    fn store(&mut self, uid: bool) -> R<StoreCommand> {
        self.sp()?;
        let set = self.sequence_set()?;
        self.sp()?;
        let mut unchanged_since = None;
        if self.peek() == Some(b'(') {
            self.paren_list(1, |p| {
                if !p.eat_word("UNCHANGEDSINCE") {
                    return Err(SyntaxError::UnknownStoreModifier);
                }
                p.sp()?;
                unchanged_since = Some(p.number64()?);
                Ok(())
            })?;
            self.sp()?;
        }
        let action = if self.eat(b'+') {
            StoreAction::Add
        } else if self.eat(b'-') {
            StoreAction::Remove
        } else {
            StoreAction::Replace
        };
        let silent = if self.eat_word("FLAGS") {
            false
        } else if self.eat_word("FLAGS.SILENT") {
            true
        } else {
            return Err(SyntaxError::ExpectedStoreFlags);
        };
        self.sp()?;
        let flags = if self.peek() == Some(b'(') {
            self.flag_list()?
        } else {
            let mut v = vec![self.flag()?];
            while self.eat(b' ') {
                v.push(self.flag()?);
            }
            v
        };
        Ok(StoreCommand {
            uid,
            set,
            unchanged_since,
            action,
            silent,
            flags,
        })
    }
}
