//! Passing open files between processes (`SCM_RIGHTS`) over `SOCK_SEQPACKET` sockets:
//! one datagram carries one frame payload and the fds that belong to it.
//!
//! Used where a file travels instead of its bytes: TLS certificate and key files from the
//! supervisor, message files to imapd's store socket.

use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;

use nix::sys::socket::{
    AddressFamily, Backlog, ControlMessage, ControlMessageOwned, MsgFlags, SockFlag, SockType,
    UnixAddr, accept4, bind, connect, listen, recvmsg, sendmsg, socket, socketpair,
};

/// Most fds one datagram may carry.
pub const MAX_FDS_PER_MESSAGE: usize = 8;

/// Why a datagram could not be sent or received.
#[derive(Debug, thiserror::Error)]
pub enum FdPassError {
    /// The system call failed.
    #[error("socket: {0}")]
    Os(#[from] nix::Error),
    /// The payload or the fds did not fit the receiver's buffers.
    #[error("datagram truncated (payload or control data larger than allowed)")]
    Truncated,
    /// More fds than [`MAX_FDS_PER_MESSAGE`].
    #[error("{0} fds is more than the {MAX_FDS_PER_MESSAGE} allowed per message")]
    TooManyFds(usize),
    /// The peer closed the socket.
    #[error("peer closed the socket")]
    Closed,
}

/// One received datagram.
#[derive(Debug)]
pub struct Datagram {
    /// The payload bytes.
    pub payload: Vec<u8>,
    /// The fds that came with it, owned (and close-on-exec).
    pub fds: Vec<OwnedFd>,
}

/// A connected pair of `SOCK_SEQPACKET` sockets, close-on-exec.
pub fn seqpacket_pair() -> Result<(OwnedFd, OwnedFd), FdPassError> {
    Ok(socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )?)
}

/// A listening `SOCK_SEQPACKET` socket bound to `path`.
pub fn seqpacket_listen(path: &Path, backlog: i32) -> Result<OwnedFd, FdPassError> {
    let fd = socket(
        AddressFamily::Unix,
        SockType::SeqPacket,
        SockFlag::SOCK_CLOEXEC,
        None,
    )?;
    bind(fd.as_raw_fd(), &UnixAddr::new(path)?)?;
    listen(&fd, Backlog::new(backlog)?)?;
    Ok(fd)
}

/// Accepts one connection on a listening `SOCK_SEQPACKET` socket (blocking).
pub fn seqpacket_accept(listener: BorrowedFd<'_>) -> Result<OwnedFd, FdPassError> {
    let raw = accept4(listener.as_raw_fd(), SockFlag::SOCK_CLOEXEC)?;
    // SAFETY: accept4 returned a new fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(raw) })
}

/// Connects to a `SOCK_SEQPACKET` socket at `path` (blocking).
pub fn seqpacket_connect(path: &Path) -> Result<OwnedFd, FdPassError> {
    let fd = socket(
        AddressFamily::Unix,
        SockType::SeqPacket,
        SockFlag::SOCK_CLOEXEC,
        None,
    )?;
    connect(fd.as_raw_fd(), &UnixAddr::new(path)?)?;
    Ok(fd)
}

/// Sends one datagram with `payload` and `fds`.
pub fn send(
    socket: BorrowedFd<'_>,
    payload: &[u8],
    fds: &[BorrowedFd<'_>],
) -> Result<(), FdPassError> {
    if fds.len() > MAX_FDS_PER_MESSAGE {
        return Err(FdPassError::TooManyFds(fds.len()));
    }
    let raw: Vec<RawFd> = fds.iter().map(|fd| fd.as_raw_fd()).collect();
    let cmsgs: Vec<ControlMessage<'_>> = if raw.is_empty() {
        Vec::new()
    } else {
        vec![ControlMessage::ScmRights(&raw)]
    };
    sendmsg::<()>(
        socket.as_raw_fd(),
        &[IoSlice::new(payload)],
        &cmsgs,
        MsgFlags::MSG_NOSIGNAL,
        None,
    )?;
    Ok(())
}

/// Receives one datagram of at most `max_payload` bytes (blocking, retried when a signal
/// interrupts it). Any truncation of
/// payload or fds is an error; fds received with a truncated datagram are closed.
pub fn recv(socket: BorrowedFd<'_>, max_payload: usize) -> Result<Datagram, FdPassError> {
    // One byte more than allowed, so an oversized datagram shows as truncated.
    let mut buf = vec![0u8; max_payload + 1];
    let mut cmsg_space = nix::cmsg_space!([RawFd; MAX_FDS_PER_MESSAGE]);
    let (len, flags, received) = {
        let mut iov = [IoSliceMut::new(&mut buf)];
        let msg = loop {
            match recvmsg::<()>(
                socket.as_raw_fd(),
                &mut iov,
                Some(&mut cmsg_space),
                MsgFlags::MSG_CMSG_CLOEXEC,
            ) {
                Err(nix::errno::Errno::EINTR) => continue,
                other => break other?,
            }
        };
        let mut received = Vec::new();
        for cmsg in msg.cmsgs()? {
            if let ControlMessageOwned::ScmRights(fds) = cmsg {
                for fd in fds {
                    // SAFETY: the kernel just installed this fd in our table for us.
                    received.push(unsafe { OwnedFd::from_raw_fd(fd) });
                }
            }
        }
        (msg.bytes, msg.flags, received)
    };
    if flags.intersects(MsgFlags::MSG_TRUNC | MsgFlags::MSG_CTRUNC) || len > max_payload {
        return Err(FdPassError::Truncated);
    }
    if len == 0 && received.is_empty() {
        return Err(FdPassError::Closed);
    }
    buf.truncate(len);
    Ok(Datagram {
        payload: buf,
        fds: received,
    })
}

/// Borrows an fd from anything that has one, for [`send`].
pub fn borrow<T: AsFd>(value: &T) -> BorrowedFd<'_> {
    value.as_fd()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Seek, Write};

    #[test]
    fn passes_a_file_within_the_process() {
        let (a, b) = seqpacket_pair().unwrap();
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(b"hello through SCM_RIGHTS").unwrap();
        file.rewind().unwrap();
        send(a.as_fd(), b"msg", &[file.as_fd()]).unwrap();
        let got = recv(b.as_fd(), 16).unwrap();
        assert_eq!(got.payload, b"msg");
        assert_eq!(got.fds.len(), 1);
        let mut text = String::new();
        std::fs::File::from(got.fds.into_iter().next().unwrap())
            .read_to_string(&mut text)
            .unwrap();
        assert_eq!(text, "hello through SCM_RIGHTS");
    }

    #[test]
    fn oversized_datagram_is_refused() {
        let (a, b) = seqpacket_pair().unwrap();
        send(a.as_fd(), &[7u8; 100], &[]).unwrap();
        assert!(matches!(recv(b.as_fd(), 10), Err(FdPassError::Truncated)));
    }

    #[test]
    fn too_many_fds_are_refused_by_the_sender() {
        let (a, _b) = seqpacket_pair().unwrap();
        let fds: Vec<_> = (0..MAX_FDS_PER_MESSAGE + 1).map(|_| a.as_fd()).collect();
        assert!(matches!(
            send(a.as_fd(), b"x", &fds),
            Err(FdPassError::TooManyFds(_))
        ));
    }

    #[test]
    fn closed_peer_is_reported() {
        let (a, b) = seqpacket_pair().unwrap();
        drop(a);
        assert!(matches!(recv(b.as_fd(), 10), Err(FdPassError::Closed)));
    }
}
