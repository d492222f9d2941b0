//! Crash safety of APPEND end to end (DESIGN.md invariant 7): imapd is killed with
//! SIGKILL while 100 clients append at once; after a restart on the same data every
//! APPEND that got its tagged OK is there byte for byte under the UID its APPENDUID
//! named, nothing partial is visible, and UIDs never go back.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{Server, proc_status_kib};
use tokio::io::{AsyncRead, AsyncWrite};

/// Clients appending at once.
const CLIENTS: usize = 100;
/// imapd is killed once this many APPENDs got their OK (most clients are then in the
/// middle of another one).
const OKS_BEFORE_KILL: usize = 300;

/// A distinct message: headers naming the client and its sequence number, and a body of
/// `size` bytes of text derived from both (CRLF line ends).
fn message(client: usize, seq: usize) -> Vec<u8> {
    // Sizes from about 300 bytes to about 250 KiB, varying per message.
    let mut state = (client as u64 + 1) * 1_000_003 + seq as u64 * 7919;
    let mut next = || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        state >> 33
    };
    let size = match next() % 4 {
        0 => 300 + (next() % 700) as usize,
        1 => 2_000 + (next() % 10_000) as usize,
        2 => 20_000 + (next() % 60_000) as usize,
        _ => 100_000 + (next() % 150_000) as usize,
    };
    let mut out = format!(
        "From: client{client}@example.org\r\nTo: mjl@example.org\r\nSubject: crash test \
         {client}-{seq}\r\nMessage-ID: <crash-{client}-{seq}@example.org>\r\nX-Crash-Id: \
         {client}-{seq}\r\n\r\n"
    )
    .into_bytes();
    while out.len() < size {
        let word = next();
        let line = format!(
            "{client}-{seq} line {:016x} {:08x}\r\n",
            word,
            word % 99_991
        );
        out.extend_from_slice(line.as_bytes());
    }
    out
}

/// The `X-Crash-Id` of a message: `(client, seq)`.
fn crash_id(message: &[u8]) -> Option<(usize, usize)> {
    let text = String::from_utf8_lossy(message);
    let value = text
        .lines()
        .take_while(|l| !l.is_empty())
        .find_map(|l| l.strip_prefix("X-Crash-Id: "))?;
    let (client, seq) = value.trim().split_once('-')?;
    Some((client.parse().ok()?, seq.parse().ok()?))
}

/// What happened to one APPEND.
#[derive(Debug, Clone, PartialEq)]
enum Outcome {
    /// Tagged OK with `[APPENDUID uidvalidity uid]`.
    Ok { uidvalidity: u32, uid: u32 },
    /// Sent (wholly or in part) but no tagged reply came: the kill.
    Unconfirmed,
}

/// `(uidvalidity, uid)` from `tag OK [APPENDUID v u] ...`.
fn appenduid(line: &str) -> Option<(u32, u32)> {
    let rest = line.split_once("[APPENDUID ")?.1;
    let (codes, _) = rest.split_once(']')?;
    let mut words = codes.split(' ');
    Some((words.next()?.parse().ok()?, words.next()?.parse().ok()?))
}

/// One APPEND; synchronising literals for odd sequence numbers (waiting for `+`),
/// LITERAL+ for even ones. `None` when the connection broke before the tagged reply.
async fn append_one<S: AsyncRead + AsyncWrite + Unpin>(
    client: &mut common::Client<S>,
    tag: &str,
    data: &[u8],
    sync: bool,
) -> Option<String> {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
    async fn line<S: AsyncRead + AsyncWrite + Unpin>(
        client: &mut common::Client<S>,
    ) -> Option<String> {
        let mut line = String::new();
        match client.stream.read_line(&mut line).await {
            Ok(n) if n > 0 => Some(line.trim_end().to_owned()),
            _ => None,
        }
    }
    let plus = if sync { "" } else { "+" };
    let header = format!("{tag} APPEND INBOX {{{}{plus}}}\r\n", data.len());
    let stream = client.stream.get_mut();
    if sync {
        stream.write_all(header.as_bytes()).await.ok()?;
        stream.flush().await.ok()?;
        let cont = line(client).await?;
        assert!(cont.starts_with("+ "), "{cont}");
        let stream = client.stream.get_mut();
        stream.write_all(data).await.ok()?;
        stream.write_all(b"\r\n").await.ok()?;
        stream.flush().await.ok()?;
    } else {
        let mut all = header.into_bytes();
        all.extend_from_slice(data);
        all.extend_from_slice(b"\r\n");
        stream.write_all(&all).await.ok()?;
        stream.flush().await.ok()?;
    }
    loop {
        let reply = line(client).await?;
        if reply.starts_with(&format!("{tag} ")) {
            return Some(reply);
        }
    }
}

/// One client: logs in, waits for everyone, then appends until the connection breaks.
/// Returns the outcome of every APPEND it started, by sequence number.
async fn appender(
    server_cert: Arc<Server>,
    client_no: usize,
    ready: Arc<tokio::sync::Barrier>,
    oks: Arc<AtomicUsize>,
) -> Vec<Outcome> {
    let mut client = server_cert.login_tls().await;
    ready.wait().await;
    let mut outcomes = Vec::new();
    for seq in 0.. {
        let data = message(client_no, seq);
        outcomes.push(Outcome::Unconfirmed);
        let Some(reply) = append_one(&mut client, &format!("a{seq}"), &data, seq % 2 == 1).await
        else {
            break;
        };
        let (uidvalidity, uid) =
            appenduid(&reply).unwrap_or_else(|| panic!("APPEND not OK before the kill: {reply}"));
        assert!(reply.starts_with(&format!("a{seq} OK ")), "{reply}");
        outcomes[seq] = Outcome::Ok { uidvalidity, uid };
        oks.fetch_add(1, Ordering::SeqCst);
    }
    outcomes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_100_concurrent_appends() {
    let mut server = Server::start().await;
    // 100 connections from 127.0.0.1 are over the per-network limit of 30.
    server.trust_loopback().await;

    // A few messages before, and the UID state an observer saw.
    let mut observer = server.login_tls().await;
    let mut before_uids = Vec::new();
    for seq in 0..3 {
        let reply = observer
            .append(&format!("p{seq}"), "INBOX", "", &message(CLIENTS, seq))
            .await;
        before_uids.push(appenduid(&reply).unwrap_or_else(|| panic!("{reply}")).1);
    }
    let status_before = uidnext(&mut observer, "s0").await;

    let server = Arc::new(server);
    let ready = Arc::new(tokio::sync::Barrier::new(CLIENTS + 1));
    let oks = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..CLIENTS)
        .map(|client_no| {
            tokio::spawn(appender(
                Arc::clone(&server),
                client_no,
                Arc::clone(&ready),
                Arc::clone(&oks),
            ))
        })
        .collect();
    ready.wait().await;
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut uidnext_seen = status_before;
    while oks.load(Ordering::SeqCst) < OKS_BEFORE_KILL {
        assert!(Instant::now() < deadline, "APPENDs too slow");
        uidnext_seen = uidnext_seen.max(uidnext(&mut observer, "s1").await);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let pid = server.imapd_pid();
    let rss_kib = proc_status_kib(pid, "VmRSS");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let mut sent: HashMap<(usize, usize), Outcome> = HashMap::new();
    for (client_no, task) in tasks.into_iter().enumerate() {
        for (seq, outcome) in task.await.unwrap().into_iter().enumerate() {
            sent.insert((client_no, seq), outcome);
        }
    }
    for (seq, uid) in before_uids.iter().enumerate() {
        sent.insert(
            (CLIENTS, seq),
            Outcome::Ok {
                uidvalidity: 0,
                uid: *uid,
            },
        );
    }
    let ok_count = sent
        .values()
        .filter(|o| matches!(o, Outcome::Ok { .. }))
        .count();
    let unconfirmed = sent.len() - ok_count;
    eprintln!(
        "killed imapd (VmRSS {rss_kib:?} KiB) with {ok_count} APPENDs confirmed and \
         {unconfirmed} in flight"
    );
    assert!(
        unconfirmed >= CLIENTS / 2,
        "the kill hit few APPENDs in flight"
    );
    let max_ok_uid = sent
        .values()
        .filter_map(|o| match o {
            Outcome::Ok { uid, .. } => Some(*uid),
            Outcome::Unconfirmed => None,
        })
        .max()
        .unwrap();
    let uidvalidities: std::collections::BTreeSet<u32> = sent
        .values()
        .filter_map(|o| match o {
            Outcome::Ok { uidvalidity, .. } if *uidvalidity != 0 => Some(*uidvalidity),
            _ => None,
        })
        .collect();
    assert_eq!(uidvalidities.len(), 1, "{uidvalidities:?}");

    // Restart on the same data directory (restart_imapd reaps the killed process).
    let mut server = Arc::try_unwrap(server).unwrap_or_else(|_| panic!("server still shared"));
    drop(observer);
    server.restart_imapd().await;
    // Leftover temp files of the interrupted APPENDs are gone.
    let tmp = server.store_root().join("tmp");
    let leftovers: Vec<_> = std::fs::read_dir(&tmp)
        .map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(leftovers.is_empty(), "temp files left: {leftovers:?}");

    let mut client = server.login_tls().await;
    let selected = client.command("se", "SELECT INBOX").await;
    let last = selected.last().unwrap();
    assert!(last.starts_with("se OK "), "{selected:?}");
    let uidvalidity = selected
        .iter()
        .find_map(|l| {
            l.split_once("[UIDVALIDITY ")?
                .1
                .split(']')
                .next()?
                .parse()
                .ok()
        })
        .unwrap_or_else(|| panic!("no UIDVALIDITY: {selected:?}"));
    assert!(uidvalidities.contains(&uidvalidity), "UIDVALIDITY changed");
    let visible: BTreeMap<u32, Vec<u8>> = client.fetch_all("fe").await;

    // Every confirmed APPEND is there under its UID, byte for byte.
    for (&(client_no, seq), outcome) in &sent {
        if let Outcome::Ok { uid, .. } = outcome {
            let body = visible
                .get(uid)
                .unwrap_or_else(|| panic!("confirmed {client_no}-{seq} (UID {uid}) is gone"));
            assert!(
                body == &message(client_no, seq),
                "confirmed {client_no}-{seq} (UID {uid}) differs"
            );
        }
    }
    // Every visible message is one that was sent, whole, and only once.
    let mut seen = std::collections::HashSet::new();
    for (uid, body) in &visible {
        let id = crash_id(body).unwrap_or_else(|| panic!("UID {uid}: not a message we sent"));
        assert!(sent.contains_key(&id), "UID {uid}: {id:?} was never sent");
        assert!(
            body == &message(id.0, id.1),
            "UID {uid}: {id:?} is partial or altered ({} bytes)",
            body.len()
        );
        assert!(seen.insert(id), "{id:?} visible twice");
    }
    let recovered_unconfirmed = visible.len() - ok_count;
    eprintln!(
        "after restart: {} messages visible ({ok_count} confirmed, {recovered_unconfirmed} \
         of the unconfirmed ones committed before the kill)",
        visible.len()
    );

    // UIDs never go back.
    let uidnext_after = uidnext(&mut client, "s2").await;
    assert!(
        uidnext_after > max_ok_uid,
        "UIDNEXT {uidnext_after} after restart, but UID {max_ok_uid} was given out"
    );
    assert!(
        uidnext_after >= uidnext_seen,
        "UIDNEXT went back from {uidnext_seen} to {uidnext_after}"
    );
    let highest_visible = visible.keys().max().copied().unwrap_or(0);
    let reply = client
        .append("n1", "INBOX", "", &message(CLIENTS + 1, 0))
        .await;
    let (_, new_uid) = appenduid(&reply).unwrap_or_else(|| panic!("{reply}"));
    assert!(
        new_uid > max_ok_uid && new_uid > highest_visible && new_uid >= uidnext_seen,
        "new APPEND got UID {new_uid}; before: confirmed up to {max_ok_uid}, visible up to \
         {highest_visible}, UIDNEXT seen {uidnext_seen}"
    );
}

/// UIDNEXT of INBOX from STATUS.
async fn uidnext<S: AsyncRead + AsyncWrite + Unpin>(
    client: &mut common::Client<S>,
    tag: &str,
) -> u32 {
    let lines = client.command(tag, "STATUS INBOX (UIDNEXT)").await;
    assert!(
        lines.last().unwrap().starts_with(&format!("{tag} OK")),
        "{lines:?}"
    );
    lines
        .iter()
        .find_map(|l| l.split_once("UIDNEXT ")?.1.split(')').next()?.parse().ok())
        .unwrap_or_else(|| panic!("no UIDNEXT: {lines:?}"))
}
