//! Benchmark (not a test): `postern import` of a tgz of gen-mbox.py messages into a
//! real imapd (messages/s), then `postern export` as zip and as tar (MB/s of message
//! bytes). Run with `cargo bench -p postern-imapd --bench mail_transfer`; the number of
//! messages comes from `POSTERN_BENCH_MESSAGES` (default 5000).

#[path = "../tests/common/mod.rs"]
mod common;

use std::process::Command;
use std::time::Instant;

use common::{ACCOUNT, Server, python};

fn postern(server: &Server, args: &[&str]) {
    let binary = postern_testkit::workspace_binary("postern", "postern");
    let out = Command::new(binary)
        .arg("--config")
        .arg(&server.config_path)
        .args(args)
        .output()
        .expect("running postern");
    assert!(
        out.status.success(),
        "postern {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn main() {
    let count: usize = std::env::var("POSTERN_BENCH_MESSAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5000);
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let server = runtime.block_on(Server::start());
    let work = tempfile::tempdir().expect("temp dir");
    let mbox = work.path().join("gen.mbox");
    let tool = concat!(env!("CARGO_MANIFEST_DIR"), "/../tools/gen-mbox.py");
    let status = Command::new("python3")
        .arg(tool)
        .arg(&mbox)
        .arg(count.to_string())
        .status()
        .expect("python3");
    assert!(status.success());
    let tgz = work.path().join("mail.tgz");
    python(
        "import sys, tarfile\nwith tarfile.open(sys.argv[1], 'w:gz') as t:\n    t.add(sys.argv[2], arcname='Lists.mbox')\n",
        &[tgz.to_str().unwrap(), mbox.to_str().unwrap()],
    );
    let mbox_bytes = std::fs::metadata(&mbox).expect("mbox").len();
    // Built (when missing) before anything is timed.
    postern_testkit::workspace_binary("postern", "postern");

    let start = Instant::now();
    postern(&server, &["import", ACCOUNT, tgz.to_str().unwrap()]);
    let import = start.elapsed().as_secs_f64();
    println!(
        "import: {count} messages ({:.1} MB mbox) in {import:.2} s = {:.0} messages/s",
        mbox_bytes as f64 / 1e6,
        count as f64 / import
    );

    for archive in ["zip", "tar", "tgz"] {
        let out = work.path().join(format!("export.{archive}"));
        let start = Instant::now();
        postern(
            &server,
            &[
                "export",
                ACCOUNT,
                "Lists",
                "--archive",
                archive,
                "-o",
                out.to_str().unwrap(),
            ],
        );
        let secs = start.elapsed().as_secs_f64();
        println!(
            "export maildir {archive}: {:.1} MB of messages in {secs:.2} s = {:.1} MB/s",
            mbox_bytes as f64 / 1e6,
            mbox_bytes as f64 / 1e6 / secs
        );
    }
}
