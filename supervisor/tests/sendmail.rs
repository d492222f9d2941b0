//! `postern sendmail` against an SMTP server nobody here wrote (Python's aiosmtpd, with
//! TLS and AUTH): implicit TLS and STARTTLS, a password login, recipients from the
//! arguments and from the headers (`-t`), Bcc removed, sendmail's dot rule, and a
//! refused login reported as an error. Its client-certificate login is tested against
//! postern's own submission daemon in submitd's tests.

use std::io::{BufRead as _, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// An aiosmtpd server on 127.0.0.1 that accepts user `me` with password `secret` and
/// writes each message it receives as one JSON line into `received`.
struct Receiver {
    child: Child,
    port: u16,
    received: PathBuf,
}

const RECEIVER: &str = r#"
import asyncio, json, ssl, sys
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

cert, key, mode, out = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
context.load_cert_chain(cert, key)

class Handler:
    async def handle_DATA(self, server, session, envelope):
        with open(out, "a") as f:
            f.write(json.dumps({"from": envelope.mail_from, "to": envelope.rcpt_tos,
                                "data": envelope.original_content.decode("utf-8", "replace"),
                                "login": session.auth_data.decode() if isinstance(session.auth_data, bytes) else str(session.auth_data)}) + "\n")
        return "250 OK stored"

def authenticator(server, session, envelope, mechanism, auth_data):
    ok = isinstance(auth_data, LoginPassword) and auth_data.login == b"me" and auth_data.password == b"secret"
    return AuthResult(success=ok, handled=False, auth_data=auth_data.login if ok else None)

import socket
probe = socket.socket()
probe.bind(("127.0.0.1", 0))
port = probe.getsockname()[1]
probe.close()
kwargs = dict(hostname="127.0.0.1", port=port, authenticator=authenticator, auth_require_tls=True)
if mode == "implicit":
    # aiosmtpd counts only STARTTLS as TLS for auth_require_tls; this port is TLS throughout.
    kwargs["ssl_context"] = context
    kwargs["auth_require_tls"] = False
else:
    kwargs["tls_context"] = context
    kwargs["require_starttls"] = True
controller = Controller(Handler(), **kwargs)
controller.start()
print(port, flush=True)
sys.stdin.read()
controller.stop()
"#;

impl Receiver {
    fn start(dir: &Path, mode: &str) -> Receiver {
        let received = dir.join(format!("received-{mode}.jsonl"));
        let mut child = Command::new("python3")
            .arg("-c")
            .arg(RECEIVER)
            .arg(dir.join("cert.pem"))
            .arg(dir.join("key.pem"))
            .arg(mode)
            .arg(&received)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("port");
        let port = line
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("aiosmtpd did not start: {line:?}"));
        Receiver {
            child,
            port,
            received,
        }
    }

    fn messages(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(&self.received)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).expect("json"))
            .collect()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn have_aiosmtpd() -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import aiosmtpd"])
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "aiosmtpd is missing (pip install aiosmtpd)"
        );
        eprintln!("SKIPPED: python3 cannot import aiosmtpd (pip install aiosmtpd)");
    }
    ok
}

fn sendmail(config: &Path, args: &[&str], stdin: &[u8]) -> std::process::Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_postern"))
        .arg("sendmail")
        .args(["-C", config.to_str().expect("utf-8")])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("postern");
    // sendmail may refuse before reading its input.
    let _ = child.stdin.take().expect("stdin").write_all(stdin);
    child.wait_with_output().expect("wait")
}

fn write_config(dir: &Path, port: u16, tls: &str, password: &str) -> PathBuf {
    let path = dir.join(format!("sendmail-{tls}-{password}.toml"));
    std::fs::write(
        &path,
        format!(
            "server = \"127.0.0.1:{port}\"\ntls = \"{tls}\"\nca_file = \"{}\"\nfrom = \"me@example.org\"\nusername = \"me\"\npassword = \"{password}\"\n",
            dir.join("cert.pem").display()
        ),
    )
    .expect("config");
    path
}

#[test]
fn submits_over_implicit_tls_and_starttls() {
    if !have_aiosmtpd() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let made = postern::tls::self_signed_localhost(1_700_000_000).expect("cert");
    std::fs::write(dir.path().join("cert.pem"), made.certificate_pem).expect("cert");
    std::fs::write(dir.path().join("key.pem"), made.private_key_pem).expect("key");

    for mode in ["implicit", "starttls"] {
        let receiver = Receiver::start(dir.path(), mode);
        let config = write_config(dir.path(), receiver.port, mode, "secret");
        let message = b"To: You <you@example.org>\nBcc: hidden@example.org\nSubject: cron\n\nline one\n..dots\n.\nnot sent\n";
        let out = sendmail(&config, &["-t", "extra@example.org"], message);
        assert!(
            out.status.success(),
            "{mode}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let got = receiver.messages();
        assert_eq!(got.len(), 1, "{mode}: {got:?}");
        assert_eq!(got[0]["from"], "me@example.org");
        assert_eq!(
            got[0]["to"],
            serde_json::json!(["extra@example.org", "you@example.org", "hidden@example.org"])
        );
        assert_eq!(got[0]["login"], "me");
        let data = got[0]["data"].as_str().expect("data");
        assert_eq!(
            data,
            "From: <me@example.org>\r\nTo: You <you@example.org>\r\nSubject: cron\r\n\r\nline one\r\n..dots\r\n",
            "{mode}"
        );

        // -i: the lone dot is content; -f sets the sender.
        let out = sendmail(
            &config,
            &["-oi", "-f", "other@example.org", "you@example.org"],
            b"From: other@example.org\n\n.\nend\n",
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let got = receiver.messages();
        assert_eq!(got[1]["from"], "other@example.org");
        assert_eq!(
            got[1]["data"],
            "From: other@example.org\r\n\r\n.\r\nend\r\n"
        );

        // A refused login is an error, and nothing is sent.
        let wrong = write_config(dir.path(), receiver.port, mode, "wrong");
        let out = sendmail(&wrong, &["you@example.org"], b"Subject: x\n\nx\n");
        assert_eq!(out.status.code(), Some(1));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.starts_with("postern: submitting to 127.0.0.1:") && stderr.contains("535"),
            "{stderr}"
        );
        assert_eq!(receiver.messages().len(), 2);
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn refuses_bad_settings_and_arguments() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("s.toml");
    std::fs::write(
        &config,
        "server = \"x:1\"\ntls = \"implicit\"\nfrom = \"a@b\"\nusername = \"u\"\npassword = \"p\"\nclient_ed25519_key = \"AAAA\"\n",
    )
    .expect("write");
    let out = sendmail(&config, &["x@y"], b"x\n");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("set exactly one of password"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = sendmail(&config, &["-bs"], b"");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("-bs is not supported"));
}
