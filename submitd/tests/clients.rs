//! Mail clients nobody here wrote, against real authd and submitd binaries: swaks (AUTH
//! PLAIN, LOGIN and CRAM-MD5 over STARTTLS and implicit TLS, and a client certificate
//! without AUTH), Python's smtplib (logins incl. SCRAM through scramp, and refusals),
//! and curl's `smtp://` with `--ssl-reqd`. What they sent is checked in the queue.

mod common;

use std::path::Path;
use std::process::Command;

use common::{ADDRESS, OTHER_ADDRESS, PASSWORD, Server, python, queue_id, tool_available};

/// Runs swaks; returns its transcript, panicking when it fails.
fn swaks(server: &Server, args: &[&str]) -> String {
    let output = Command::new("swaks")
        .args(["--server", "127.0.0.1", "--ehlo", "client.test"])
        .args(["--from", ADDRESS, "--to", OTHER_ADDRESS])
        .args(args)
        .output()
        .expect("swaks");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "swaks {args:?} failed ({}): {stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let _ = server;
    stdout
}

/// Whether swaks is installed and can speak TLS (it needs Perl's Net::SSLeay, Debian
/// package libnet-ssleay-perl, which `--no-install-recommends` leaves out). A loud skip
/// when not, a panic under CI.
fn swaks_with_tls() -> bool {
    if !tool_available("swaks", "swaks") {
        return false;
    }
    let support = Command::new("swaks").arg("--support").output().unwrap();
    let text = String::from_utf8_lossy(&support.stdout).into_owned()
        + &String::from_utf8_lossy(&support.stderr);
    if text.contains("=== TLS supported") {
        return true;
    }
    let message = "swaks cannot speak TLS: install libnet-ssleay-perl and \
                   libio-socket-ssl-perl";
    if std::env::var_os("CI").is_some() {
        panic!("{message}");
    }
    eprintln!("\n!!!!!!!!!!\n!!! SKIPPING: {message}\n!!!!!!!!!!\n");
    false
}

/// The queue id from a client transcript that contains `queued as ID`.
fn queued_id(transcript: &str) -> String {
    let line = transcript
        .lines()
        .find(|line| line.contains("queued as "))
        .unwrap_or_else(|| panic!("nothing queued: {transcript}"));
    queue_id(line)
}

#[tokio::test]
async fn swaks_logins_over_starttls_and_implicit_tls() {
    if !swaks_with_tls() {
        return;
    }
    let server = Server::start().await;
    let starttls_port = server.submission.port().to_string();
    let implicit_port = server.submissions.port().to_string();
    for mechanism in ["PLAIN", "LOGIN", "CRAM-MD5"] {
        for (port, tls) in [
            (&starttls_port, "--tls"),
            (&implicit_port, "--tls-on-connect"),
        ] {
            let subject = format!("Subject: swaks {mechanism} {tls}");
            let transcript = swaks(
                &server,
                &[
                    "--port",
                    port,
                    tls,
                    "--auth",
                    mechanism,
                    "--auth-user",
                    ADDRESS,
                    "--auth-password",
                    PASSWORD,
                    "--header",
                    &subject,
                ],
            );
            let id = queued_id(&transcript);
            let stored = String::from_utf8(server.queued_message(&id)).unwrap();
            assert!(stored.contains(&subject), "{stored}");
            assert!(stored.starts_with("Received: "), "{stored}");
            let (account, mail_from, recipients) = server.queued_envelope(&id);
            assert_eq!((account.as_str(), mail_from.as_str()), ("mjl", ADDRESS));
            assert_eq!(recipients, vec![OTHER_ADDRESS.to_string()]);
        }
    }
    // Wrong password: swaks fails, nothing queued.
    let before = server.queued_count();
    let output = Command::new("swaks")
        .args(["--server", "127.0.0.1", "--port", &implicit_port])
        .args([
            "--tls-on-connect",
            "--auth",
            "PLAIN",
            "--auth-user",
            ADDRESS,
        ])
        .args([
            "--auth-password",
            "wrong",
            "--from",
            ADDRESS,
            "--to",
            OTHER_ADDRESS,
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(!output.status.success());
    assert!(stdout.contains("535 5.7.8"), "{stdout}");
    assert_eq!(server.queued_count(), before);
    let attempts = server.login_attempts().await;
    for mechanism in ["plain", "login", "cram-md5"] {
        assert!(
            attempts
                .iter()
                .any(|a| a.mechanism == mechanism && a.protocol == "submission"),
            "{mechanism} not in {attempts:?}"
        );
    }
}

#[tokio::test]
async fn swaks_client_certificate_without_auth() {
    if !swaks_with_tls() {
        return;
    }
    let server = Server::start().await;
    let (_, _, cert, key) = server.register_client_certificate().await;
    let (cert, key) = (cert.display().to_string(), key.display().to_string());
    for (port, tls) in [
        (server.submission.port(), "--tls"),
        (server.submissions.port(), "--tls-on-connect"),
    ] {
        let transcript = swaks(
            &server,
            &[
                "--port",
                &port.to_string(),
                tls,
                "--tls-cert",
                &cert,
                "--tls-key",
                &key,
            ],
        );
        assert!(!transcript.contains("AUTH PLAIN"), "{transcript}");
        assert!(transcript.contains("EXTERNAL"), "{transcript}");
        let id = queued_id(&transcript);
        let (account, _, _) = server.queued_envelope(&id);
        assert_eq!(account, "mjl");
    }
    // Without the certificate the same command is refused: authentication required.
    let output = Command::new("swaks")
        .args(["--server", "127.0.0.1", "--port"])
        .arg(server.submissions.port().to_string())
        .args(["--tls-on-connect", "--from", ADDRESS, "--to", OTHER_ADDRESS])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("530 5.7.0"), "{stdout}");
}

/// Python smtplib: logins by STARTTLS and implicit TLS, SCRAM through scramp, sendmail,
/// and the refusals.
const SMTPLIB_SCRIPT: &str = r#"
import smtplib, ssl, sys, base64
import email.policy
from email.message import EmailMessage
from scramp import ScramClient

host = "127.0.0.1"
starttls_port, tls_port, cafile, user, password, other = sys.argv[1:7]
ctx = ssl.create_default_context(cafile=cafile)
ctx.check_hostname = False

def msg(sender, subject, size=0):
    m = EmailMessage()
    m["From"] = sender
    m["To"] = other
    m["Subject"] = subject
    m.set_content("hello from smtplib\n" + "x" * size)
    return m.as_bytes(policy=email.policy.SMTP)

# AUTH before STARTTLS is refused, and not even offered.
s = smtplib.SMTP(host, int(starttls_port))
s.ehlo("client.test")
assert not s.has_extn("auth"), s.esmtp_features
code, text = s.docmd("AUTH", "PLAIN " + base64.b64encode(("\0" + user + "\0" + password).encode()).decode())
assert code == 538, (code, text)
code, text = s.docmd("MAIL", "FROM:<" + user + ">")
assert code == 530, (code, text)
s.starttls(context=ctx)
s.ehlo("client.test")
assert "PLAIN" in s.esmtp_features["auth"], s.esmtp_features
s.login(user, password)
refused = s.sendmail(user, [other], msg(user, "smtplib starttls"))
assert refused == {}, refused
# Bare LF line endings are refused like mox does (SMTP smuggling); send_message
# writes CRLF.
m = EmailMessage()
m["From"] = user
m["To"] = other
m["Subject"] = "bare lf"
m.set_content("hello\n")
try:
    s.sendmail(user, [other], m.as_bytes())
    raise SystemExit("bare LF accepted")
except smtplib.SMTPDataError as e:
    assert e.smtp_code == 500 and b"5.5.2" in e.smtp_error, e
m.replace_header("Subject", "smtplib send_message")
assert s.send_message(m) == {}
print("queued", s.noop())

# Refusals, on implicit TLS.
s = smtplib.SMTP_SSL(host, int(tls_port), context=ctx)
s.login(user, password)
try:
    s.sendmail(other, [other], msg(other, "foreign mail from"))
    raise SystemExit("foreign MAIL FROM accepted")
except smtplib.SMTPSenderRefused as e:
    assert e.smtp_code == 550 and b"5.7.1" in e.smtp_error, e
try:
    s.sendmail(user, [other], msg(other, "foreign from header"))
    raise SystemExit("foreign From header accepted")
except smtplib.SMTPDataError as e:
    assert e.smtp_code == 550 and b"5.7.1" in e.smtp_error, e
try:
    s.sendmail(user, [other], msg(user, "too big", 200 * 1024))
    raise SystemExit("too big accepted")
except smtplib.SMTPSenderRefused as e:
    assert e.smtp_code == 552 and b"5.3.4" in e.smtp_error, e
# Too big without SIZE: refused after the data, the session goes on.
s.mail(user)
s.rcpt(other)
code, text = s.data(msg(user, "too big, no SIZE", 200 * 1024))
assert code == 552 and b"5.3.4" in text, (code, text)
# Too many recipients: the sixth is refused, the message goes to five.
rcpts = ["r%d@remote.test" % i for i in range(6)]
refused = s.sendmail(user, rcpts, msg(user, "many recipients"))
assert list(refused) == ["r5@remote.test"], refused
assert refused["r5@remote.test"][0] == 452, refused
print("many", refused)
s.quit()

# SCRAM-SHA-256 and SCRAM-SHA-1 through smtplib's multi-step auth, scramp as client.
for mech in ["SCRAM-SHA-256", "SCRAM-SHA-1"]:
    s = smtplib.SMTP_SSL(host, int(tls_port), context=ctx)
    s.ehlo("client.test")
    client = ScramClient([mech], user, password)
    steps = iter([
        lambda challenge: client.get_client_first(),
        lambda challenge: (client.set_server_first(challenge.decode()), client.get_client_final())[1],
        lambda challenge: (client.set_server_final(challenge.decode()), "")[1],
    ])
    def auth(challenge=None):
        return next(steps)(challenge)
    code, text = s.auth(mech, auth, initial_response_ok=False)
    assert code == 235, (code, text)
    refused = s.sendmail(user, [other], msg(user, "smtplib " + mech))
    assert refused == {}, refused
    s.quit()
print("scram ok")
"#;

#[tokio::test]
async fn python_smtplib() {
    let server = Server::start().await;
    let out = python(
        SMTPLIB_SCRIPT,
        &[
            &server.submission.port().to_string(),
            &server.submissions.port().to_string(),
            &server.cert_path().display().to_string(),
            ADDRESS,
            PASSWORD,
            OTHER_ADDRESS,
        ],
    );
    assert!(out.contains("scram ok"), "{out}");
    // starttls, send_message, many recipients (five of six), SCRAM-SHA-256, SCRAM-SHA-1.
    assert_eq!(server.queued_count(), 5, "{out}");
    let mut subjects = Vec::new();
    let mut ids: Vec<String> = std::fs::read_dir(server.queue_dir().join("msg"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    ids.sort_by_key(|id| id.parse::<i64>().unwrap_or(0));
    for id in &ids {
        let stored = String::from_utf8(server.queued_message(id)).unwrap();
        let subject = stored
            .lines()
            .find_map(|l| l.strip_prefix("Subject: "))
            .unwrap()
            .to_owned();
        if subject == "many recipients" {
            let (_, _, recipients) = server.queued_envelope(id);
            assert_eq!(recipients.len(), 5);
        }
        subjects.push(subject);
    }
    assert_eq!(
        subjects,
        [
            "smtplib starttls",
            "smtplib send_message",
            "many recipients",
            "smtplib SCRAM-SHA-256",
            "smtplib SCRAM-SHA-1"
        ]
    );
    let attempts = server.login_attempts().await;
    for mechanism in ["scram-sha-256", "scram-sha-1", "cram-md5"] {
        assert!(
            attempts.iter().any(|a| a.mechanism == mechanism
                && a.protocol == "submission"
                && a.result == postern_ipc::LoginResult::Ok),
            "{mechanism} not in {attempts:?}"
        );
    }
}

#[tokio::test]
async fn curl_smtp_with_ssl_reqd() {
    if !tool_available("curl", "curl") {
        return;
    }
    let server = Server::start().await;
    let message_path = server.dir.path().join("curl-message.txt");
    let text = common::message(ADDRESS, "curl");
    std::fs::write(&message_path, &text).unwrap();
    let run = |url: String, port: u16, login: Option<&str>| {
        let resolve = format!("localhost:{port}:127.0.0.1");
        let mut command = Command::new("curl");
        command
            .args(["--silent", "--show-error", "--verbose", "--ssl-reqd"])
            .arg(url)
            .args(["--resolve", &resolve, "--cacert"])
            .arg(server.cert_path())
            .args(["--mail-from", ADDRESS, "--mail-rcpt", OTHER_ADDRESS])
            .arg("--upload-file")
            .arg(&message_path)
            .args(["--user", &format!("{ADDRESS}:{PASSWORD}")]);
        if let Some(options) = login {
            command.args(["--login-options", options]);
        }
        command.output().unwrap()
    };
    for (url, port, login) in [
        (
            format!("smtp://localhost:{}", server.submission.port()),
            server.submission.port(),
            None,
        ),
        (
            format!("smtps://localhost:{}", server.submissions.port()),
            server.submissions.port(),
            Some("AUTH=PLAIN"),
        ),
    ] {
        let output = run(url.clone(), port, login);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "curl {url}: {stderr}");
        let id = queued_id(&stderr);
        let stored = String::from_utf8(server.queued_message(&id)).unwrap();
        assert!(stored.ends_with(&text), "{stored}");
    }
    assert_eq!(server.queued_count(), 2);
    assert!(Path::new(&server.queue_dir()).exists());
}
