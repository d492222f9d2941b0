//! The wire enums are append-only: bincode encodes a variant by its index, so a
//! reordered or removed variant would make old and new daemons misread each other.
//! Each enum here has an exhaustive table of its variants' indices (a new variant does
//! not compile until it is added at the end) and one sample per variant whose encoding
//! must start with that index.

use std::net::{IpAddr, Ipv4Addr};

use postern_ipc::admin::{AdminRequest, AdminResponse};
use postern_ipc::auth::{
    AuthRequest, AuthResponse, CertificateVerdict, RequestError, SaslReply, WebSessionReply,
};
use postern_ipc::frame::encode_payload;
use postern_ipc::store::{
    DeliveredMessage, Delivery, DeliveryFailure, FailureKind, ImportSummary, ImportedMessage,
    MailboxPage, MessagePage, StoreRefusal, StoreRequest, StoreResponse,
};
use postern_ipc::web::{
    AccountOverview, AccountRequest, AccountResponse, AdminSession, IssuedTicket, MailPurpose,
    WebAuth, WebRefusal,
};
use postern_ipc::{AuthFailure, ConnectionInfo, Mechanism, Protocol, Secret};

fn first_byte<T: serde::Serialize>(value: &T) -> u8 {
    encode_payload(value, usize::MAX).expect("encodes")[0]
}

/// Checks every sample against the table and that the samples cover every index once.
fn check<T: serde::Serialize + std::fmt::Debug>(samples: &[T], index: fn(&T) -> u8) {
    let mut seen: Vec<u8> = samples.iter().map(index).collect();
    for sample in samples {
        assert_eq!(first_byte(sample), index(sample), "{sample:?}");
    }
    seen.sort_unstable();
    let expected: Vec<u8> = (0..samples.len() as u8).collect();
    assert_eq!(seen, expected, "one sample per variant");
}

fn secret() -> Secret<String> {
    Secret("x".into())
}

fn connection() -> ConnectionInfo {
    ConnectionInfo {
        protocol: Protocol::Web,
        remote_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
        local_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
        tls: None,
        client_key: None,
        user_agent: None,
    }
}

fn auth() -> WebAuth {
    WebAuth {
        token: secret(),
        csrf: None,
        connection: connection(),
    }
}

fn ticket() -> IssuedTicket {
    IssuedTicket {
        ticket: secret(),
        account: "a".into(),
        purpose: MailPurpose::Import,
        expires: 0,
    }
}

#[test]
fn auth_request() {
    check(
        &[
            AuthRequest::Hello { version: 1 },
            AuthRequest::SaslStart {
                mechanism: Mechanism::Plain,
                initial_response: None,
                connection: connection(),
            },
            AuthRequest::SaslStep {
                response: Secret(Vec::new()),
            },
            AuthRequest::SaslAbort,
            AuthRequest::CertificateLogin {
                connection: connection(),
            },
            AuthRequest::ResolveAddress {
                address: "a".into(),
            },
            AuthRequest::WebLogin {
                username: "a".into(),
                password: secret(),
                connection: connection(),
            },
            AuthRequest::WebSessionCheck {
                token: secret(),
                csrf: None,
                connection: connection(),
            },
            AuthRequest::WebLogout { token: secret() },
            AuthRequest::PendingAccountRemovals,
            AuthRequest::AccountDataRemoved {
                account: "a".into(),
            },
            AuthRequest::Account {
                auth: auth(),
                request: AccountRequest::Overview,
            },
            AuthRequest::AdminLogin {
                password: secret(),
                connection: connection(),
            },
            AuthRequest::AdminSessionCheck { auth: auth() },
            AuthRequest::AdminLogout { token: secret() },
            AuthRequest::Admin {
                auth: auth(),
                request: AdminRequest::AccountList,
            },
            AuthRequest::MailTicket {
                auth: auth(),
                purpose: MailPurpose::Export,
                account: None,
            },
            AuthRequest::RedeemMailTicket {
                ticket: secret(),
                purpose: MailPurpose::Import,
                caller_uid: 0,
            },
            AuthRequest::WatchAccountEnds,
        ],
        |r| match r {
            AuthRequest::Hello { .. } => 0,
            AuthRequest::SaslStart { .. } => 1,
            AuthRequest::SaslStep { .. } => 2,
            AuthRequest::SaslAbort => 3,
            AuthRequest::CertificateLogin { .. } => 4,
            AuthRequest::ResolveAddress { .. } => 5,
            AuthRequest::WebLogin { .. } => 6,
            AuthRequest::WebSessionCheck { .. } => 7,
            AuthRequest::WebLogout { .. } => 8,
            AuthRequest::PendingAccountRemovals => 9,
            AuthRequest::AccountDataRemoved { .. } => 10,
            AuthRequest::Account { .. } => 11,
            AuthRequest::AdminLogin { .. } => 12,
            AuthRequest::AdminSessionCheck { .. } => 13,
            AuthRequest::AdminLogout { .. } => 14,
            AuthRequest::Admin { .. } => 15,
            AuthRequest::MailTicket { .. } => 16,
            AuthRequest::RedeemMailTicket { .. } => 17,
            AuthRequest::WatchAccountEnds => 18,
        },
    );
}

#[test]
fn auth_response() {
    check(
        &[
            AuthResponse::Hello { version: 1 },
            AuthResponse::Sasl(SaslReply::Challenge(Vec::new())),
            AuthResponse::Certificate(CertificateVerdict::Unknown),
            AuthResponse::Address(None),
            AuthResponse::WebSession(WebSessionReply::Invalid(AuthFailure::BadCredentials)),
            AuthResponse::PendingRemovals(Vec::new()),
            AuthResponse::Done,
            AuthResponse::Error(RequestError::Version(1)),
            AuthResponse::Account(AccountResponse::Done),
            AuthResponse::AdminSession(AdminSession {
                token: None,
                csrf: None,
            }),
            AuthResponse::Admin(AdminResponse::Done),
            AuthResponse::MailTicket(ticket()),
            AuthResponse::TicketRedeemed {
                account: "a".into(),
            },
            AuthResponse::WebRefused(WebRefusal::NoSession),
            AuthResponse::AccountEnded(postern_ipc::auth::AccountEnd {
                account: "a".into(),
                message: "m".into(),
            }),
        ],
        |r| match r {
            AuthResponse::Hello { .. } => 0,
            AuthResponse::Sasl(_) => 1,
            AuthResponse::Certificate(_) => 2,
            AuthResponse::Address(_) => 3,
            AuthResponse::WebSession(_) => 4,
            AuthResponse::PendingRemovals(_) => 5,
            AuthResponse::Done => 6,
            AuthResponse::Error(_) => 7,
            AuthResponse::Account(_) => 8,
            AuthResponse::AdminSession(_) => 9,
            AuthResponse::Admin(_) => 10,
            AuthResponse::MailTicket(_) => 11,
            AuthResponse::TicketRedeemed { .. } => 12,
            AuthResponse::WebRefused(_) => 13,
            AuthResponse::AccountEnded(_) => 14,
        },
    );
}

#[test]
fn admin_request() {
    let a = || "a".to_string();
    check(
        &[
            AdminRequest::Hello { version: 1 },
            AdminRequest::AccountAdd {
                account: a(),
                address: a(),
            },
            AdminRequest::AccountRemove { account: a() },
            AdminRequest::AccountList,
            AdminRequest::AccountSetPassword {
                account: a(),
                password: secret(),
            },
            AdminRequest::AccountSetDisabled {
                account: a(),
                disabled: None,
            },
            AdminRequest::AddressAdd {
                address: a(),
                account: a(),
            },
            AdminRequest::AddressRemove { address: a() },
            AdminRequest::TlsPublicKeyAdd {
                account: a(),
                login_address: a(),
                certificate_der: Vec::new(),
                name: None,
                no_imap_preauth: false,
            },
            AdminRequest::TlsPublicKeyList { account: None },
            AdminRequest::TlsPublicKeyRemove { fingerprint: a() },
            AdminRequest::LoginAttempts {
                account: None,
                limit: None,
            },
            AdminRequest::RateLimitList,
            AdminRequest::RateLimitClear { address: None },
            AdminRequest::AdminPasswordSet { password: secret() },
            AdminRequest::MailTicket {
                account: a(),
                purpose: MailPurpose::Export,
            },
        ],
        |r| match r {
            AdminRequest::Hello { .. } => 0,
            AdminRequest::AccountAdd { .. } => 1,
            AdminRequest::AccountRemove { .. } => 2,
            AdminRequest::AccountList => 3,
            AdminRequest::AccountSetPassword { .. } => 4,
            AdminRequest::AccountSetDisabled { .. } => 5,
            AdminRequest::AddressAdd { .. } => 6,
            AdminRequest::AddressRemove { .. } => 7,
            AdminRequest::TlsPublicKeyAdd { .. } => 8,
            AdminRequest::TlsPublicKeyList { .. } => 9,
            AdminRequest::TlsPublicKeyRemove { .. } => 10,
            AdminRequest::LoginAttempts { .. } => 11,
            AdminRequest::RateLimitList => 12,
            AdminRequest::RateLimitClear { .. } => 13,
            AdminRequest::AdminPasswordSet { .. } => 14,
            AdminRequest::MailTicket { .. } => 15,
        },
    );
}

#[test]
fn admin_response() {
    check(
        &[
            AdminResponse::Hello { version: 1 },
            AdminResponse::Done,
            AdminResponse::Accounts(Vec::new()),
            AdminResponse::TlsPublicKeys(Vec::new()),
            AdminResponse::TlsPublicKeyAdded(postern_ipc::TlsPublicKeyInfo {
                fingerprint: String::new(),
                created: 0,
                name: String::new(),
                key_type: String::new(),
                account: String::new(),
                login_address: String::new(),
                no_imap_preauth: false,
            }),
            AdminResponse::LoginAttempts(Vec::new()),
            AdminResponse::RateLimits(Vec::new()),
            AdminResponse::Error(String::new()),
            AdminResponse::MailTicket(ticket()),
        ],
        |r| match r {
            AdminResponse::Hello { .. } => 0,
            AdminResponse::Done => 1,
            AdminResponse::Accounts(_) => 2,
            AdminResponse::TlsPublicKeys(_) => 3,
            AdminResponse::TlsPublicKeyAdded(_) => 4,
            AdminResponse::LoginAttempts(_) => 5,
            AdminResponse::RateLimits(_) => 6,
            AdminResponse::Error(_) => 7,
            AdminResponse::MailTicket(_) => 8,
        },
    );
}

#[test]
fn account_request_and_response() {
    let a = || "a".to_string();
    check(
        &[
            AccountRequest::Overview,
            AccountRequest::ChangePassword {
                current: secret(),
                new: secret(),
            },
            AccountRequest::TlsPublicKeys,
            AccountRequest::TlsPublicKeyAdd {
                certificate_pem: a(),
                login_address: None,
                name: None,
                no_imap_preauth: false,
            },
            AccountRequest::TlsPublicKeyUpdate {
                fingerprint: a(),
                name: a(),
                login_address: a(),
                no_imap_preauth: true,
            },
            AccountRequest::TlsPublicKeyRemove { fingerprint: a() },
            AccountRequest::LoginAttempts { limit: None },
            AccountRequest::WebSessions,
            AccountRequest::WebSessionRevoke { id: 1 },
        ],
        |r| match r {
            AccountRequest::Overview => 0,
            AccountRequest::ChangePassword { .. } => 1,
            AccountRequest::TlsPublicKeys => 2,
            AccountRequest::TlsPublicKeyAdd { .. } => 3,
            AccountRequest::TlsPublicKeyUpdate { .. } => 4,
            AccountRequest::TlsPublicKeyRemove { .. } => 5,
            AccountRequest::LoginAttempts { .. } => 6,
            AccountRequest::WebSessions => 7,
            AccountRequest::WebSessionRevoke { .. } => 8,
        },
    );
    check(
        &[
            AccountResponse::Overview(AccountOverview {
                account: a(),
                login_address: a(),
                addresses: Vec::new(),
            }),
            AccountResponse::Done,
            AccountResponse::TlsPublicKeys(Vec::new()),
            AccountResponse::TlsPublicKeyAdded(postern_ipc::TlsPublicKeyInfo {
                fingerprint: a(),
                created: 0,
                name: a(),
                key_type: a(),
                account: a(),
                login_address: a(),
                no_imap_preauth: false,
            }),
            AccountResponse::LoginAttempts(Vec::new()),
            AccountResponse::WebSessions(Vec::new()),
        ],
        |r| match r {
            AccountResponse::Overview(_) => 0,
            AccountResponse::Done => 1,
            AccountResponse::TlsPublicKeys(_) => 2,
            AccountResponse::TlsPublicKeyAdded(_) => 3,
            AccountResponse::LoginAttempts(_) => 4,
            AccountResponse::WebSessions(_) => 5,
        },
    );
}

#[test]
fn web_refusal_and_purpose() {
    check(
        &[
            WebRefusal::NoSession,
            WebRefusal::Csrf,
            WebRefusal::RateLimited,
            WebRefusal::LoginDisabled {
                message: String::new(),
            },
            WebRefusal::NotPermitted,
            WebRefusal::BadCredentials,
            WebRefusal::Rejected(String::new()),
            WebRefusal::Temporary,
        ],
        |r| match r {
            WebRefusal::NoSession => 0,
            WebRefusal::Csrf => 1,
            WebRefusal::RateLimited => 2,
            WebRefusal::LoginDisabled { .. } => 3,
            WebRefusal::NotPermitted => 4,
            WebRefusal::BadCredentials => 5,
            WebRefusal::Rejected(_) => 6,
            WebRefusal::Temporary => 7,
        },
    );
    check(&[MailPurpose::Import, MailPurpose::Export], |p| match p {
        MailPurpose::Import => 0,
        MailPurpose::Export => 1,
    });
}

#[test]
fn store_request() {
    let a = || "a".to_string();
    check(
        &[
            StoreRequest::Hello { version: 1 },
            StoreRequest::Deliver(Delivery {
                account: a(),
                mailbox: None,
                flags: Vec::new(),
                keywords: Vec::new(),
                received: 0,
            }),
            StoreRequest::ImportBegin { ticket: secret() },
            StoreRequest::ImportMailbox { mailbox: a() },
            StoreRequest::ImportMessage(ImportedMessage {
                mailbox: a(),
                flags: Vec::new(),
                keywords: Vec::new(),
                received: 0,
            }),
            StoreRequest::ImportCommit,
            StoreRequest::ImportAbort,
            StoreRequest::ExportBegin { ticket: secret() },
            StoreRequest::ExportMailboxes { start: 0 },
            StoreRequest::ExportMessages {
                mailbox: a(),
                after_uid: 0,
            },
            StoreRequest::ExportOpen {
                mailbox: a(),
                uid: 1,
            },
        ],
        |r| match r {
            StoreRequest::Hello { .. } => 0,
            StoreRequest::Deliver(_) => 1,
            StoreRequest::ImportBegin { .. } => 2,
            StoreRequest::ImportMailbox { .. } => 3,
            StoreRequest::ImportMessage(_) => 4,
            StoreRequest::ImportCommit => 5,
            StoreRequest::ImportAbort => 6,
            StoreRequest::ExportBegin { .. } => 7,
            StoreRequest::ExportMailboxes { .. } => 8,
            StoreRequest::ExportMessages { .. } => 9,
            StoreRequest::ExportOpen { .. } => 10,
        },
    );
}

#[test]
fn store_response() {
    let a = || "a".to_string();
    check(
        &[
            StoreResponse::Hello { version: 1 },
            StoreResponse::Delivered(DeliveredMessage {
                mailbox: a(),
                uidvalidity: 1,
                uid: 1,
                size: 1,
            }),
            StoreResponse::Failed(DeliveryFailure {
                kind: FailureKind::Permanent,
                reason: a(),
            }),
            StoreResponse::Refused(StoreRefusal::Version(1)),
            StoreResponse::ImportStarted { account: a() },
            StoreResponse::ImportMailboxAccepted { mailbox: a() },
            StoreResponse::ImportAccepted { size: 1 },
            StoreResponse::ImportCommitted(ImportSummary {
                messages: 0,
                bytes: 0,
                mailboxes: Vec::new(),
            }),
            StoreResponse::ImportAborted,
            StoreResponse::ExportStarted { account: a() },
            StoreResponse::Mailboxes(MailboxPage {
                mailboxes: Vec::new(),
                next: None,
            }),
            StoreResponse::Messages(MessagePage {
                messages: Vec::new(),
                more: false,
            }),
            StoreResponse::MessageOpened { size: 1 },
        ],
        |r| match r {
            StoreResponse::Hello { .. } => 0,
            StoreResponse::Delivered(_) => 1,
            StoreResponse::Failed(_) => 2,
            StoreResponse::Refused(_) => 3,
            StoreResponse::ImportStarted { .. } => 4,
            StoreResponse::ImportMailboxAccepted { .. } => 5,
            StoreResponse::ImportAccepted { .. } => 6,
            StoreResponse::ImportCommitted(_) => 7,
            StoreResponse::ImportAborted => 8,
            StoreResponse::ExportStarted { .. } => 9,
            StoreResponse::Mailboxes(_) => 10,
            StoreResponse::Messages(_) => 11,
            StoreResponse::MessageOpened { .. } => 12,
        },
    );
}
