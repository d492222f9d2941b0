//! The web pages through the real binaries: authd, webd (and imapd where a test checks
//! what a page changed for IMAP), driven with curl as the browser and Python's imaplib
//! as the mail client — clients nobody here wrote.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

use postern_ipc::Secret;
use postern_ipc::admin::AdminRequest;
use postern_testkit::{
    AuthdProcess, ChildProcess, ClientCertificate, SelfSignedCertificate, base_config,
    daemon_command, free_loopback_address, is_listening, python, tool_available, wait_for_start,
    workspace_binary,
};

const PASSWORD: &str = "first password 1";
const NEW_PASSWORD: &str = "second password 2";
const ADMIN_PASSWORD: &str = "the admin password";

/// authd, webd and optionally imapd on one temporary directory.
struct Servers {
    dir: tempfile::TempDir,
    authd: AuthdProcess,
    _webd: ChildProcess,
    _imapd: Option<ChildProcess>,
    http: SocketAddr,
    https: SocketAddr,
    admin: SocketAddr,
    imaps: SocketAddr,
    cert: PathBuf,
}

impl Servers {
    /// Starts authd with accounts `mjl` (mjl@example.org) and `bob` (bob@example.org)
    /// and the admin password, webd, and with `imap` imapd; `extra` is appended to the
    /// config.
    async fn start(imap: bool, extra: &str) -> Servers {
        Servers::start_with(imap, "", extra).await
    }

    /// As [`Servers::start`], with `webd_extra` in the `[webd]` section.
    async fn start_with(imap: bool, webd_extra: &str, extra: &str) -> Servers {
        let dir = tempfile::tempdir().unwrap();
        let uid = std::fs::metadata(dir.path())
            .map(|m| std::os::unix::fs::MetadataExt::uid(&m))
            .unwrap();
        let certificate = SelfSignedCertificate::write(dir.path(), &["localhost"]);
        let (http, https, admin, imaps, imap_plain) = (
            free_loopback_address(),
            free_loopback_address(),
            free_loopback_address(),
            free_loopback_address(),
            free_loopback_address(),
        );
        let cert = certificate.cert_path.display().to_string();
        let key = certificate.key_path.display().to_string();
        let config = base_config(dir.path(), true, imap)
            + &format!(
                r#"
[webd]
user = {uid}
http_listen = ["{http}"]
https_listen = ["{https}"]
admin_listen = ["{admin}"]
tls_certificate = "{cert}"
tls_key = "{key}"
{webd_extra}

[imapd]
user = {uid}
imap_listen = ["{imap_plain}"]
imaps_listen = ["{imaps}"]
tls_certificate = "{cert}"
tls_key = "{key}"
{extra}
"#
            );
        let config_path = dir.path().join("postern.toml");
        std::fs::write(&config_path, config).unwrap();
        let authd = AuthdProcess::start(&config_path).await;
        for (account, address) in [("mjl", "mjl@example.org"), ("bob", "bob@example.org")] {
            authd.create_account(account, address, PASSWORD).await;
        }
        authd
            .admin(AdminRequest::AdminPasswordSet {
                password: Secret(ADMIN_PASSWORD.into()),
            })
            .await;
        let imapd = if imap {
            let binary = workspace_binary("postern-imapd", "postern-imapd");
            let mut imapd = ChildProcess::spawn(&mut daemon_command(&binary, &config_path));
            wait_for_start(&mut imapd, "imapd", async || is_listening(&[imaps])).await;
            Some(imapd)
        } else {
            None
        };
        let binary = Path::new(env!("CARGO_BIN_EXE_postern-webd"));
        let mut webd = ChildProcess::spawn(&mut daemon_command(binary, &config_path));
        wait_for_start(&mut webd, "webd", async || {
            is_listening(&[http, https, admin])
        })
        .await;
        Servers {
            dir,
            authd,
            _webd: webd,
            _imapd: imapd,
            http,
            https,
            admin,
            imaps,
            cert: certificate.cert_path,
        }
    }

    /// A browser (its own cookie jar) on the account pages over plain HTTP.
    fn browser(&self, name: &str) -> Browser {
        Browser::new(
            self.dir.path().join(format!("{name}.cookies")),
            format!("http://{}", self.http),
            Vec::new(),
        )
    }

    /// A browser on the account pages over HTTPS (as `localhost`, trusting the test
    /// certificate).
    fn https_browser(&self, name: &str) -> Browser {
        Browser::new(
            self.dir.path().join(format!("{name}.cookies")),
            format!("https://localhost:{}", self.https.port()),
            vec![
                "--cacert".into(),
                self.cert.display().to_string(),
                "--resolve".into(),
                format!("localhost:{}:127.0.0.1", self.https.port()),
            ],
        )
    }

    /// A browser on the admin listener.
    fn admin_browser(&self, name: &str) -> Browser {
        Browser::new(
            self.dir.path().join(format!("{name}.cookies")),
            format!("http://{}", self.admin),
            Vec::new(),
        )
    }

    /// Python imaplib over IMAPS: LOGIN with `password`; "ok" or the error text.
    fn imap_login(&self, user: &str, password: &str) -> String {
        python(
            r#"
import imaplib, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[2])
ctx.check_hostname = False
c = imaplib.IMAP4_SSL("127.0.0.1", int(sys.argv[1]), ssl_context=ctx)
try:
    c.login(sys.argv[3], sys.argv[4])
    print("ok")
except imaplib.IMAP4.error as e:
    print("refused", e)
"#,
            &[
                &self.imaps.port().to_string(),
                &self.cert.display().to_string(),
                user,
                password,
            ],
        )
        .trim()
        .to_string()
    }

    /// Python over IMAPS with a client certificate: the greeting line.
    fn imap_greeting_with_certificate(&self, cert: &Path, key: &Path) -> String {
        python(
            r#"
import imaplib, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[2])
ctx.check_hostname = False
ctx.load_cert_chain(sys.argv[3], sys.argv[4])
c = imaplib.IMAP4_SSL("127.0.0.1", int(sys.argv[1]), ssl_context=ctx)
print(c.welcome.decode())
"#,
            &[
                &self.imaps.port().to_string(),
                &self.cert.display().to_string(),
                &cert.display().to_string(),
                &key.display().to_string(),
            ],
        )
        .trim()
        .to_string()
    }
}

/// An HTTP answer as curl got it.
#[derive(Debug)]
struct Answer {
    status: u16,
    headers: String,
    body: String,
}

impl Answer {
    /// The value of header `name` (case-insensitive), the first one.
    fn header(&self, name: &str) -> Option<String> {
        self.headers.lines().find_map(|line| {
            let (n, v) = line.split_once(':')?;
            n.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_string())
        })
    }

    /// Every `Set-Cookie` line.
    fn set_cookies(&self) -> Vec<String> {
        self.headers
            .lines()
            .filter_map(|line| {
                let (n, v) = line.split_once(':')?;
                n.trim()
                    .eq_ignore_ascii_case("set-cookie")
                    .then(|| v.trim().to_string())
            })
            .collect()
    }

    /// The CSRF token the page put into its forms.
    fn csrf(&self) -> String {
        let marker = "name=\"csrf\" value=\"";
        let start = self
            .body
            .find(marker)
            .unwrap_or_else(|| panic!("no csrf field in {}", self.body))
            + marker.len();
        let end = self.body[start..].find('"').unwrap() + start;
        self.body[start..end].to_string()
    }
}

/// curl with a cookie jar: one browser.
struct Browser {
    jar: PathBuf,
    base: String,
    extra: Vec<String>,
}

impl Browser {
    fn new(jar: PathBuf, base: String, extra: Vec<String>) -> Browser {
        assert!(tool_available("curl", "curl"), "curl is needed");
        Browser { jar, base, extra }
    }

    fn run(&self, path: &str, args: &[String]) -> Answer {
        let headers = tempfile::NamedTempFile::new().unwrap();
        let output = Command::new("curl")
            .args(["-s", "-S", "-o", "-", "-D"])
            .arg(headers.path())
            .arg("-b")
            .arg(&self.jar)
            .arg("-c")
            .arg(&self.jar)
            .args(&self.extra)
            .args(args)
            .arg(format!("{}{path}", self.base))
            .output()
            .expect("running curl");
        assert!(
            output.status.success(),
            "curl failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let headers = std::fs::read_to_string(headers.path()).unwrap();
        let status = headers
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no status in {headers}"));
        Answer {
            status,
            headers,
            body: String::from_utf8_lossy(&output.stdout).into_owned(),
        }
    }

    fn get(&self, path: &str) -> Answer {
        self.run(path, &[])
    }

    /// A form POST with `fields` (url-encoded) and extra curl arguments.
    fn post_with(&self, path: &str, fields: &[(&str, &str)], extra: &[&str]) -> Answer {
        let mut args: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        if fields.is_empty() {
            args.extend(["-X".into(), "POST".into()]);
        }
        for (name, value) in fields {
            args.push("--data-urlencode".into());
            args.push(format!("{name}={value}"));
        }
        self.run(path, &args)
    }

    fn post(&self, path: &str, fields: &[(&str, &str)]) -> Answer {
        self.post_with(path, fields, &[])
    }

    /// Logs in on the account pages; panics unless it worked.
    fn login(&self, address: &str, password: &str) -> Answer {
        let answer = self.post("/login", &[("address", address), ("password", password)]);
        assert_eq!(answer.status, 303, "{answer:?}");
        assert_eq!(answer.header("location").as_deref(), Some("/"));
        answer
    }
}

fn assert_security_headers(answer: &Answer) {
    let csp = answer.header("content-security-policy").expect("CSP");
    assert!(csp.contains("default-src 'none'"), "{csp}");
    assert!(!csp.contains("script-src"), "{csp}");
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(answer.header("x-frame-options").as_deref(), Some("DENY"));
    assert_eq!(
        answer.header("x-content-type-options").as_deref(),
        Some("nosniff")
    );
    assert_eq!(
        answer.header("referrer-policy").as_deref(),
        Some("no-referrer")
    );
}

#[tokio::test]
async fn login_overview_password_change_and_logout_over_https() {
    let servers = Servers::start(true, "").await;
    let browser = servers.https_browser("a");
    let other = servers.https_browser("b");

    // Not logged in: the login page.
    let answer = browser.get("/");
    assert_eq!(answer.status, 303);
    assert_eq!(answer.header("location").as_deref(), Some("/login"));
    let answer = browser.get("/login");
    assert_eq!(answer.status, 200);
    assert_security_headers(&answer);

    // A wrong password.
    let answer = browser.post(
        "/login",
        &[("address", "mjl@example.org"), ("password", "wrong")],
    );
    assert_eq!(answer.status, 403);
    assert!(
        answer.body.contains("Wrong address or password"),
        "{}",
        answer.body
    );

    // The right one: HttpOnly, SameSite=Strict, Secure __Host- cookies.
    let answer = browser.login("mjl@example.org", PASSWORD);
    let cookies = answer.set_cookies();
    assert_eq!(cookies.len(), 2, "{cookies:?}");
    for cookie in &cookies {
        assert!(cookie.starts_with("__Host-postern-"), "{cookie}");
        for part in ["HttpOnly", "SameSite=Strict", "Secure", "Path=/"] {
            assert!(cookie.contains(part), "{cookie}");
        }
    }
    other.login("mjl@example.org", PASSWORD);

    let overview = browser.get("/");
    assert_eq!(overview.status, 200, "{overview:?}");
    assert_security_headers(&overview);
    assert_eq!(
        overview.header("cache-control").as_deref(),
        Some("no-store")
    );
    assert!(
        overview.body.contains("mjl@example.org"),
        "{}",
        overview.body
    );
    // The login just made is in the history, with its TLS facts.
    assert!(overview.body.contains("web-password"), "{}", overview.body);
    assert!(overview.body.contains("TLSv1.3"), "{}", overview.body);

    // Change the password: the current one is asked.
    let page = browser.get("/password");
    let csrf = page.csrf();
    let answer = browser.post(
        "/password",
        &[
            ("csrf", &csrf),
            ("current", "not it"),
            ("new", NEW_PASSWORD),
            ("repeat", NEW_PASSWORD),
        ],
    );
    assert_eq!(answer.status, 400, "{answer:?}");
    assert!(
        answer.body.contains("current password is wrong"),
        "{}",
        answer.body
    );
    assert_eq!(servers.imap_login("mjl@example.org", PASSWORD), "ok");

    let answer = browser.post(
        "/password",
        &[
            ("csrf", &csrf),
            ("current", PASSWORD),
            ("new", NEW_PASSWORD),
            ("repeat", NEW_PASSWORD),
        ],
    );
    assert_eq!(answer.status, 303, "{answer:?}");
    // The old password stops working for IMAP at once, the new one works.
    assert!(
        servers
            .imap_login("mjl@example.org", PASSWORD)
            .starts_with("refused"),
    );
    assert_eq!(servers.imap_login("mjl@example.org", NEW_PASSWORD), "ok");
    // This session stays, the other browser's ended.
    assert_eq!(browser.get("/").status, 200);
    assert_eq!(other.get("/").status, 303);

    // Logout ends the session in authd, not only in this browser.
    let cookie_file = std::fs::read_to_string(&browser.jar).unwrap();
    let answer = browser.post("/logout", &[("csrf", &csrf)]);
    assert_eq!(answer.status, 303);
    assert_eq!(answer.header("location").as_deref(), Some("/login"));
    assert_eq!(browser.get("/").status, 303);
    std::fs::write(&browser.jar, cookie_file).unwrap();
    assert_eq!(
        browser.get("/").status,
        303,
        "a logged-out token still works"
    );
}

#[tokio::test]
async fn tls_key_from_an_uploaded_certificate_logs_in_to_imap_with_preauth() {
    let servers = Servers::start(true, "").await;
    let browser = servers.browser("a");
    browser.login("mjl@example.org", PASSWORD);
    let page = browser.get("/keys");
    assert_eq!(page.status, 200);
    assert!(page.body.contains("openssl req"), "{}", page.body);
    assert!(page.body.contains("openssl pkcs12"), "{}", page.body);
    let csrf = page.csrf();

    let client = ClientCertificate::generate("laptop");
    let cert = servers.dir.path().join("laptop.pem");
    let key = servers.dir.path().join("laptop.key");
    std::fs::write(&cert, &client.cert_pem).unwrap();
    std::fs::write(&key, &client.key_pem).unwrap();
    // Without a registered key: the usual greeting.
    let greeting = servers.imap_greeting_with_certificate(&cert, &key);
    assert!(greeting.starts_with("* OK"), "{greeting}");

    let answer = browser.run(
        "/keys/add",
        &[
            "-F".into(),
            format!("csrf={csrf}"),
            "-F".into(),
            format!("certificate_file=@{}", cert.display()),
            "-F".into(),
            "name=my laptop".into(),
        ],
    );
    assert_eq!(answer.status, 303, "{answer:?}");
    let page = browser.get("/keys?done=key-added");
    assert!(page.body.contains("The key is registered"), "{}", page.body);
    assert!(page.body.contains("my laptop"), "{}", page.body);
    let greeting = servers.imap_greeting_with_certificate(&cert, &key);
    assert!(greeting.starts_with("* PREAUTH"), "{greeting}");

    // Edit: no PREAUTH for this key.
    let fingerprint = {
        let marker = "name=\"fingerprint\" value=\"";
        let start = page.body.find(marker).unwrap() + marker.len();
        let end = page.body[start..].find('"').unwrap() + start;
        page.body[start..end].to_string()
    };
    let answer = browser.post(
        "/keys/update",
        &[
            ("csrf", &csrf),
            ("fingerprint", &fingerprint),
            ("name", "laptop, no preauth"),
            ("login_address", "mjl@example.org"),
            ("no_imap_preauth", "on"),
        ],
    );
    assert_eq!(answer.status, 303, "{answer:?}");
    let greeting = servers.imap_greeting_with_certificate(&cert, &key);
    assert!(greeting.starts_with("* OK"), "{greeting}");

    // bob cannot remove mjl's key.
    let bob = servers.browser("bob");
    bob.login("bob@example.org", PASSWORD);
    let bob_csrf = bob.get("/keys").csrf();
    let answer = bob.post(
        "/keys/remove",
        &[("csrf", &bob_csrf), ("fingerprint", &fingerprint)],
    );
    assert!(answer.status >= 400, "{answer:?}");
    assert!(browser.get("/keys").body.contains(&fingerprint));

    let answer = browser.post(
        "/keys/remove",
        &[("csrf", &csrf), ("fingerprint", &fingerprint)],
    );
    assert_eq!(answer.status, 303, "{answer:?}");
    assert!(!browser.get("/keys").body.contains(&fingerprint));

    // A file that is no certificate is refused clearly.
    std::fs::write(servers.dir.path().join("junk.pem"), "not a certificate").unwrap();
    let answer = browser.run(
        "/keys/add",
        &[
            "-F".into(),
            format!("csrf={csrf}"),
            "-F".into(),
            format!(
                "certificate_file=@{}",
                servers.dir.path().join("junk.pem").display()
            ),
        ],
    );
    assert_eq!(answer.status, 400, "{answer:?}");
}

#[tokio::test]
async fn csrf_tokens_and_cross_site_posts_are_refused() {
    let servers = Servers::start(false, "").await;
    let mjl = servers.browser("mjl");
    let bob = servers.browser("bob");
    mjl.login("mjl@example.org", PASSWORD);
    bob.login("bob@example.org", PASSWORD);
    let csrf = mjl.get("/password").csrf();
    let bob_csrf = bob.get("/password").csrf();
    assert_ne!(csrf, bob_csrf);
    let change = |token: &str| {
        vec![
            ("csrf", token.to_string()),
            ("current", PASSWORD.to_string()),
            ("new", NEW_PASSWORD.to_string()),
            ("repeat", NEW_PASSWORD.to_string()),
        ]
    };
    let fields = |v: &Vec<(&'static str, String)>| -> Vec<(&'static str, String)> { v.clone() };
    for token in ["", "wrong", bob_csrf.as_str()] {
        let owned = fields(&change(token));
        let borrowed: Vec<(&str, &str)> = owned.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let answer = mjl.post("/password", &borrowed);
        assert_eq!(answer.status, 403, "token {token:?}: {answer:?}");
        assert!(answer.body.contains("CSRF"), "{}", answer.body);
    }
    // The right token, but sent by another site's page.
    let owned = change(&csrf);
    let borrowed: Vec<(&str, &str)> = owned.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let answer = mjl.post_with(
        "/password",
        &borrowed,
        &[
            "-H",
            "Sec-Fetch-Site: cross-site",
            "-H",
            "Origin: https://evil.example",
        ],
    );
    assert_eq!(answer.status, 403, "{answer:?}");
    assert!(answer.body.contains("another site"), "{}", answer.body);
    assert_security_headers(&answer);
    // Nothing changed: the old password still logs in.
    servers.browser("again").login("mjl@example.org", PASSWORD);
    // The same form from the page itself works.
    let answer = mjl.post_with(
        "/password",
        &borrowed,
        &["-H", "Sec-Fetch-Site: same-origin"],
    );
    assert_eq!(answer.status, 303, "{answer:?}");
}

#[tokio::test]
async fn an_account_session_reaches_neither_admin_pages_nor_other_accounts() {
    let servers = Servers::start(false, "").await;
    let mjl = servers.browser("mjl");
    mjl.login("mjl@example.org", PASSWORD);
    let csrf = mjl.get("/").csrf();
    let bob = servers.browser("bob");
    bob.login("bob@example.org", PASSWORD);

    // The admin pages on the admin listener, with the account's cookies renamed to the
    // admin cookies: authd sees an account session and refuses it every admin request.
    let jar = std::fs::read_to_string(&mjl.jar).unwrap();
    let forged = jar
        .replace("\tpostern-session\t", "\tpostern-admin-session\t")
        .replace("\tpostern-csrf\t", "\tpostern-admin-csrf\t");
    assert_ne!(forged, jar);
    let admin = servers.admin_browser("forged");
    std::fs::write(&admin.jar, forged).unwrap();
    for path in [
        "/admin/",
        "/admin/account?name=bob",
        "/admin/login-attempts",
    ] {
        let answer = admin.get(path);
        assert_eq!(answer.status, 403, "{path}: {answer:?}");
        assert!(answer.body.contains("not permitted"), "{}", answer.body);
    }
    let answer = admin.post(
        "/admin/account/password",
        &[
            ("csrf", &csrf),
            ("account", "bob"),
            ("password", "taken over!"),
        ],
    );
    assert_eq!(answer.status, 403, "{answer:?}");
    assert!(answer.body.contains("not permitted"), "{}", answer.body);
    servers.browser("bob2").login("bob@example.org", PASSWORD);

    // The account listener has no admin pages unless configured.
    assert_eq!(mjl.get("/admin/").status, 404);

    // bob's sessions cannot be ended by mjl.
    let sessions = bob.get("/sessions");
    let marker = "name=\"id\" value=\"";
    let this = sessions.body.find("End this session").unwrap();
    let start = sessions.body[..this].rfind(marker).unwrap() + marker.len();
    let end = sessions.body[start..].find('"').unwrap() + start;
    let bob_session = sessions.body[start..end].to_string();
    let answer = mjl.post("/sessions/revoke", &[("csrf", &csrf), ("id", &bob_session)]);
    assert!(answer.status >= 400, "{answer:?}");
    assert_eq!(bob.get("/").status, 200);

    // mjl's pages show only mjl's data.
    let overview = mjl.get("/");
    assert!(
        !overview.body.contains("bob@example.org"),
        "{}",
        overview.body
    );
    let attempts = mjl.get("/login-attempts");
    assert!(
        !attempts.body.contains("bob@example.org"),
        "{}",
        attempts.body
    );
    // bob ends his own session.
    let bob_csrf = bob.get("/sessions").csrf();
    let answer = bob.post(
        "/sessions/revoke",
        &[("csrf", &bob_csrf), ("id", &bob_session)],
    );
    assert_eq!(answer.status, 303, "{answer:?}");
    assert_eq!(answer.header("location").as_deref(), Some("/login"));
    assert_eq!(bob.get("/").status, 303);
}

#[tokio::test]
async fn admin_pages_manage_accounts() {
    let servers = Servers::start(false, "").await;
    let admin = servers.admin_browser("admin");
    assert_eq!(admin.get("/admin/").status, 303);
    let answer = admin.post("/admin/login", &[("password", "wrong")]);
    assert_eq!(answer.status, 403, "{answer:?}");
    let answer = admin.post("/admin/login", &[("password", ADMIN_PASSWORD)]);
    assert_eq!(answer.status, 303, "{answer:?}");
    let home = admin.get("/admin/");
    assert_eq!(home.status, 200, "{home:?}");
    assert_security_headers(&home);
    assert!(home.body.contains("bob@example.org"), "{}", home.body);
    // The failed admin login is in the history of all accounts.
    assert!(home.body.contains("web-admin-password"), "{}", home.body);
    let csrf = home.csrf();

    let answer = admin.post(
        "/admin/accounts/add",
        &[
            ("csrf", &csrf),
            ("account", "carol"),
            ("address", "carol@example.org"),
            ("password", "carol's password"),
        ],
    );
    assert_eq!(answer.status, 303, "{answer:?}");
    let carol = servers.browser("carol");
    carol.login("carol@example.org", "carol's password");

    let post = |path: &str, fields: &[(&str, &str)]| {
        let mut all = vec![("csrf", csrf.as_str()), ("account", "carol")];
        all.extend_from_slice(fields);
        let answer = admin.post(path, &all);
        assert_eq!(answer.status, 303, "{path}: {answer:?}");
    };
    post(
        "/admin/account/address-add",
        &[("address", "c@example.org")],
    );
    post("/admin/account/disable", &[("message", "unpaid bill")]);
    let answer = servers.browser("carol2").post(
        "/login",
        &[
            ("address", "c@example.org"),
            ("password", "carol's password"),
        ],
    );
    assert_eq!(answer.status, 403);
    assert!(answer.body.contains("unpaid bill"), "{}", answer.body);
    post("/admin/account/enable", &[]);
    post(
        "/admin/account/password",
        &[("password", "carol's new one")],
    );
    servers
        .browser("carol3")
        .login("c@example.org", "carol's new one");
    post(
        "/admin/account/address-remove",
        &[("address", "c@example.org")],
    );
    let page = admin.get("/admin/account?name=carol");
    assert_eq!(page.status, 200);
    assert!(
        !page
            .body
            .contains("name=\"address\" value=\"c@example.org\""),
        "{}",
        page.body
    );
    assert!(
        page.body
            .contains("name=\"address\" value=\"carol@example.org\""),
        "{}",
        page.body
    );

    // Remove: only with the confirmation.
    let confirm = admin.get("/admin/account/remove?name=carol");
    assert!(
        confirm.body.contains("cannot be undone"),
        "{}",
        confirm.body
    );
    let answer = admin.post(
        "/admin/account/remove",
        &[("csrf", &csrf), ("account", "carol")],
    );
    assert_eq!(answer.status, 400, "{answer:?}");
    let answer = admin.post(
        "/admin/account/remove",
        &[("csrf", &csrf), ("account", "carol"), ("confirm", "on")],
    );
    assert_eq!(answer.status, 303, "{answer:?}");
    assert!(!admin.get("/admin/").body.contains("carol@example.org"));

    // A change without the CSRF token is refused.
    let answer = admin.post(
        "/admin/accounts/add",
        &[("account", "dave"), ("address", "dave@example.org")],
    );
    assert_eq!(answer.status, 403, "{answer:?}");

    // Logout ends the admin session.
    let answer = admin.post("/admin/logout", &[]);
    assert_eq!(answer.status, 303);
    assert_eq!(admin.get("/admin/").status, 303);
    drop(servers.authd);
}

#[tokio::test]
async fn too_many_failed_logins_get_429_and_the_admin_lifts_the_block() {
    // The browser comes through a reverse proxy on 127.0.0.1 as 192.0.2.7; the admin
    // comes from 127.0.0.1 itself.
    let servers = Servers::start_with(
        false,
        "trusted_proxies = [\"127.0.0.1\"]",
        "\n[ratelimit]\nper_minute = [3, 30, 90]\nper_day = [50, 150, 450]\n",
    )
    .await;
    let browser = servers.browser("a");
    let proxied = [
        "-H",
        "X-Forwarded-For: 192.0.2.7",
        "-H",
        "X-Forwarded-Proto: http",
    ];
    let mut statuses = Vec::new();
    for _ in 0..5 {
        let answer = browser.post_with(
            "/login",
            &[("address", "mjl@example.org"), ("password", "guess")],
            &proxied,
        );
        statuses.push(answer.status);
        if answer.status == 429 {
            assert!(answer.body.contains("Too many"), "{}", answer.body);
            assert!(!answer.body.contains("Wrong"), "{}", answer.body);
        }
    }
    assert_eq!(statuses.last(), Some(&429), "{statuses:?}");
    // Even the right password is not looked at now.
    let answer = browser.post_with(
        "/login",
        &[("address", "mjl@example.org"), ("password", PASSWORD)],
        &proxied,
    );
    assert_eq!(answer.status, 429, "{answer:?}");

    // The admin sees the block of the client's address (not the proxy's) and lifts it.
    let admin = servers.admin_browser("admin");
    let answer = admin.post("/admin/login", &[("password", ADMIN_PASSWORD)]);
    assert_eq!(answer.status, 303, "{answer:?}");
    let home = admin.get("/admin/");
    assert_eq!(home.status, 200, "{home:?}");
    assert!(home.body.contains("192.0.2.7/32"), "{}", home.body);
    assert!(home.body.contains("192.0.2.7"), "{}", home.body);
    let answer = admin.post(
        "/admin/ratelimit/clear",
        &[("csrf", &home.csrf()), ("address", "192.0.2.7")],
    );
    assert_eq!(answer.status, 303, "{answer:?}");
    let answer = browser.post_with(
        "/login",
        &[("address", "mjl@example.org"), ("password", PASSWORD)],
        &proxied,
    );
    assert_eq!(answer.status, 303, "{answer:?}");
}

/// Downloads `path` with a form POST of `fields` into `out`; the HTTP status and headers.
fn download(browser: &Browser, path: &str, fields: &[(&str, &str)], out: &Path) -> (u16, String) {
    let headers = tempfile::NamedTempFile::new().unwrap();
    let mut command = Command::new("curl");
    command
        .args(["-s", "-S", "-o"])
        .arg(out)
        .arg("-D")
        .arg(headers.path())
        .arg("-b")
        .arg(&browser.jar)
        .args(&browser.extra);
    for (name, value) in fields {
        command
            .arg("--data-urlencode")
            .arg(format!("{name}={value}"));
    }
    let output = command
        .arg(format!("{}{path}", browser.base))
        .output()
        .expect("running curl");
    assert!(
        output.status.success(),
        "curl failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let headers = std::fs::read_to_string(headers.path()).unwrap();
    let status = headers
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap();
    (status, headers)
}

#[tokio::test]
async fn export_downloads_the_mail_as_an_archive() {
    let servers = Servers::start(true, "").await;
    // Two messages in INBOX and one in Work/2024, appended by Python's imaplib.
    python(
        r#"
import imaplib, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[2])
ctx.check_hostname = False
c = imaplib.IMAP4_SSL("127.0.0.1", int(sys.argv[1]), ssl_context=ctx)
c.login("mjl@example.org", sys.argv[3])
c.create("Work/2024")
for box, subject, flags in [("INBOX", "first", "(\\Seen)"), ("INBOX", "second", "()"), ("Work/2024", "third", "(\\Flagged)")]:
    msg = f"From: a@example.org\r\nSubject: {subject}\r\n\r\nbody of {subject}\r\n".encode()
    typ, _ = c.append(box, flags, None, msg)
    assert typ == "OK", typ
c.logout()
"#,
        &[
            &servers.imaps.port().to_string(),
            &servers.cert.display().to_string(),
            PASSWORD,
        ],
    );
    let browser = servers.browser("mjl");
    browser.login("mjl@example.org", PASSWORD);
    let csrf = browser.get("/export").csrf();

    // Without the CSRF token: refused, nothing sent.
    let out = servers.dir.path().join("refused.zip");
    let (status, _) = download(
        &browser,
        "/export",
        &[("format", "mbox"), ("archive", "zip")],
        &out,
    );
    assert_eq!(status, 403);

    // All mail as mbox in a zip, read by Python's zipfile.
    let out = servers.dir.path().join("all.zip");
    let (status, headers) = download(
        &browser,
        "/export",
        &[("csrf", &csrf), ("format", "mbox"), ("archive", "zip")],
        &out,
    );
    assert_eq!(status, 200, "{headers}");
    assert!(headers.contains("application/zip"), "{headers}");
    assert!(
        headers.contains("attachment; filename=\"mailexport-mjl.mbox.zip\""),
        "{headers}"
    );
    let listing = python(
        r#"
import sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
for name in sorted(z.namelist()):
    data = z.read(name).decode()
    print(name, data.count("\nSubject: ") + data.startswith("Subject: "), "first" in data, "third" in data)
"#,
        &[&out.display().to_string()],
    );
    assert!(listing.contains("Inbox.mbox 2 True False"), "{listing}");
    assert!(listing.contains("Work/2024.mbox 1 False True"), "{listing}");

    // The admin exports one mailbox of mjl's as maildir in a tgz.
    let admin = servers.admin_browser("admin");
    let answer = admin.post("/admin/login", &[("password", ADMIN_PASSWORD)]);
    assert_eq!(answer.status, 303, "{answer:?}");
    let admin_csrf = admin.get("/admin/account?name=mjl").csrf();
    let out = servers.dir.path().join("work.tgz");
    let (status, headers) = download(
        &admin,
        "/admin/account/export",
        &[
            ("csrf", &admin_csrf),
            ("account", "mjl"),
            ("mailbox", "Work"),
            ("format", "maildir"),
            ("archive", "tgz"),
        ],
        &out,
    );
    assert_eq!(status, 200, "{headers}");
    let listing = python(
        r#"
import sys, tarfile
t = tarfile.open(sys.argv[1], "r:gz")
for m in t.getmembers():
    if m.isfile():
        print(m.name, t.extractfile(m).read().decode().count("third"))
"#,
        &[&out.display().to_string()],
    );
    let files: Vec<&str> = listing.lines().collect();
    assert_eq!(files.len(), 1, "{listing}");
    assert!(files[0].starts_with("Work/2024/new/"), "{listing}");
    assert!(files[0].contains(":2,F"), "{listing}");
    assert!(files[0].ends_with(" 2"), "{listing}");
    // A mailbox that does not exist is said so.
    let answer = admin.post(
        "/admin/account/export",
        &[
            ("csrf", &admin_csrf),
            ("account", "mjl"),
            ("mailbox", "Nope"),
            ("format", "maildir"),
            ("archive", "zip"),
        ],
    );
    assert_eq!(answer.status, 400, "{answer:?}");
}
