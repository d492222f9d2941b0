//! A real fd crosses a process boundary: this test binary starts itself again as the
//! receiving process, which reads a file it could not open by name (the file is
//! already deleted) from the fd it received over SCM_RIGHTS.

use std::io::{Read as _, Seek as _, Write as _};
use std::os::fd::AsFd as _;
use std::process::Command;

use postern_ipc::fdpass;

const CHILD_SOCKET: &str = "POSTERN_FDPASS_TEST_SOCKET";

/// The receiving side; does nothing unless started by `passes_an_fd_to_another_process`.
#[test]
fn receiver_process() {
    let Some(path) = std::env::var_os(CHILD_SOCKET) else {
        return;
    };
    let socket = fdpass::seqpacket_connect(std::path::Path::new(&path)).unwrap();
    let datagram = fdpass::recv(socket.as_fd(), 64).unwrap();
    let mut file = std::fs::File::from(datagram.fds.into_iter().next().expect("an fd"));
    let mut text = String::new();
    file.read_to_string(&mut text).unwrap();
    println!(
        "\nRECEIVED pid={} payload={} content={text}\n",
        std::process::id(),
        String::from_utf8_lossy(&datagram.payload)
    );
}

#[test]
fn passes_an_fd_to_another_process() {
    let dir = tempfile::tempdir().unwrap();
    let socket_path = dir.path().join("pass.sock");
    let listener = fdpass::seqpacket_listen(&socket_path, 4).unwrap();
    let file_path = dir.path().join("message");
    let mut file = std::fs::File::options()
        .create(true)
        .truncate(true)
        .read(true)
        .write(true)
        .open(&file_path)
        .unwrap();
    file.write_all(b"only reachable through the fd").unwrap();
    file.rewind().unwrap();
    std::fs::remove_file(&file_path).unwrap();

    let child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "receiver_process",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_SOCKET, &socket_path)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let connection = fdpass::seqpacket_accept(listener.as_fd()).unwrap();
    fdpass::send(connection.as_fd(), b"message-file", &[file.as_fd()]).unwrap();
    let output = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    let line = stdout
        .lines()
        .find(|l| l.starts_with("RECEIVED"))
        .unwrap_or_else(|| panic!("child printed no result: {stdout}"));
    assert!(!line.contains(&format!("pid={} ", std::process::id())));
    assert!(
        line.trim_end()
            .ends_with("payload=message-file content=only reachable through the fd"),
        "{line}"
    );
}
