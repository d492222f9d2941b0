//! A running `postern-authd` for the tests of the daemons that ask it, and calls on its
//! admin socket.

use std::path::{Path, PathBuf};

use postern_ipc::Secret;
use postern_ipc::admin::{AdminRequest, AdminResponse};
use postern_ipc::client::AdminConnection;

use crate::binary::workspace_binary;
use crate::process::{ChildProcess, daemon_command, wait_for_start};

/// A `postern-authd` started on a config, killed when dropped.
#[derive(Debug)]
pub struct AuthdProcess {
    /// The authd process.
    pub process: ChildProcess,
    /// Its admin socket, from the config's `runtime_dir`.
    pub admin_socket: PathBuf,
}

impl AuthdProcess {
    /// Starts authd (the workspace binary, built if missing) on `config_path` and waits
    /// until its admin socket answers.
    pub async fn start(config_path: &Path) -> AuthdProcess {
        let config = postern_config::Config::load(config_path)
            .unwrap_or_else(|e| panic!("loading {}: {e}", config_path.display()));
        let admin_socket = config.admin_socket();
        let binary = workspace_binary("postern-authd", "postern-authd");
        let mut process = ChildProcess::spawn(&mut daemon_command(&binary, config_path));
        wait_for_start(&mut process, "authd", async || {
            AdminConnection::connect(&admin_socket).await.is_ok()
        })
        .await;
        AuthdProcess {
            process,
            admin_socket,
        }
    }

    /// Sends `request` on the admin socket; see [`admin`].
    pub async fn admin(&self, request: AdminRequest) -> AdminResponse {
        admin(&self.admin_socket, request).await
    }

    /// Creates an account; see [`create_account`].
    pub async fn create_account(&self, account: &str, address: &str, password: &str) {
        create_account(&self.admin_socket, account, address, password).await;
    }
}

/// Sends `request` on a new connection to the admin socket at `socket` and returns the
/// response; panics when the call fails or authd answers with an error.
pub async fn admin(socket: &Path, request: AdminRequest) -> AdminResponse {
    let mut connection = AdminConnection::connect(socket)
        .await
        .unwrap_or_else(|e| panic!("connecting to {}: {e}", socket.display()));
    let response = connection
        .call(request.clone())
        .await
        .unwrap_or_else(|e| panic!("{request:?}: {e}"));
    if let AdminResponse::Error(message) = &response {
        panic!("{request:?} failed: {message}");
    }
    response
}

/// Creates `account` with its first `address` and sets its `password`, through the admin
/// socket at `socket`.
pub async fn create_account(socket: &Path, account: &str, address: &str, password: &str) {
    admin(
        socket,
        AdminRequest::AccountAdd {
            account: account.into(),
            address: address.into(),
        },
    )
    .await;
    admin(
        socket,
        AdminRequest::AccountSetPassword {
            account: account.into(),
            password: Secret(password.into()),
        },
    )
    .await;
}
