//! Which connection state each command needs (RFC 9051 §3 and §6), and the one rule
//! for answering a command sent in the wrong state.
//!
//! RFC 9051 §3 leaves the answer to a command in an inappropriate state to the server
//! ("BAD or NO"). postern answers:
//! - `NO <COMMAND> not allowed in this connection state` for a command of the other side
//!   of login (LOGIN after login, SELECT before it), as mox does;
//! - `BAD no mailbox selected` for a selected-state command in the authenticated state:
//!   the client broke the protocol's sequence, as Dovecot answers;
//! - `NO [READ-ONLY] mailbox is read-only` for a command that changes a mailbox opened
//!   with EXAMINE (RFC 9051 §6.3.3 allows no change to it; the command is valid, the
//!   mailbox refuses it).

use crate::command::CommandBody;
use crate::response::{Code, StatusKind};

/// The connection state a command needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequiredState {
    /// Any state: CAPABILITY, NOOP, LOGOUT, ID.
    Any,
    /// Not authenticated: STARTTLS, AUTHENTICATE, LOGIN.
    NotAuthenticated,
    /// Authenticated, with or without a selected mailbox.
    Authenticated,
    /// A selected mailbox, read-only (EXAMINE) or read-write (SELECT).
    Selected,
    /// A mailbox selected read-write: the command changes it.
    SelectedWritable,
}

/// The state a connection is in, as far as commands care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionState {
    /// Before login.
    NotAuthenticated,
    /// Logged in, no mailbox selected.
    Authenticated,
    /// A mailbox is selected.
    Selected {
        /// Opened with EXAMINE.
        read_only: bool,
    },
}

/// Why a command is refused in the connection's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateRefusal {
    /// The command belongs to the other side of login.
    NotAllowed,
    /// The command needs a selected mailbox and none is.
    NoMailboxSelected,
    /// The command would change a mailbox selected read-only.
    ReadOnly,
}

impl CommandBody {
    /// The state this command needs.
    pub fn required_state(&self) -> RequiredState {
        use CommandBody as C;
        match self {
            C::Capability | C::Noop | C::Logout | C::Id { .. } => RequiredState::Any,
            C::StartTls | C::Authenticate { .. } | C::Login { .. } => {
                RequiredState::NotAuthenticated
            }
            C::Enable { .. }
            | C::Select { .. }
            | C::Examine { .. }
            | C::Create { .. }
            | C::Delete { .. }
            | C::Rename { .. }
            | C::Subscribe { .. }
            | C::Unsubscribe { .. }
            | C::List(_)
            | C::Lsub { .. }
            | C::Namespace
            | C::Status { .. }
            | C::Append { .. }
            | C::Idle => RequiredState::Authenticated,
            // CHECK is IMAP4rev1's selected-state command (RFC 3501 §6.4.1).
            C::Check | C::Close | C::Unselect | C::Search(_) | C::Fetch(_) | C::Copy { .. } => {
                RequiredState::Selected
            }
            C::Expunge | C::UidExpunge { .. } | C::Store(_) | C::Move { .. } => {
                RequiredState::SelectedWritable
            }
        }
    }
}

impl RequiredState {
    /// Whether a command needing this state may run in `now`, or why not.
    pub fn check(self, now: ConnectionState) -> Result<(), StateRefusal> {
        use ConnectionState as Now;
        match (self, now) {
            (RequiredState::Any, _) | (RequiredState::NotAuthenticated, Now::NotAuthenticated) => {
                Ok(())
            }
            (RequiredState::NotAuthenticated, _) | (_, Now::NotAuthenticated) => {
                Err(StateRefusal::NotAllowed)
            }
            (RequiredState::Authenticated, _) => Ok(()),
            (RequiredState::Selected | RequiredState::SelectedWritable, Now::Authenticated) => {
                Err(StateRefusal::NoMailboxSelected)
            }
            (RequiredState::SelectedWritable, Now::Selected { read_only: true }) => {
                Err(StateRefusal::ReadOnly)
            }
            (RequiredState::Selected | RequiredState::SelectedWritable, Now::Selected { .. }) => {
                Ok(())
            }
        }
    }
}

impl StateRefusal {
    /// The kind of the tagged answer.
    pub fn kind(self) -> StatusKind {
        match self {
            StateRefusal::NotAllowed | StateRefusal::ReadOnly => StatusKind::No,
            StateRefusal::NoMailboxSelected => StatusKind::Bad,
        }
    }

    /// The response code of the tagged answer.
    pub fn code(self) -> Option<Code> {
        match self {
            StateRefusal::ReadOnly => Some(Code::ReadOnly),
            StateRefusal::NotAllowed | StateRefusal::NoMailboxSelected => None,
        }
    }

    /// The text of the tagged answer to the command named `command`
    /// ([`CommandBody::name`]).
    pub fn text(self, command: &str) -> String {
        match self {
            StateRefusal::NotAllowed => format!("{command} not allowed in this connection state"),
            StateRefusal::NoMailboxSelected => "no mailbox selected".to_owned(),
            StateRefusal::ReadOnly => "mailbox is read-only".to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::{SearchCommand, StoreAction, StoreCommand};
    use crate::types::SequenceSet;

    const STATES: [ConnectionState; 4] = [
        ConnectionState::NotAuthenticated,
        ConnectionState::Authenticated,
        ConnectionState::Selected { read_only: true },
        ConnectionState::Selected { read_only: false },
    ];

    fn outcomes(command: &CommandBody) -> Vec<Result<(), StateRefusal>> {
        STATES
            .iter()
            .map(|&now| command.required_state().check(now))
            .collect()
    }

    #[test]
    fn each_state_admits_its_commands() {
        use StateRefusal::*;
        let store = CommandBody::Store(StoreCommand {
            uid: true,
            set: SequenceSet::Saved,
            unchanged_since: None,
            action: StoreAction::Add,
            silent: false,
            flags: Vec::new(),
        });
        let search = CommandBody::Search(SearchCommand {
            uid: false,
            returns: None,
            charset: None,
            criteria: Vec::new(),
        });
        let cases: [(CommandBody, [Result<(), StateRefusal>; 4]); 6] = [
            (CommandBody::Noop, [Ok(()), Ok(()), Ok(()), Ok(())]),
            (
                CommandBody::StartTls,
                [Ok(()), Err(NotAllowed), Err(NotAllowed), Err(NotAllowed)],
            ),
            (
                CommandBody::Namespace,
                [Err(NotAllowed), Ok(()), Ok(()), Ok(())],
            ),
            (
                search,
                [Err(NotAllowed), Err(NoMailboxSelected), Ok(()), Ok(())],
            ),
            (
                store,
                [
                    Err(NotAllowed),
                    Err(NoMailboxSelected),
                    Err(ReadOnly),
                    Ok(()),
                ],
            ),
            (
                CommandBody::Expunge,
                [
                    Err(NotAllowed),
                    Err(NoMailboxSelected),
                    Err(ReadOnly),
                    Ok(()),
                ],
            ),
        ];
        for (command, expected) in cases {
            assert_eq!(outcomes(&command), expected, "{}", command.name());
        }
    }

    #[test]
    fn refusals_answer_as_clients_know() {
        let answer = |r: StateRefusal, name| (r.kind(), r.code(), r.text(name));
        assert_eq!(
            answer(StateRefusal::NotAllowed, "LOGIN"),
            (
                StatusKind::No,
                None,
                "LOGIN not allowed in this connection state".to_owned()
            )
        );
        assert_eq!(
            answer(StateRefusal::NoMailboxSelected, "FETCH"),
            (StatusKind::Bad, None, "no mailbox selected".to_owned())
        );
        assert_eq!(
            answer(StateRefusal::ReadOnly, "STORE"),
            (
                StatusKind::No,
                Some(Code::ReadOnly),
                "mailbox is read-only".to_owned()
            )
        );
    }
}
