//! `SOCK_SEQPACKET` Unix sockets driven by tokio: the async form of [`crate::fdpass`]'s
//! blocking primitives, for connections that carry fds (imapd's store socket).
//!
//! The sockets are non-blocking and registered with tokio's reactor; sending and
//! receiving reuse [`crate::fdpass::send`] and [`crate::fdpass::recv`], so one datagram
//! is one payload plus the fds that belong to it.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::Path;
use std::time::Duration;

use nix::errno::Errno;
use nix::fcntl::{FcntlArg, OFlag, fcntl};
use nix::sys::socket::{
    AddressFamily, SockFlag, SockType, UnixAddr, connect, getsockopt, socket, sockopt,
};
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

use crate::fdpass::{self, Datagram, FdPassError};
use crate::peer::PeerCredentials;

/// How long [`SeqpacketConnection::connect`] waits between attempts while the listener's
/// backlog is full.
const CONNECT_RETRY_DELAY: Duration = Duration::from_millis(10);

/// Why an async `SOCK_SEQPACKET` operation failed.
#[derive(Debug, thiserror::Error)]
pub enum SeqpacketError {
    /// Sending or receiving a datagram failed (including a closed peer).
    #[error(transparent)]
    Pass(#[from] FdPassError),
    /// Registering with the reactor or waiting for readiness failed.
    #[error("socket: {0}")]
    Io(#[from] io::Error),
}

/// Registers `fd` with the current tokio reactor.
fn register(fd: OwnedFd) -> Result<AsyncFd<OwnedFd>, SeqpacketError> {
    // SAFETY: an OwnedFd is an open descriptor that stays open, and names the same file
    // description, until the AsyncFd that owns it is dropped.
    unsafe { AsyncFd::register(fd) }.map_err(|e| SeqpacketError::Io(e.into_parts().1))
}

fn set_nonblocking(fd: &OwnedFd) -> Result<(), SeqpacketError> {
    let flags = fcntl(fd, FcntlArg::F_GETFL).map_err(io::Error::from)?;
    let flags = OFlag::from_bits_truncate(flags) | OFlag::O_NONBLOCK;
    fcntl(fd, FcntlArg::F_SETFL(flags)).map_err(io::Error::from)?;
    Ok(())
}

/// One connected `SOCK_SEQPACKET` socket.
#[derive(Debug)]
pub struct SeqpacketConnection {
    fd: AsyncFd<OwnedFd>,
}

impl SeqpacketConnection {
    /// Wraps a connected socket (made non-blocking here). Needs a tokio runtime.
    pub fn new(fd: OwnedFd) -> Result<SeqpacketConnection, SeqpacketError> {
        set_nonblocking(&fd)?;
        Ok(SeqpacketConnection { fd: register(fd)? })
    }

    /// Connects to the listening socket at `path`. While the listener's backlog is full
    /// it tries again; bound the wait with a timeout around this call.
    pub async fn connect(path: &Path) -> Result<SeqpacketConnection, SeqpacketError> {
        let fd = socket(
            AddressFamily::Unix,
            SockType::SeqPacket,
            SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK,
            None,
        )
        .map_err(FdPassError::from)?;
        let address = UnixAddr::new(path).map_err(FdPassError::from)?;
        loop {
            // A Unix socket connects at once or, with a full backlog, says EAGAIN.
            match connect(fd.as_raw_fd(), &address) {
                Ok(()) => break,
                Err(Errno::EAGAIN) => tokio::time::sleep(CONNECT_RETRY_DELAY).await,
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(FdPassError::from(e).into()),
            }
        }
        SeqpacketConnection::new(fd)
    }

    /// Who is connected at the other end (`SO_PEERCRED`), as the kernel says.
    pub fn peer_credentials(&self) -> Result<PeerCredentials, SeqpacketError> {
        peer_credentials(self.fd.get_ref().as_fd())
    }

    /// Sends one datagram with `payload` and `fds`.
    pub async fn send(&self, payload: &[u8], fds: &[BorrowedFd<'_>]) -> Result<(), SeqpacketError> {
        loop {
            let mut guard = self.fd.ready(Interest::WRITABLE).await?;
            match fdpass::send(self.fd.get_ref().as_fd(), payload, fds) {
                Err(FdPassError::Os(Errno::EAGAIN)) => guard.clear_ready(),
                Err(FdPassError::Os(Errno::EINTR)) => {}
                other => return Ok(other?),
            }
        }
    }

    /// Receives one datagram of at most `max_payload` bytes; a larger one is an error
    /// ([`FdPassError::Truncated`]), as is a closed peer ([`FdPassError::Closed`]).
    pub async fn recv(&self, max_payload: usize) -> Result<Datagram, SeqpacketError> {
        loop {
            let mut guard = self.fd.ready(Interest::READABLE).await?;
            match fdpass::recv(self.fd.get_ref().as_fd(), max_payload) {
                Err(FdPassError::Os(Errno::EAGAIN)) => guard.clear_ready(),
                other => return Ok(other?),
            }
        }
    }
}

/// A listening `SOCK_SEQPACKET` socket.
#[derive(Debug)]
pub struct SeqpacketListener {
    fd: AsyncFd<OwnedFd>,
}

impl SeqpacketListener {
    /// Wraps a listening socket, e.g. one passed by socket activation (made
    /// non-blocking here). Fails when `fd` is not a listening `SOCK_SEQPACKET` socket.
    /// Needs a tokio runtime.
    pub fn from_fd(fd: OwnedFd) -> Result<SeqpacketListener, SeqpacketError> {
        let kind = getsockopt(&fd, sockopt::SockType).map_err(io::Error::from)?;
        let listening = getsockopt(&fd, sockopt::AcceptConn).map_err(io::Error::from)?;
        if kind != SockType::SeqPacket || !listening {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "not a listening SOCK_SEQPACKET socket",
            )
            .into());
        }
        set_nonblocking(&fd)?;
        Ok(SeqpacketListener { fd: register(fd)? })
    }

    /// Binds and listens at `path` (which must not exist). Needs a tokio runtime.
    pub fn bind(path: &Path, backlog: i32) -> Result<SeqpacketListener, SeqpacketError> {
        SeqpacketListener::from_fd(fdpass::seqpacket_listen(path, backlog)?)
    }

    /// Accepts one connection.
    pub async fn accept(&self) -> Result<SeqpacketConnection, SeqpacketError> {
        loop {
            let mut guard = self.fd.ready(Interest::READABLE).await?;
            match fdpass::seqpacket_accept(self.fd.get_ref().as_fd()) {
                Err(FdPassError::Os(Errno::EAGAIN)) => guard.clear_ready(),
                Err(FdPassError::Os(Errno::EINTR | Errno::ECONNABORTED)) => {}
                other => return SeqpacketConnection::new(other?),
            }
        }
    }
}

/// Whether something listens on the `SOCK_SEQPACKET` socket at `path` (a connection is
/// accepted or waits in a full backlog), as opposed to a stale socket file left by a
/// process that is gone. Does not block.
pub fn is_listening(path: &Path) -> bool {
    let Ok(fd) = socket(
        AddressFamily::Unix,
        SockType::SeqPacket,
        SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK,
        None,
    ) else {
        return false;
    };
    let Ok(address) = UnixAddr::new(path) else {
        return false;
    };
    matches!(
        connect(fd.as_raw_fd(), &address),
        Ok(()) | Err(Errno::EAGAIN)
    )
}

/// The credentials of the process at the other end of a connected Unix socket
/// (`SO_PEERCRED`).
pub fn peer_credentials(fd: BorrowedFd<'_>) -> Result<PeerCredentials, SeqpacketError> {
    let cred = getsockopt(&fd, sockopt::PeerCredentials).map_err(io::Error::from)?;
    Ok(PeerCredentials {
        uid: cred.uid(),
        gid: cred.gid(),
        pid: Some(cred.pid()).filter(|pid| *pid > 0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Seek, Write};

    #[tokio::test]
    async fn a_file_travels_over_a_listening_socket() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sock");
        let listener = SeqpacketListener::bind(&path, 8).unwrap();
        let server = tokio::spawn(async move {
            let conn = listener.accept().await.unwrap();
            let peer = conn.peer_credentials().unwrap();
            let got = conn.recv(64).await.unwrap();
            conn.send(b"ok", &[]).await.unwrap();
            (peer, got)
        });
        let client = SeqpacketConnection::connect(&path).await.unwrap();
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(b"the message").unwrap();
        file.rewind().unwrap();
        client.send(b"hello", &[file.as_fd()]).await.unwrap();
        let answer = client.recv(64).await.unwrap();
        assert_eq!(answer.payload, b"ok");
        let (peer, got) = server.await.unwrap();
        assert_eq!(peer.uid, nix::unistd::geteuid().as_raw());
        assert_eq!(peer.pid, Some(std::process::id() as i32));
        assert_eq!(got.payload, b"hello");
        let mut text = String::new();
        std::fs::File::from(got.fds.into_iter().next().unwrap())
            .read_to_string(&mut text)
            .unwrap();
        assert_eq!(text, "the message");
    }

    #[tokio::test]
    async fn closed_peer_and_oversized_datagrams_are_errors() {
        let (a, b) = fdpass::seqpacket_pair().unwrap();
        let a = SeqpacketConnection::new(a).unwrap();
        let b = SeqpacketConnection::new(b).unwrap();
        a.send(&[1u8; 100], &[]).await.unwrap();
        assert!(matches!(
            b.recv(10).await,
            Err(SeqpacketError::Pass(FdPassError::Truncated))
        ));
        drop(a);
        assert!(matches!(
            b.recv(10).await,
            Err(SeqpacketError::Pass(FdPassError::Closed))
        ));
    }

    #[tokio::test]
    async fn live_and_stale_sockets_are_told_apart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sock");
        assert!(!is_listening(&path));
        let listener = SeqpacketListener::bind(&path, 8).unwrap();
        assert!(is_listening(&path));
        drop(listener);
        assert!(path.exists());
        assert!(!is_listening(&path));
    }

    #[tokio::test]
    async fn a_stream_socket_is_not_taken_for_a_listener() {
        let dir = tempfile::tempdir().unwrap();
        let stream = std::os::unix::net::UnixListener::bind(dir.path().join("x")).unwrap();
        assert!(SeqpacketListener::from_fd(OwnedFd::from(stream)).is_err());
    }
}
