//! The supervisor's control socket, which `postern status` asks. It answers one uid only,
//! read from the socket (`SO_PEERCRED`): root for `postern serve`, the invoking user for
//! `postern localserve`.

use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use postern_config::Config;
use postern_ipc::FrameCodec;
use postern_ipc::control::{ControlRequest, ControlResponse, MAX_CONTROL_FRAME};
use postern_ipc::peer::PeerCredentials;
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::Mutex;
use tokio_util::codec::Framed;

use crate::supervision::Supervision;

/// The uid that may use the control socket of a supervisor running `config`: root, or
/// in localserve the user running it.
pub fn allowed_uid(config: &Config) -> u32 {
    if config.localserve {
        nix::unistd::getuid().as_raw()
    } else {
        0
    }
}

/// Answers the control socket `listener` until the task is dropped or aborted.
pub async fn serve(
    listener: OwnedFd,
    supervision: Arc<Mutex<Supervision>>,
    allowed_uid: u32,
) -> anyhow::Result<()> {
    let listener = std::os::unix::net::UnixListener::from(listener);
    listener.set_nonblocking(true)?;
    let listener = UnixListener::from_std(listener)?;
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                tokio::spawn(answer(stream, supervision.clone(), allowed_uid));
            }
            Err(e) => {
                tracing::error!(error = %e, "accept on the control socket failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

async fn answer(stream: UnixStream, supervision: Arc<Mutex<Supervision>>, allowed_uid: u32) {
    let peer = match PeerCredentials::of(&stream) {
        Ok(peer) => peer,
        Err(_) => return,
    };
    let mut framed = Framed::new(
        stream,
        FrameCodec::<ControlRequest, ControlResponse>::new(MAX_CONTROL_FRAME, MAX_CONTROL_FRAME),
    );
    if peer.uid != allowed_uid {
        tracing::warn!(
            peer_uid = peer.uid,
            allowed_uid,
            "control socket: refusing a peer"
        );
        // Read the request first, so that the answer is not lost to a reset connection.
        let _ = tokio::time::timeout(Duration::from_secs(5), framed.next()).await;
        let _ = framed
            .send(ControlResponse::Error(format!(
                "permission denied: uid {} may not use the control socket",
                peer.uid
            )))
            .await;
        return;
    }
    while let Some(Ok(request)) = framed.next().await {
        let response = match request {
            ControlRequest::Status => ControlResponse::Status(supervision.lock().await.status()),
        };
        if framed.send(response).await.is_err() {
            return;
        }
    }
}
