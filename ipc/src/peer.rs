//! Who is on the other end of a Unix socket, as the kernel says (`SO_PEERCRED`).
#![forbid(unsafe_code)]

use std::io;

use tokio::net::UnixStream;

/// The credentials of the process that connected, read from the socket, never from
/// anything it sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerCredentials {
    /// Effective uid at connect time.
    pub uid: u32,
    /// Effective gid at connect time.
    pub gid: u32,
    /// Process id, when the kernel reports one.
    pub pid: Option<i32>,
}

impl PeerCredentials {
    /// Reads the peer credentials of an accepted connection.
    pub fn of(stream: &UnixStream) -> io::Result<PeerCredentials> {
        let cred = stream.peer_cred()?;
        Ok(PeerCredentials {
            uid: cred.uid(),
            gid: cred.gid(),
            pid: cred.pid(),
        })
    }
}
