//! `postern import` and `postern export` end to end: the real `postern` command line
//! against a real authd (tickets) and a real postern-imapd (store socket), a tgz made
//! by Python's tarfile from gen-mbox.py output, the result seen through Python's
//! imaplib, and the store read back from disk.

mod common;
#[path = "support/snapshot.rs"]
mod snapshot;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{ACCOUNT, ADDRESS, PASSWORD, Server, python};
use snapshot::snapshot;

fn postern(server: &Server, args: &[&str]) -> Output {
    let binary = postern_testkit::workspace_binary("postern", "postern");
    Command::new(binary)
        .arg("--config")
        .arg(&server.config_path)
        .args(args)
        .output()
        .expect("running postern")
}

fn text(output: &Output) -> String {
    format!(
        "status {}\nstdout {}\nstderr {}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// A tgz holding `Export/Lists.mbox` made from gen-mbox.py's `count` messages.
fn gen_mbox_tgz(dir: &Path, count: usize) -> PathBuf {
    let mbox = dir.join("gen.mbox");
    let tool = concat!(env!("CARGO_MANIFEST_DIR"), "/../tools/gen-mbox.py");
    let status = Command::new("python3")
        .arg(tool)
        .arg(&mbox)
        .arg(count.to_string())
        .status()
        .expect("python3");
    assert!(status.success());
    let tgz = dir.join("mail.tgz");
    python(
        "import sys, tarfile\nwith tarfile.open(sys.argv[1], 'w:gz') as t:\n    t.add(sys.argv[2], arcname='Export/Lists.mbox')\n",
        &[tgz.to_str().unwrap(), mbox.to_str().unwrap()],
    );
    tgz
}

/// The number of messages in `mailbox` and the Subject of the first, over IMAPS with
/// imaplib.
fn over_imap(server: &Server, mailbox: &str) -> String {
    let script = r#"
import imaplib, ssl, sys, email
port, cafile, user, password, mailbox = sys.argv[1:6]
ctx = ssl.create_default_context(cafile=cafile)
c = imaplib.IMAP4_SSL("localhost", int(port), ssl_context=ctx)
c.login(user, password)
typ, data = c.select(mailbox, readonly=True)
typ, msg = c.fetch("1", "(RFC822)")
print(data[0].decode(), email.message_from_bytes(msg[0][1])["Subject"])
"#;
    let port = server.imaps.port().to_string();
    let cert = server.cert_path();
    python(
        script,
        &[&port, cert.to_str().unwrap(), ADDRESS, PASSWORD, mailbox],
    )
    .trim()
    .to_string()
}

#[tokio::test]
async fn a_tgz_of_gen_mbox_output_imports_and_an_export_imports_identically_elsewhere() {
    let server = Server::start().await;
    let work = tempfile::tempdir().unwrap();
    let tgz = gen_mbox_tgz(work.path(), 200);
    let out = postern(
        &server,
        &[
            "import",
            ACCOUNT,
            tgz.to_str().unwrap(),
            "--skip-prefix",
            "Export/",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("imported 200 messages") && stdout.contains("0 problems"),
        "{}",
        text(&out)
    );
    let seen = over_imap(&server, "Lists");
    assert!(seen.starts_with("200 "), "{seen}");
    assert!(seen.ends_with("#0"), "{seen}");

    // Export as a zip, import into a second account: the same mailboxes, bytes, flags,
    // keywords and received times.
    let zip = work.path().join("export.zip");
    let out = postern(
        &server,
        &[
            "export",
            ACCOUNT,
            "--format",
            "maildir",
            "--archive",
            "zip",
            "-o",
            zip.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("exported 200 messages"),
        "{}",
        text(&out)
    );
    postern_testkit::create_account(
        &server.admin_socket(),
        "second",
        "second@example.org",
        "second password 1234",
    )
    .await;
    let out = postern(&server, &["import", "second", zip.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        snapshot(&server.store_root(), "second"),
        snapshot(&server.store_root(), ACCOUNT)
    );

    // One mailbox as an mbox tgz to standard output.
    let out = postern(
        &server,
        &[
            "export",
            ACCOUNT,
            "Lists",
            "--format",
            "mbox",
            "--archive",
            "tgz",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(&out.stdout[..2], &[0x1f, 0x8b]);
}

#[tokio::test]
async fn bad_uploads_are_refused_clearly_and_change_nothing() {
    let server = Server::start().await;
    let work = tempfile::tempdir().unwrap();
    // Open the account once so that its default mailboxes exist before the snapshot.
    let first = work.path().join("one.eml");
    std::fs::write(&first, b"Subject: one\n\nx\n").unwrap();
    let out = postern(&server, &["import", ACCOUNT, first.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    let before = snapshot(&server.store_root(), ACCOUNT);
    assert_eq!(before.iter().map(|m| m.2.len()).sum::<usize>(), 1);

    let tgz = gen_mbox_tgz(work.path(), 20);
    let bytes = std::fs::read(&tgz).unwrap();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "not-mail.bin",
            b"\x00\x01\x02 no archive".to_vec(),
            "not a zip, tar",
        ),
        (
            "truncated.tgz",
            bytes[..bytes.len() * 2 / 3].to_vec(),
            "damaged",
        ),
        // Good messages first, then a name climbing out: the import is aborted.
        (
            "traversal.tgz",
            traversal_tgz(work.path()),
            "unsafe entry name",
        ),
    ];
    for (name, data, expected) in cases {
        let path = work.path().join(name);
        std::fs::write(&path, &data).unwrap();
        let out = postern(&server, &["import", ACCOUNT, path.to_str().unwrap()]);
        assert!(!out.status.success(), "{name}: {}", text(&out));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains(expected) && stderr.contains("nothing was imported"),
            "{name}: {}",
            text(&out)
        );
        assert_eq!(snapshot(&server.store_root(), ACCOUNT), before, "{name}");
        let tmp = std::fs::read_dir(server.store_root().join("tmp"))
            .unwrap()
            .count();
        assert_eq!(tmp, 0, "{name}: temp files left");
    }
    // An account authd does not know gets no ticket.
    let out = postern(&server, &["import", "nobody", first.to_str().unwrap()]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("nobody"),
        "{}",
        text(&out)
    );
}

/// A tgz with good maildir messages followed by an entry named `../x/cur/1`, written by
/// Python's tarfile (which does not refuse such names when writing).
fn traversal_tgz(dir: &Path) -> Vec<u8> {
    let path = dir.join("traversal.tgz");
    python(
        r#"
import io, sys, tarfile
with tarfile.open(sys.argv[1], "w:gz") as t:
    for i, name in enumerate(["Inbox/cur/1.a:2,S", "Inbox/cur/2.b:2,", "../escape/cur/3.c:2,"]):
        data = b"Subject: %d\n\nbody\n" % i
        info = tarfile.TarInfo(name)
        info.size = len(data)
        t.addfile(info, io.BytesIO(data))
"#,
        &[path.to_str().unwrap()],
    );
    std::fs::read(path).unwrap()
}
