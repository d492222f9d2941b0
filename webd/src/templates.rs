//! The pages, as askama templates (`webd/templates/`, checked when webd is compiled,
//! HTML-escaped), and the rows they show.

use askama::Template;
use postern_ipc::web::WebSessionInfo;
use postern_ipc::{AccountSummary, LoginAttempt, LoginResult, RateLimitBlock, TlsPublicKeyInfo};

/// Renders `page`; a template that cannot render (it cannot, once compiled, short of
/// running out of memory) gives a plain message.
pub(crate) fn render<T: Template>(page: &T) -> String {
    page.render()
        .unwrap_or_else(|e| format!("<!doctype html><p>page could not be rendered: {e}</p>"))
}

/// Unix seconds as `YYYY-MM-DD HH:MM:SS` (UTC).
pub(crate) fn utc(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rest = secs.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

#[derive(Template)]
#[template(path = "error.html")]
pub(crate) struct ErrorPage {
    pub(crate) title: &'static str,
    pub(crate) message: String,
    pub(crate) back: &'static str,
}

#[derive(Template)]
#[template(path = "login.html")]
pub(crate) struct LoginPage {
    pub(crate) title: &'static str,
    pub(crate) action: &'static str,
    pub(crate) admin: bool,
    pub(crate) error: Option<String>,
}

/// One row of a login-history table, every column authd records.
pub(crate) struct AttemptRow {
    pub(crate) ok: bool,
    pub(crate) last_seen: String,
    pub(crate) first_seen: String,
    pub(crate) result: &'static str,
    pub(crate) count: u64,
    pub(crate) account: String,
    pub(crate) login_name: String,
    pub(crate) protocol: String,
    pub(crate) mechanism: String,
    pub(crate) user_agent: String,
    pub(crate) remote_ip: String,
    pub(crate) local_ip: String,
    pub(crate) tls: String,
    pub(crate) client_key: String,
}

impl From<LoginAttempt> for AttemptRow {
    fn from(a: LoginAttempt) -> AttemptRow {
        let tls = if a.tls_version.is_empty() {
            String::new()
        } else {
            format!("{} {}", a.tls_version, a.tls_cipher)
        };
        AttemptRow {
            ok: a.result == LoginResult::Ok,
            last_seen: utc(a.last_seen),
            first_seen: utc(a.first_seen),
            result: a.result.name(),
            count: a.count,
            account: a.account,
            login_name: a.login_name,
            protocol: a.protocol,
            mechanism: a.mechanism,
            user_agent: a.user_agent,
            remote_ip: a.remote_ip,
            local_ip: a.local_ip,
            tls,
            client_key: a.client_key,
        }
    }
}

/// Rows for a login-history table.
pub(crate) fn attempt_rows(attempts: Vec<LoginAttempt>) -> Vec<AttemptRow> {
    attempts.into_iter().map(AttemptRow::from).collect()
}

#[derive(Template)]
#[template(path = "overview.html")]
pub(crate) struct OverviewPage {
    pub(crate) csrf: String,
    pub(crate) login_address: String,
    pub(crate) notice: Option<&'static str>,
    pub(crate) account: String,
    pub(crate) addresses: Vec<String>,
    pub(crate) attempts: Vec<AttemptRow>,
    pub(crate) show_account: bool,
    pub(crate) more_attempts: bool,
}

#[derive(Template)]
#[template(path = "password.html")]
pub(crate) struct PasswordPage {
    pub(crate) csrf: String,
    pub(crate) login_address: String,
    pub(crate) notice: Option<&'static str>,
}

/// A registered key as the pages show it.
pub(crate) struct KeyRow {
    pub(crate) fingerprint: String,
    pub(crate) created: String,
    pub(crate) name: String,
    pub(crate) key_type: String,
    pub(crate) login_address: String,
    pub(crate) no_imap_preauth: bool,
}

impl From<TlsPublicKeyInfo> for KeyRow {
    fn from(k: TlsPublicKeyInfo) -> KeyRow {
        KeyRow {
            fingerprint: k.fingerprint,
            created: utc(k.created),
            name: k.name,
            key_type: k.key_type,
            login_address: k.login_address,
            no_imap_preauth: k.no_imap_preauth,
        }
    }
}

#[derive(Template)]
#[template(path = "keys.html")]
pub(crate) struct KeysPage {
    pub(crate) csrf: String,
    pub(crate) login_address: String,
    pub(crate) notice: Option<&'static str>,
    pub(crate) keys: Vec<KeyRow>,
    pub(crate) addresses: Vec<String>,
}

#[derive(Template)]
#[template(path = "attempts.html")]
pub(crate) struct AttemptsPage {
    pub(crate) csrf: String,
    pub(crate) login_address: String,
    pub(crate) admin: bool,
    pub(crate) heading: String,
    pub(crate) attempts: Vec<AttemptRow>,
    pub(crate) show_account: bool,
}

/// A web session as its owner sees it.
pub(crate) struct SessionRow {
    pub(crate) id: i64,
    pub(crate) created: String,
    pub(crate) last_used: String,
    pub(crate) login_address: String,
    pub(crate) user_agent: String,
    pub(crate) remote_ip: String,
    pub(crate) current: bool,
}

impl From<WebSessionInfo> for SessionRow {
    fn from(s: WebSessionInfo) -> SessionRow {
        SessionRow {
            id: s.id,
            created: utc(s.created),
            last_used: utc(s.last_used),
            login_address: s.login_address,
            user_agent: s.user_agent,
            remote_ip: s.remote_ip,
            current: s.current,
        }
    }
}

#[derive(Template)]
#[template(path = "export.html")]
pub(crate) struct ExportPage {
    pub(crate) csrf: String,
    pub(crate) login_address: String,
}

#[derive(Template)]
#[template(path = "sessions.html")]
pub(crate) struct SessionsPage {
    pub(crate) csrf: String,
    pub(crate) login_address: String,
    pub(crate) notice: Option<&'static str>,
    pub(crate) sessions: Vec<SessionRow>,
}

/// An account in the admin's list.
pub(crate) struct AccountRow {
    pub(crate) name: String,
    pub(crate) addresses: String,
    pub(crate) has_password: bool,
    pub(crate) disabled: Option<String>,
    pub(crate) created: String,
}

impl From<AccountSummary> for AccountRow {
    fn from(a: AccountSummary) -> AccountRow {
        AccountRow {
            name: a.name,
            addresses: a.addresses.join(", "),
            has_password: a.has_password,
            disabled: a.disabled,
            created: utc(a.created),
        }
    }
}

/// A rate-limit block as the admin sees it.
pub(crate) struct BlockRow {
    pub(crate) network: String,
    pub(crate) window: String,
    pub(crate) failures: u32,
    pub(crate) limit: u32,
    pub(crate) until: String,
}

impl From<RateLimitBlock> for BlockRow {
    fn from(b: RateLimitBlock) -> BlockRow {
        BlockRow {
            network: b.network,
            window: b.window,
            failures: b.failures,
            limit: b.limit,
            until: utc(b.until),
        }
    }
}

#[derive(Template)]
#[template(path = "admin_home.html")]
pub(crate) struct AdminHomePage {
    pub(crate) csrf: String,
    pub(crate) notice: Option<&'static str>,
    pub(crate) accounts: Vec<AccountRow>,
    pub(crate) blocks: Vec<BlockRow>,
    pub(crate) attempts: Vec<AttemptRow>,
    pub(crate) show_account: bool,
}

#[derive(Template)]
#[template(path = "admin_account.html")]
pub(crate) struct AdminAccountPage {
    pub(crate) csrf: String,
    pub(crate) notice: Option<&'static str>,
    pub(crate) account: AccountRow,
    pub(crate) addresses: Vec<String>,
    pub(crate) keys: Vec<KeyRow>,
    pub(crate) attempts: Vec<AttemptRow>,
    pub(crate) show_account: bool,
}

#[derive(Template)]
#[template(path = "admin_remove.html")]
pub(crate) struct AdminRemovePage {
    pub(crate) csrf: String,
    pub(crate) account: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_dates() {
        assert_eq!(utc(0), "1970-01-01 00:00:00");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00:00");
        assert_eq!(utc(1_790_000_000), "2026-09-21 14:13:20");
        assert_eq!(utc(-1), "1969-12-31 23:59:59");
    }

    #[test]
    fn pages_escape_what_they_show() {
        let page = ErrorPage {
            title: "t",
            message: "<script>alert(1)</script>".into(),
            back: "/",
        };
        let html = render(&page);
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("&#60;script&#62;") || html.contains("&lt;script&gt;"));
    }
}
