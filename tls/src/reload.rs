//! Replacing the TLS certificate while a daemon runs: new certificate and key files come
//! as fds from the supervisor over the daemon's control socket pair (`postern serve`,
//! SIGHUP), or are read again from the credential paths on the daemon's own SIGHUP.
//! Open connections keep the certificate they started with.

use std::os::fd::{AsFd as _, OwnedFd};
use std::path::Path;
use std::sync::Arc;

use postern_ipc::control::{DaemonControl, DaemonControlReply, MAX_DAEMON_CONTROL_MESSAGE};
use postern_ipc::fdpass::{self, FdPassError};
use postern_ipc::frame::{decode_payload, encode_payload};

use crate::{ServerCertificate, TlsSetupError, read_pem_fd, read_pem_file};

/// Reads the certificate and key files again and serves new connections with them.
pub fn reload_from_files(
    certificate: &ServerCertificate,
    cert: &Path,
    key: &Path,
) -> Result<(), TlsSetupError> {
    certificate.replace(&read_pem_file(cert)?, &read_pem_file(key)?)
}

fn reload_from_fds(
    certificate: &ServerCertificate,
    fds: Vec<OwnedFd>,
) -> Result<(), TlsSetupError> {
    let mut fds = fds.into_iter();
    let (Some(cert), Some(key), None) = (fds.next(), fds.next(), fds.next()) else {
        return Err(TlsSetupError::Pem(
            "reload needs exactly two files: certificate and key".into(),
        ));
    };
    certificate.replace(&read_pem_fd(cert)?, &read_pem_fd(key)?)
}

/// Answers the supervisor's messages on `socket` until the supervisor closes it. Runs on
/// its own thread (the socket is blocking); `daemon` names the daemon in logs.
pub fn serve_control(socket: OwnedFd, certificate: Arc<ServerCertificate>, daemon: &str) {
    loop {
        let datagram = match fdpass::recv(socket.as_fd(), MAX_DAEMON_CONTROL_MESSAGE) {
            Ok(d) => d,
            Err(FdPassError::Closed) => {
                tracing::info!(daemon, "control socket closed by the supervisor");
                return;
            }
            Err(e) => {
                tracing::warn!(daemon, "control socket: {e}");
                if matches!(e, FdPassError::Truncated) {
                    continue;
                }
                return;
            }
        };
        let reply =
            match decode_payload::<DaemonControl>(&datagram.payload, MAX_DAEMON_CONTROL_MESSAGE) {
                Ok(DaemonControl::ReloadTls) => match reload_from_fds(&certificate, datagram.fds) {
                    Ok(()) => {
                        tracing::info!(daemon, "tls certificate replaced");
                        DaemonControlReply::Done
                    }
                    Err(e) => {
                        tracing::warn!(daemon, "tls certificate not replaced: {e}");
                        DaemonControlReply::Failed(e.to_string())
                    }
                },
                Err(e) => DaemonControlReply::Failed(format!("unreadable request: {e}")),
            };
        let sent = encode_payload(&reply, MAX_DAEMON_CONTROL_MESSAGE)
            .map_err(|e| e.to_string())
            .and_then(|bytes| fdpass::send(socket.as_fd(), &bytes, &[]).map_err(|e| e.to_string()));
        if let Err(e) = sent {
            tracing::warn!(daemon, "control socket reply: {e}");
            return;
        }
    }
}
