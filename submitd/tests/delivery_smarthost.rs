//! Remote delivery through the smarthost and submission transports to a real SMTP
//! receiver (aiosmtpd) on loopback, with DKIM signatures checked by dkimpy, and
//! retrying while the receiver is down.

mod queue_common;

use std::time::Duration;

use base64::Engine as _;
use queue_common::*;

const REMOTE: &str = "carol@remote.example";

/// DKIM keys for example.org (ed25519 and rsa) written under the rig's directory,
/// and the DNS records dkimpy is to see, as a JSON file.
fn dkim_setup(dir: &std::path::Path) -> (String, std::path::PathBuf) {
    let b64 = base64::engine::general_purpose::STANDARD;
    let ed = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
    let rsa = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).unwrap();
    let ed_path = dir.join("ed.pem");
    let rsa_path = dir.join("rsa.pem");
    std::fs::write(&ed_path, ed.serialize_pem()).unwrap();
    std::fs::write(&rsa_path, rsa.serialize_pem()).unwrap();
    let records = serde_json::json!({
        "ed1._domainkey.example.org.": format!("v=DKIM1; k=ed25519; p={}", b64.encode(ed.public_key_raw())),
        "rsa1._domainkey.example.org.": format!("v=DKIM1; k=rsa; p={}", pem_body(&rsa.public_key_pem())),
    });
    let records_path = dir.join("dns.json");
    std::fs::write(&records_path, records.to_string()).unwrap();
    let toml = format!(
        r#"
[[submitd.delivery.dkim]]
domain = "example.org"
selector = "ed1"
algorithm = "ed25519"
key_file = "{}"

[[submitd.delivery.dkim]]
domain = "example.org"
selector = "rsa1"
algorithm = "rsa"
key_file = "{}"
"#,
        ed_path.display(),
        rsa_path.display()
    );
    (toml, records_path)
}

/// The base64 text of a PEM block (the DER, as DKIM's `p=` wants an SPKI).
fn pem_body(pem: &str) -> String {
    pem.lines().filter(|l| !l.starts_with("-----")).collect()
}

fn delivery_config(port: u16, extra_transport: &str, dkim: &str) -> String {
    // The tables of [submitd.delivery] in dotted form, so the DKIM array of tables can
    // follow.
    format!(
        r#"retry_first_seconds = 1
retry_max_interval_seconds = 2
command_timeout_seconds = 20
connect_timeout_seconds = 5
routes = [{{ to_domains = [".remote.example"], transport = "relay" }}]
transports.relay = {{ method = "smarthost", host = "127.0.0.1", port = {port}, tls = "none"{extra_transport} }}
{dkim}"#
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn smarthost_delivery_is_dkim_signed_and_verified_by_dkimpy() {
    let port = free_port();
    let keys_dir = tempfile::tempdir().unwrap();
    let (dkim, records) = dkim_setup(keys_dir.path());
    let rig = Rig::start(false, false, &delivery_config(port, "", &dkim)).await;
    let sink = Sink::start(
        port,
        &rig.path("sink"),
        &["--dns", records.to_str().unwrap()],
    );
    let queue = rig.queue();
    let message = sample_message(REMOTE, "smarthost");
    queue
        .submit(envelope(&[REMOTE]), message_file(rig.dir.path(), &message))
        .await
        .unwrap();
    let got = sink.wait_for(1, Duration::from_secs(30)).await;
    let received = &got[0];
    assert_eq!(received.meta["mail_from"], ADDRESS);
    assert_eq!(received.meta["rcpt_tos"], serde_json::json!([REMOTE]));
    assert_eq!(
        received.meta["dkim"],
        serde_json::json!([true, true]),
        "dkimpy verdicts: {}",
        received.meta
    );
    // The message arrives as submitted, after the two signatures.
    assert!(
        received.bytes.ends_with(&message),
        "body changed in transit"
    );
    let head = String::from_utf8_lossy(&received.bytes[..received.bytes.len() - message.len()]);
    assert!(
        head.starts_with("DKIM-Signature: v=1; a=ed25519-sha256; s=ed1; d=example.org"),
        "{head}"
    );
    assert!(
        head.contains("a=rsa-sha256; s=rsa1; d=example.org"),
        "{head}"
    );
    // The recipient rows go first, the message file right after.
    eventually(Duration::from_secs(10), "the queue to empty", || {
        queue.store().pending_recipients().unwrap() == 0
            && std::fs::read_dir(rig.path("data/submitd/queue/msg"))
                .unwrap()
                .count()
                == 0
    })
    .await;
    assert_eq!(
        std::fs::read_dir(rig.path("data/submitd/queue/msg"))
            .unwrap()
            .count(),
        0
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_message_waits_while_the_receiver_is_down_and_goes_once_it_is_back() {
    let port = free_port();
    let rig = Rig::start(false, false, &delivery_config(port, "", "")).await;
    let queue = rig.queue();
    let message = sample_message(REMOTE, "retry");
    let id = queue
        .submit(envelope(&[REMOTE]), message_file(rig.dir.path(), &message))
        .await
        .unwrap();
    // Nobody listens: attempts fail and are counted, the message stays.
    eventually(Duration::from_secs(20), "two failed attempts", || {
        queue
            .store()
            .load(id)
            .unwrap()
            .is_some_and(|m| m.recipients[0].attempts >= 2)
    })
    .await;
    let queued = queue.store().load(id).unwrap().unwrap();
    let error = queued.recipients[0].last_error.clone().unwrap();
    assert!(error.contains("127.0.0.1"), "{error}");
    let sink = Sink::start(port, &rig.path("sink"), &[]);
    let got = sink.wait_for(1, Duration::from_secs(30)).await;
    assert_eq!(got[0].bytes, message);
    eventually(Duration::from_secs(10), "the queue to empty", || {
        queue.store().load(id).unwrap().is_none()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn submission_transport_uses_starttls_and_auth() {
    let port = free_port();
    let rig_dir = tempfile::tempdir().unwrap();
    let password_file = rig_dir.path().join("relay.password");
    std::fs::write(&password_file, "relay secret\n").unwrap();
    // The receiver's certificate (for "localhost"), trusted through ca_file.
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["localhost".into()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let cert_path = rig_dir.path().join("sink-cert.pem");
    let key_path = rig_dir.path().join("sink-key.pem");
    std::fs::write(&cert_path, cert.pem()).unwrap();
    std::fs::write(&key_path, key.serialize_pem()).unwrap();
    let delivery = format!(
        r#"retry_first_seconds = 1
retry_max_interval_seconds = 2
routes = [{{ transport = "provider" }}]
transports.provider = {{ method = "submission", host = "localhost", port = {port}, tls = "starttls", ca_file = "{ca}", username = "relayuser", password_file = "{pw}" }}
"#,
        ca = cert_path.display(),
        pw = password_file.display()
    );
    let rig = Rig::start(false, false, &delivery).await;
    let sink = Sink::start(
        port,
        &rig.path("sink"),
        &[
            "--tls",
            cert_path.to_str().unwrap(),
            key_path.to_str().unwrap(),
            "--auth",
            "relayuser",
            "relay secret",
        ],
    );
    let queue = rig.queue();
    let message = sample_message(REMOTE, "submission");
    queue
        .submit(envelope(&[REMOTE]), message_file(rig.dir.path(), &message))
        .await
        .unwrap();
    let got = sink.wait_for(1, Duration::from_secs(30)).await;
    assert_eq!(got[0].meta["tls"], true);
    // The most secure mechanism offered: SCRAM-SHA-256 (over TLS, without -PLUS the
    // client says it could bind: "y"), checked by scramp.
    assert_eq!(got[0].meta["login"], "relayuser via SCRAM-SHA-256");
    assert_eq!(got[0].bytes, message);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_relay_password_keeps_the_message_queued() {
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let password_file = dir.path().join("relay.password");
    std::fs::write(&password_file, "wrong\n").unwrap();
    let delivery = format!(
        r#"retry_first_seconds = 1
retry_max_interval_seconds = 2
routes = [{{ transport = "relay" }}]
transports.relay = {{ method = "smarthost", host = "127.0.0.1", port = {port}, tls = "none", username = "relayuser", password_file = "{pw}", mechanisms = ["LOGIN"] }}
"#,
        pw = password_file.display()
    );
    let rig = Rig::start(false, false, &delivery).await;
    // Without TLS the sink offers AUTH only because auth_require_tls is off.
    let sink = Sink::start(port, &rig.path("sink"), &["--auth", "relayuser", "right"]);
    let queue = rig.queue();
    let id = queue
        .submit(
            envelope(&[REMOTE]),
            message_file(rig.dir.path(), &sample_message(REMOTE, "badauth")),
        )
        .await
        .unwrap();
    eventually(Duration::from_secs(20), "a failed attempt", || {
        queue
            .store()
            .load(id)
            .unwrap()
            .is_some_and(|m| m.recipients[0].attempts >= 1)
    })
    .await;
    let m = queue.store().load(id).unwrap().unwrap();
    let error = m.recipients[0].last_error.clone().unwrap();
    // LOGIN is refused over plain text by our client before the password leaves.
    assert!(error.contains("no usable AUTH mechanism"), "{error}");
    assert!(sink.received().is_empty());
}

/// The direct transport to a domain literal, with opportunistic STARTTLS (the
/// receiver's self-signed certificate is accepted: no MTA-STS or DANE asks for more).
#[tokio::test(flavor = "multi_thread")]
async fn direct_delivery_to_an_address_literal_uses_opportunistic_starttls() {
    let port = free_port();
    let delivery = format!(
        r#"retry_first_seconds = 1
routes = [{{ transport = "mx" }}]
transports.mx = {{ method = "direct", port = {port} }}
"#
    );
    let rig = Rig::start(false, false, &delivery).await;
    let sink = Sink::start(
        port,
        &rig.path("sink"),
        &[
            "--tls",
            rig.path("cert.pem").to_str().unwrap(),
            rig.path("key.pem").to_str().unwrap(),
        ],
    );
    let queue = rig.queue();
    let message = sample_message("carol@[127.0.0.1]", "direct");
    queue
        .submit(
            envelope(&["carol@[127.0.0.1]"]),
            message_file(rig.dir.path(), &message),
        )
        .await
        .unwrap();
    let got = sink.wait_for(1, Duration::from_secs(30)).await;
    assert_eq!(got[0].meta["tls"], true, "{}", got[0].meta);
    assert_eq!(
        got[0].meta["rcpt_tos"],
        serde_json::json!(["carol@[127.0.0.1]"])
    );
    assert_eq!(got[0].bytes, message);
}

/// Direct delivery through a SOCKS5 proxy: the proxy is asked for the host by name.
#[tokio::test(flavor = "multi_thread")]
async fn the_socks_transport_connects_through_the_proxy() {
    use std::io::BufRead as _;
    let port = free_port();
    let proxy_port = free_port();
    let delivery = format!(
        r#"retry_first_seconds = 1
routes = [{{ transport = "tor" }}]
transports.tor = {{ method = "socks", proxy = "127.0.0.1:{proxy_port}", port = {port}, ehlo_hostname = "public.example" }}
"#
    );
    let rig = Rig::start(false, false, &delivery).await;
    let sink = Sink::start(port, &rig.path("sink"), &[]);
    let log = rig.path("socks.log");
    let mut proxy = std::process::Command::new("python3")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/python/socks5_proxy.py"
        ))
        .arg(proxy_port.to_string())
        .arg(&log)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut ready = String::new();
    std::io::BufReader::new(proxy.stdout.take().unwrap())
        .read_line(&mut ready)
        .unwrap();
    assert_eq!(ready.trim(), "READY");
    let queue = rig.queue();
    let message = sample_message("carol@[127.0.0.1]", "socks");
    queue
        .submit(
            envelope(&["carol@[127.0.0.1]"]),
            message_file(rig.dir.path(), &message),
        )
        .await
        .unwrap();
    let got = sink.wait_for(1, Duration::from_secs(30)).await;
    let _ = proxy.kill();
    let _ = proxy.wait();
    assert_eq!(got[0].bytes, message);
    assert_eq!(got[0].meta["helo"], "public.example");
    let connects = std::fs::read_to_string(&log).unwrap();
    assert_eq!(connects.trim(), format!("127.0.0.1:{port}"));
}

/// A DNS server (dnspython) on loopback answering from `zone`.
struct Dns {
    port: u16,
    child: std::process::Child,
}

impl Drop for Dns {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_dns(dir: &std::path::Path, zone: serde_json::Value) -> Dns {
    use std::io::BufRead as _;
    let port = free_port();
    let zone_path = dir.join("zone.json");
    std::fs::write(&zone_path, zone.to_string()).unwrap();
    let mut child = std::process::Command::new("python3")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/python/dns_server.py"
        ))
        .arg(port.to_string())
        .arg(&zone_path)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut ready = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut ready)
        .unwrap();
    assert_eq!(ready.trim(), "READY");
    Dns { port, child }
}

/// Direct delivery: the MX is looked up (the lower preference
/// first; the first host has no address and is skipped), a domain without MX gets its
/// A record used, and a null MX or a missing domain bounces at once.
#[tokio::test(flavor = "multi_thread")]
async fn direct_delivery_follows_mx_records() {
    let port = free_port();
    let scratch = tempfile::tempdir().unwrap();
    let dns = start_dns(
        scratch.path(),
        serde_json::json!({
            "remote.example.": {"MX": ["20 mx2.remote.example.", "10 mx1.remote.example."]},
            "mx1.remote.example.": {},
            "mx2.remote.example.": {"A": ["127.0.0.1"]},
            "nomx.example.": {"A": ["127.0.0.1"]},
            "nullmx.example.": {"MX": ["0 ."]},
        }),
    );
    // Without a route delivery is direct on port 25; an explicit direct transport
    // points it at the sink's port instead.
    let delivery = format!(
        r#"retry_first_seconds = 1
dns_servers = ["127.0.0.1:{dns_port}"]
routes = [{{ transport = "mx" }}]
transports.mx = {{ method = "direct", port = {port}, ipv6 = false }}
"#,
        dns_port = dns.port
    );
    let rig = Rig::start(false, true, &delivery).await;
    let sink = Sink::start(port, &rig.path("sink"), &[]);
    let queue = rig.queue();
    let message = sample_message("carol@remote.example", "mx");
    queue
        .submit(
            envelope(&[
                "carol@remote.example",
                "dave@nomx.example",
                "x@nullmx.example",
                "y@missing.example",
            ]),
            message_file(rig.dir.path(), &message),
        )
        .await
        .unwrap();
    let got = sink.wait_for(2, Duration::from_secs(30)).await;
    let mut rcpts: Vec<String> = got
        .iter()
        .map(|r| r.meta["rcpt_tos"][0].as_str().unwrap().to_string())
        .collect();
    rcpts.sort();
    assert_eq!(rcpts, ["carol@remote.example", "dave@nomx.example"]);
    eventually(Duration::from_secs(20), "the queue to empty", || {
        queue.store().pending_recipients().unwrap() == 0
    })
    .await;
    let inbox = rig.inbox(ADDRESS);
    assert_eq!(inbox.len(), 1, "one DSN for both bounced recipients");
    let dsn = String::from_utf8_lossy(&inbox[0]);
    assert!(
        dsn.contains(
            "Final-Recipient: rfc822; x@nullmx.example\r\nAction: failed\r\nStatus: 5.1.10"
        ),
        "{dsn}"
    );
    assert!(
        dsn.contains(
            "Final-Recipient: rfc822; y@missing.example\r\nAction: failed\r\nStatus: 5.1.2"
        ),
        "{dsn}"
    );
}

/// The submission transport with implicit TLS (port 465 style) and PLAIN, when the
/// transport's mechanisms allow only that.
#[tokio::test(flavor = "multi_thread")]
async fn submission_transport_with_implicit_tls_and_plain() {
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let password_file = dir.path().join("relay.password");
    std::fs::write(&password_file, "relay secret\n").unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["localhost".into()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let cert_path = dir.path().join("sink-cert.pem");
    let key_path = dir.path().join("sink-key.pem");
    std::fs::write(&cert_path, cert.pem()).unwrap();
    std::fs::write(&key_path, key.serialize_pem()).unwrap();
    let delivery = format!(
        r#"retry_first_seconds = 1
routes = [{{ transport = "provider" }}]
transports.provider = {{ method = "submission", host = "localhost", port = {port}, tls = "tls", ca_file = "{ca}", username = "relayuser", password_file = "{pw}", mechanisms = ["plain"] }}
"#,
        ca = cert_path.display(),
        pw = password_file.display()
    );
    let rig = Rig::start(false, false, &delivery).await;
    let sink = Sink::start(
        port,
        &rig.path("sink"),
        &[
            "--implicit-tls",
            cert_path.to_str().unwrap(),
            key_path.to_str().unwrap(),
            "--auth",
            "relayuser",
            "relay secret",
        ],
    );
    let queue = rig.queue();
    let message = sample_message(REMOTE, "implicit");
    let id = queue
        .submit(envelope(&[REMOTE]), message_file(rig.dir.path(), &message))
        .await
        .unwrap();
    eventually(Duration::from_secs(30), "an attempt", || {
        queue
            .store()
            .load(id)
            .unwrap()
            .is_none_or(|m| m.recipients[0].attempts > 0)
    })
    .await;
    if let Some(m) = queue.store().load(id).unwrap() {
        panic!("delivery failed: {:?}", m.recipients[0].last_error);
    }
    let got = sink.wait_for(1, Duration::from_secs(30)).await;
    assert_eq!(got[0].meta["login"], "relayuser");
    assert_eq!(got[0].meta["tls"], true);
    assert_eq!(got[0].bytes, message);
}
