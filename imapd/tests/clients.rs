//! Real mail clients against the real binaries (authd + imapd on 127.0.0.1 with an rcgen
//! certificate): gsasl logging in with SCRAM-SHA-256-PLUS and tls-exporter channel
//! binding over TLS 1.3, and mbsync syncing a 1,000-message mailbox both ways.
//!
//! gsasl's command line tool speaks TLS only through STARTTLS (it has no implicit-TLS
//! mode), so on the IMAPS port the test holds the TLS connection itself and runs gsasl as
//! the SASL client over stdin/stdout (`gsasl -c --imap`), handing it the tls-exporter
//! bytes of that connection when it asks for them.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use common::{ADDRESS, PASSWORD, Server, tool_available};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// GnuTLS priority string that allows TLS 1.3 only.
const TLS13_ONLY: &str = "--priority=NORMAL:-VERS-ALL:+VERS-TLS1.3";

/// What gsasl's readline prints (on stdout, without a newline) before it reads the
/// channel binding from stdin.
const CB_PROMPT: &str = "Enter base64 encoded tls-exporter channel binding: ";

/// Runs `gsasl --imap` against the plain port with STARTTLS (TLS 1.3 only),
/// SCRAM-SHA-256-PLUS and the given password.
fn gsasl_starttls(server: &Server, password: &str) -> std::process::Output {
    Command::new("gsasl")
        .args(["--imap", "--starttls", TLS13_ONLY, "--verbose"])
        .arg(format!("--connect=localhost:{}", server.imap.port()))
        .arg(format!("--x509-ca-file={}", server.cert_path().display()))
        .args(["-m", "SCRAM-SHA-256-PLUS", "-a", ADDRESS, "-p", password])
        // No application data: stdin at EOF ends the session after authentication.
        .stdin(Stdio::null())
        .output()
        .expect("running gsasl")
}

/// The first client message of a SCRAM exchange, from gsasl's transcript: the line
/// after the empty `+ ` that answers `AUTHENTICATE`.
fn client_first(transcript: &str) -> String {
    let mut lines = transcript.lines().map(|l| l.trim_end_matches('\r'));
    lines
        .by_ref()
        .find(|l| l.starts_with(". AUTHENTICATE SCRAM-SHA-256-PLUS"))
        .unwrap_or_else(|| panic!("no AUTHENTICATE in {transcript}"));
    let plus = lines.next().unwrap_or_default();
    assert_eq!(plus, "+ ", "{transcript}");
    let encoded = lines.next().unwrap_or_default();
    let encoded = encoded.strip_prefix(CB_PROMPT).unwrap_or(encoded);
    String::from_utf8(BASE64.decode(encoded).expect("base64 client-first")).unwrap()
}

#[tokio::test]
async fn gsasl_scram_sha_256_plus_over_starttls_tls13() {
    if !tool_available("gsasl", "gsasl") {
        return;
    }
    let server = Server::start().await;

    let out = gsasl_starttls(&server, PASSWORD);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "gsasl failed: {stdout}\n{stderr}");
    // GnuTLS negotiated TLS 1.3, so the binding type must be tls-exporter.
    assert!(stderr.contains("(TLS1.3)"), "{stderr}");
    let first = client_first(&stdout);
    assert!(
        first.starts_with(&format!("p=tls-exporter,,n={ADDRESS},r=")),
        "{first}"
    );
    let done = stdout
        .lines()
        .find(|l| l.starts_with(". OK [CAPABILITY "))
        .unwrap_or_else(|| panic!("no tagged OK: {stdout}"));
    assert!(done.trim_end().ends_with("] authenticate done"), "{done}");
    assert!(
        stderr.contains("Client authentication finished"),
        "{stderr}"
    );

    let out = gsasl_starttls(&server, "not the password");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "gsasl accepted a wrong password: {stdout}\n{stderr}"
    );
    assert!(
        client_first(&stdout).starts_with("p=tls-exporter,,"),
        "{stdout}"
    );
    assert!(!stdout.contains(". OK [CAPABILITY"), "{stdout}");
    // The server's final message is `e=invalid-proof`; gsasl gives up on it.
    assert_eq!(
        scram_server_error(&stdout).as_deref(),
        Some("e=invalid-proof"),
        "{stdout}\n{stderr}"
    );
}

/// The SCRAM server-final error (`e=...`) in a transcript: a `+ ` continuation (optionally
/// after `S: `) whose base64 decodes to `e=`.
fn scram_server_error(transcript: &str) -> Option<String> {
    transcript.lines().find_map(|line| {
        let line = line.strip_prefix("S: ").unwrap_or(line);
        let decoded = BASE64.decode(line.strip_prefix("+ ")?.trim_end()).ok()?;
        let text = String::from_utf8(decoded).ok()?;
        text.starts_with("e=").then_some(text)
    })
}

/// The outcome of one gsasl run relayed over a TLS connection the test holds.
struct Relayed {
    /// gsasl's exit status.
    success: bool,
    /// Every line as it went over the wire, `C: ` from gsasl, `S: ` from imapd.
    transcript: String,
}

/// Connects to the IMAPS port (TLS 1.3), runs `gsasl -c --imap` over stdin/stdout
/// as the SASL client on that connection and gives it `binding` (or, when `None`, the
/// connection's real tls-exporter value) as the channel binding.
async fn gsasl_over_imaps(server: &Server, password: &str, binding: Option<[u8; 32]>) -> Relayed {
    let client = server.connect_tls(None).await;
    let tls = client.stream.into_inner();
    let (_, connection) = tls.get_ref();
    assert_eq!(
        connection.protocol_version(),
        Some(rustls::ProtocolVersion::TLSv1_3)
    );
    let mut exporter = [0u8; 32];
    connection
        .export_keying_material(&mut exporter, b"EXPORTER-Channel-Binding", Some(&[]))
        .unwrap();
    let binding = binding.unwrap_or(exporter);
    let mut gsasl = tokio::process::Command::new("gsasl")
        // `--application-data` toggles its default (on) off: log out right after
        // authenticating instead of relaying stdin.
        .args(["-c", "--imap", "--application-data"])
        .args(["-m", "SCRAM-SHA-256-PLUS", "-a", ADDRESS, "-p"])
        .arg(password)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("running gsasl");
    let mut to_gsasl = gsasl.stdin.take().unwrap();
    let mut from_gsasl = BufReader::new(gsasl.stdout.take().unwrap()).lines();
    let (server_read, mut server_write) = tokio::io::split(tls);
    let mut from_server = BufReader::new(server_read).lines();
    let mut transcript = String::new();
    let mut binding_sent = false;
    let relay = async {
        loop {
            tokio::select! {
                line = from_gsasl.next_line() => {
                    let Ok(Some(line)) = line else { break };
                    let line = line.strip_prefix(CB_PROMPT).unwrap_or(&line).to_owned();
                    transcript.push_str(&format!("C: {line}\n"));
                    if server_write.write_all(format!("{line}\r\n").as_bytes()).await.is_err() {
                        break;
                    }
                }
                line = from_server.next_line() => {
                    let Ok(Some(line)) = line else { break };
                    transcript.push_str(&format!("S: {line}\n"));
                    let _ = to_gsasl.write_all(format!("{line}\n").as_bytes()).await;
                    // gsasl asks for the binding right after the first continuation.
                    if line.starts_with("+ ") && !binding_sent {
                        binding_sent = true;
                        let _ = to_gsasl
                            .write_all(format!("{}\n", BASE64.encode(binding)).as_bytes())
                            .await;
                    }
                }
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(30), relay)
        .await
        .expect("gsasl relay timed out");
    drop(to_gsasl);
    let status = tokio::time::timeout(Duration::from_secs(10), gsasl.wait())
        .await
        .expect("gsasl did not exit")
        .unwrap();
    Relayed {
        success: status.success(),
        transcript,
    }
}

/// The SCRAM client-first message from a relay transcript.
fn relayed_client_first(transcript: &str) -> String {
    let line = transcript
        .lines()
        .skip_while(|l| !l.starts_with("C: . AUTHENTICATE SCRAM-SHA-256-PLUS"))
        .find(|l| l.starts_with("C: ") && !l.contains("AUTHENTICATE"))
        .unwrap_or_else(|| panic!("no client-first in {transcript}"));
    String::from_utf8(BASE64.decode(&line[3..]).expect("base64")).unwrap()
}

#[tokio::test]
async fn gsasl_scram_sha_256_plus_over_imaps_tls13() {
    if !tool_available("gsasl", "gsasl") {
        return;
    }
    let server = Server::start().await;

    let ok = gsasl_over_imaps(&server, PASSWORD, None).await;
    let t = &ok.transcript;
    assert!(ok.success, "gsasl failed:\n{t}");
    assert!(
        relayed_client_first(t).starts_with(&format!("p=tls-exporter,,n={ADDRESS},r=")),
        "{t}"
    );
    assert!(
        t.lines()
            .any(|l| l.starts_with("S: . OK [CAPABILITY ") && l.ends_with("] authenticate done")),
        "{t}"
    );
    // gsasl logs out after authenticating.
    assert!(t.contains("S: . OK logout done"), "{t}");

    let wrong = gsasl_over_imaps(&server, "not the password", None).await;
    let t = &wrong.transcript;
    assert!(!wrong.success, "gsasl accepted a wrong password:\n{t}");
    assert!(!t.contains("S: . OK [CAPABILITY"), "{t}");
    assert_eq!(
        scram_server_error(t).as_deref(),
        Some("e=invalid-proof"),
        "{t}"
    );

    // The right password with the binding of another connection: imapd (authd) must
    // notice the mismatch.
    let foreign = gsasl_over_imaps(&server, PASSWORD, Some([7u8; 32])).await;
    let t = &foreign.transcript;
    assert!(
        !foreign.success,
        "a wrong channel binding was accepted:\n{t}"
    );
    assert!(!t.contains("S: . OK [CAPABILITY"), "{t}");
    assert_eq!(
        scram_server_error(t).as_deref(),
        Some("e=channel-bindings-dont-match"),
        "{t}"
    );
}

/// The project's message generator (varied RFC 5322 messages, deterministic per seed).
const GEN_MBOX: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tools/gen-mbox.py");

/// Whether [`GEN_MBOX`] is there; when not, a loud skip message (a panic under CI).
fn gen_mbox_available() -> bool {
    if Path::new(GEN_MBOX).is_file() {
        return true;
    }
    let message = format!("{GEN_MBOX} is missing; this test generates its mailbox with it");
    if std::env::var_os("CI").is_some() {
        panic!("{message}");
    }
    eprintln!("\n!!!!!!!!!!\n!!! SKIPPING: {message}\n!!!!!!!!!!\n");
    false
}

/// `count` generated messages, each with LF line endings as in the mbox (the mbox's
/// `From ` separator lines and the blank line after each message removed).
fn generated_messages(dir: &Path, count: usize) -> Vec<Vec<u8>> {
    let mbox = dir.join("generated.mbox");
    let out = Command::new("python3")
        .arg(GEN_MBOX)
        .arg(&mbox)
        .arg(count.to_string())
        .arg("4")
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let data = std::fs::read(&mbox).unwrap();
    let mut messages: Vec<Vec<u8>> = Vec::new();
    for line in data.split_inclusive(|&b| b == b'\n') {
        if line.starts_with(b"From sender@example.test ") {
            messages.push(Vec::new());
        } else if let Some(message) = messages.last_mut() {
            message.extend_from_slice(line);
        }
    }
    for message in &mut messages {
        // The separator blank line after each message.
        assert!(message.ends_with(b"\n\n"));
        message.pop();
    }
    assert_eq!(messages.len(), count);
    messages
}

fn crlf(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() + message.len() / 40);
    for &b in message {
        if b == b'\n' {
            out.push(b'\r');
        }
        out.push(b);
    }
    out
}

/// Every file of a Maildir folder (`cur` and `new`), by file name.
fn maildir_files(folder: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    for sub in ["cur", "new"] {
        let Ok(entries) = std::fs::read_dir(folder.join(sub)) else {
            continue;
        };
        for entry in entries {
            let entry = entry.unwrap();
            files.insert(
                format!("{sub}/{}", entry.file_name().to_string_lossy()),
                std::fs::read(entry.path()).unwrap(),
            );
        }
    }
    files
}

/// Runs mbsync with `config` on a pseudo-terminal (through `script`), so that it prints
/// its progress counters; returns what it printed.
fn mbsync(config: &Path) -> String {
    let out = Command::new("script")
        .args(["--quiet", "--return", "--command"])
        .arg(format!("mbsync -c '{}' -a", config.display()))
        .arg("/dev/null")
        .stdin(Stdio::null())
        .output()
        .expect("running mbsync under script");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "mbsync failed ({}):\n{text}",
        out.status
    );
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mbsync_two_way_sync_of_1000_messages() {
    if !tool_available("mbsync", "isync")
        || !tool_available("script", "bsdutils")
        || !tool_available("python3", "python3")
        || !gen_mbox_available()
    {
        return;
    }
    let server = Server::start().await;
    let work = tempfile::tempdir().unwrap();
    let messages = generated_messages(work.path(), 1000);
    // 600 start on the server, 400 in the local Maildir.
    let (on_server, local) = messages.split_at(600);
    let mut client = server.login_tls().await;
    for (i, message) in on_server.iter().enumerate() {
        let flags = match i % 4 {
            0 => "\\Seen",
            1 => "\\Seen \\Flagged",
            2 => "\\Answered \\Seen",
            _ => "",
        };
        let reply = client
            .append(&format!("a{i}"), "INBOX", flags, &crlf(message))
            .await;
        assert!(
            reply.starts_with(&format!("a{i} OK [APPENDUID ")),
            "{reply}"
        );
    }
    let maildir = work.path().join("maildir");
    for sub in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(maildir.join("INBOX").join(sub)).unwrap();
    }
    for (i, message) in local.iter().enumerate() {
        let name = match i % 3 {
            0 => format!("cur/{}.{i}_local.postern-test:2,S", 1_700_000_000 + i),
            1 => format!("cur/{}.{i}_local.postern-test:2,FS", 1_700_000_000 + i),
            _ => format!("new/{}.{i}_local.postern-test", 1_700_000_000 + i),
        };
        std::fs::write(maildir.join("INBOX").join(name), message).unwrap();
    }
    let config = work.path().join("mbsyncrc");
    std::fs::write(
        &config,
        format!(
            r#"IMAPAccount postern
Host localhost
Port {port}
User {ADDRESS}
Pass "{PASSWORD}"
SSLType IMAPS
CertificateFile {cert}
SystemCertificates no
AuthMechs LOGIN

IMAPStore postern-remote
Account postern

MaildirStore postern-local
Path {maildir}/
Inbox {maildir}/INBOX
SubFolders Verbatim

Channel postern
Far :postern-remote:
Near :postern-local:
Patterns INBOX
Create Both
Expunge Both
Sync All
SyncState *
"#,
            port = server.imaps.port(),
            cert = server.cert_path().display(),
            maildir = maildir.display(),
        ),
    )
    .unwrap();

    let first = mbsync(&config);
    // The far side (imapd) got the 400 local messages, the near side the 600 others;
    // no flag changes, nothing expunged.
    assert_eq!(
        final_counters(&first),
        "C: 1/1  B: 1/1  F: +400/400 *0/0 #0/0  N: +600/600 *0/0 #0/0",
        "{first}"
    );
    let server_after_first = server_mailbox(&mut client).await;
    let maildir_after_first = maildir_files(&maildir.join("INBOX"));
    check_same_messages(&messages, &server_after_first, &maildir_after_first);

    // A second run finds nothing to do and changes nothing on either side.
    let second = mbsync(&config);
    assert_eq!(
        final_counters(&second),
        "C: 1/1  B: 1/1  F: +0/0 *0/0 #0/0  N: +0/0 *0/0 #0/0",
        "{second}"
    );
    assert_eq!(maildir_files(&maildir.join("INBOX")), maildir_after_first);
    let server_after_second = server_mailbox(&mut client).await;
    assert!(
        server_after_second == server_after_first,
        "the server's mailbox changed"
    );
}

/// The last progress line mbsync printed (it redraws the line with CR).
fn final_counters(output: &str) -> String {
    output
        .split(['\r', '\n'])
        .rfind(|s| s.starts_with("C: "))
        .unwrap_or_else(|| panic!("no counters in {output}"))
        .trim_end()
        .to_owned()
}

/// What the server holds in INBOX: STATUS numbers, and per UID the flags and the bytes.
#[derive(PartialEq)]
struct ServerMailbox {
    status: String,
    flags: BTreeMap<u32, Vec<String>>,
    bodies: BTreeMap<u32, Vec<u8>>,
}

async fn server_mailbox<S>(client: &mut common::Client<S>) -> ServerMailbox
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let status = client
        .command(
            "st",
            "STATUS INBOX (MESSAGES UIDNEXT UIDVALIDITY HIGHESTMODSEQ)",
        )
        .await;
    assert!(status.last().unwrap().starts_with("st OK"), "{status:?}");
    let selected = client.command("se", "SELECT INBOX").await;
    assert!(
        selected.last().unwrap().starts_with("se OK"),
        "{selected:?}"
    );
    let lines = client.command("fl", "UID FETCH 1:* (UID FLAGS)").await;
    assert!(lines.last().unwrap().starts_with("fl OK"), "{lines:?}");
    let mut flags = BTreeMap::new();
    for line in &lines[..lines.len() - 1] {
        let uid = line
            .split_once("UID ")
            .and_then(|(_, rest)| rest.split([' ', ')']).next())
            .and_then(|n| n.parse::<u32>().ok())
            .unwrap_or_else(|| panic!("no UID in {line}"));
        let list = line
            .split_once("FLAGS (")
            .and_then(|(_, rest)| rest.split_once(')'))
            .map(|(list, _)| list)
            .unwrap_or_else(|| panic!("no FLAGS in {line}"));
        let mut list: Vec<String> = list
            .split_whitespace()
            .filter(|f| *f != "\\Recent")
            .map(str::to_owned)
            .collect();
        list.sort();
        flags.insert(uid, list);
    }
    let bodies = client.fetch_all("fe").await;
    ServerMailbox {
        status: status[0].clone(),
        flags,
        bodies,
    }
}

/// The Message-ID header value of a message.
fn message_id(message: &[u8]) -> String {
    let text = String::from_utf8_lossy(message);
    text.lines()
        .take_while(|l| !l.trim_end().is_empty())
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("message-id")
                .then(|| value.trim().to_owned())
        })
        .unwrap_or_else(|| panic!("no Message-ID in {text}"))
}

/// IMAP system flags from a Maildir file name's `:2,` info.
fn maildir_flags(name: &str) -> Vec<String> {
    let info = name.rsplit_once(":2,").map_or("", |(_, info)| info);
    let mut flags: Vec<String> = info
        .chars()
        .filter_map(|c| match c {
            'D' => Some("\\Draft"),
            'F' => Some("\\Flagged"),
            'R' => Some("\\Answered"),
            'S' => Some("\\Seen"),
            'T' => Some("\\Deleted"),
            _ => None,
        })
        .map(str::to_owned)
        .collect();
    flags.sort();
    flags
}

/// The message without mbsync's own `X-TUID:` header line, which mbsync (1.4) inserts
/// into the header of every message it copies, in both directions, to find the copy
/// again, and leaves there (here: in the 400 uploaded and the 600 downloaded ones).
fn without_tuid(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len());
    let mut in_header = true;
    for line in message.split_inclusive(|&b| b == b'\n') {
        if in_header && (line == b"\n" || line == b"\r\n") {
            in_header = false;
        }
        if in_header && line.starts_with(b"X-TUID: ") {
            continue;
        }
        out.extend_from_slice(line);
    }
    out
}

/// Both sides hold the same 1,000 messages: byte for byte equal to each other (the
/// server's CRLF line ends are LF in the Maildir) and to what was generated, apart from
/// mbsync's `X-TUID` line, with the same flags.
fn check_same_messages(
    generated: &[Vec<u8>],
    server: &ServerMailbox,
    maildir: &BTreeMap<String, Vec<u8>>,
) {
    assert_eq!(server.bodies.len(), generated.len());
    assert_eq!(maildir.len(), generated.len());
    let mut on_server: BTreeMap<String, (Vec<u8>, Vec<String>)> = BTreeMap::new();
    for (uid, body) in &server.bodies {
        let flags = server.flags.get(uid).cloned().unwrap_or_default();
        assert!(
            on_server
                .insert(message_id(body), (body.clone(), flags))
                .is_none(),
            "a message twice on the server"
        );
    }
    let mut in_maildir: BTreeMap<String, (Vec<u8>, Vec<String>)> = BTreeMap::new();
    for (name, body) in maildir {
        assert!(
            in_maildir
                .insert(message_id(body), (body.clone(), maildir_flags(name)))
                .is_none(),
            "a message twice in the Maildir"
        );
    }
    for message in generated {
        let id = message_id(message);
        let (server_body, server_flags) = on_server
            .get(&id)
            .unwrap_or_else(|| panic!("{id} not on the server"));
        let (local_body, local_flags) = in_maildir
            .get(&id)
            .unwrap_or_else(|| panic!("{id} not in the Maildir"));
        let server_body = &without_tuid(server_body);
        let local_body = &without_tuid(local_body);
        assert!(
            server_body == &crlf(local_body),
            "{id} differs between server and Maildir:\n{}\n---\n{}",
            String::from_utf8_lossy(server_body),
            String::from_utf8_lossy(local_body)
        );
        assert!(
            local_body == message,
            "{id} differs from what was generated:\n{}",
            String::from_utf8_lossy(local_body)
        );
        assert_eq!(server_flags, local_flags, "flags of {id}");
    }
}
