//! The admin commands: each one request to authd's admin socket, its answer printed.
#![forbid(unsafe_code)]

use std::path::Path;

use anyhow::{Context, anyhow, bail};
use postern_config::{Config, ConfigError, DEFAULT_CONFIG_PATH};
use postern_ipc::Secret;
use postern_ipc::admin::{AdminRequest, AdminResponse};
use postern_ipc::client::{AdminConnection, ClientError};

use crate::cli::{
    AccountCommand, AddressCommand, AdminCommand, Command, LoginAttemptsArgs, RateLimitCommand,
    TlsPublicKeyCommand,
};
use crate::output;
use crate::password::read_new_password;
use crate::tls::read_certificate_pem;

/// Reason stored for `account disable` without `--message`.
pub const DEFAULT_DISABLED_MESSAGE: &str = "account disabled by the administrator";

/// An open admin connection, with the socket path for messages.
#[derive(Debug)]
pub struct Admin {
    connection: AdminConnection,
    socket: String,
}

impl Admin {
    /// Reads the config at `config_path` and connects to its admin socket.
    pub async fn connect_with_config(config_path: &Path) -> anyhow::Result<Admin> {
        let config = match Config::load(config_path) {
            Ok(config) => config,
            Err(ConfigError::Read { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound
                    && config_path == Path::new(DEFAULT_CONFIG_PATH) =>
            {
                bail!(
                    "no config at {DEFAULT_CONFIG_PATH}; give --config FILE or set \
                     POSTERN_CONFIG (for localserve: --config DIR/postern.toml)"
                )
            }
            Err(e) => return Err(e.into()),
        };
        Admin::connect(&config.admin_socket()).await
    }

    /// Connects to the admin socket at `socket` and exchanges greetings.
    pub async fn connect(socket: &Path) -> anyhow::Result<Admin> {
        Admin::connect_raw(socket)
            .await
            .map_err(|e| connect_error(&socket.display().to_string(), e))
    }

    /// [`Admin::connect`] with the error as the ipc client gave it.
    pub async fn connect_raw(socket: &Path) -> Result<Admin, ClientError> {
        Ok(Admin {
            connection: AdminConnection::connect(socket).await?,
            socket: socket.display().to_string(),
        })
    }

    /// Sends `request`; authd's `Error` answer becomes an error with its message.
    pub async fn call(&mut self, request: AdminRequest) -> anyhow::Result<AdminResponse> {
        match self.connection.call(request).await {
            Ok(AdminResponse::Error(message)) => Err(anyhow!("{message}")),
            Ok(response) => Ok(response),
            Err(e) => Err(anyhow!("talking to authd at {}: {e}", self.socket)),
        }
    }

    /// Sends `request` and expects [`AdminResponse::Done`].
    pub async fn call_done(&mut self, request: AdminRequest) -> anyhow::Result<()> {
        match self.call(request).await? {
            AdminResponse::Done => Ok(()),
            other => Err(unexpected(&other)),
        }
    }

    /// All accounts.
    pub async fn accounts(&mut self) -> anyhow::Result<Vec<postern_ipc::AccountSummary>> {
        match self.call(AdminRequest::AccountList).await? {
            AdminResponse::Accounts(accounts) => Ok(accounts),
            other => Err(unexpected(&other)),
        }
    }
}

/// The one-line message for a failed connection to the admin socket at `socket`.
pub fn connect_error(socket: &str, error: ClientError) -> anyhow::Error {
    match error {
        ClientError::Connect { source, .. } => {
            anyhow!("cannot reach authd at {socket} (is postern running?): {source}")
        }
        ClientError::Closed => anyhow!(
            "authd at {socket} closed the connection at once (is this user allowed to \
             administer it? see authd.admin_users in the config)"
        ),
        ClientError::Handshake(message) => {
            anyhow!("authd at {socket} refused the admin connection: {message}")
        }
        ClientError::Frame(e) => anyhow!("talking to authd at {socket}: {e}"),
    }
}

/// An error for an answer that does not fit the request.
fn unexpected(response: &AdminResponse) -> anyhow::Error {
    let kind = match response {
        AdminResponse::Hello { .. } => "Hello",
        AdminResponse::Done => "Done",
        AdminResponse::Accounts(_) => "Accounts",
        AdminResponse::TlsPublicKeys(_) => "TlsPublicKeys",
        AdminResponse::TlsPublicKeyAdded(_) => "TlsPublicKeyAdded",
        AdminResponse::LoginAttempts(_) => "LoginAttempts",
        AdminResponse::RateLimits(_) => "RateLimits",
        AdminResponse::Error(_) => "Error",
        AdminResponse::MailTicket(_) => "MailTicket",
    };
    anyhow!(
        "authd gave an unexpected answer ({kind}); are postern and postern-authd the same version?"
    )
}

/// Runs one admin command against the authd named by the config at `config_path`.
pub async fn run(config_path: &Path, command: Command) -> anyhow::Result<()> {
    // Read everything local first, so that a typo in a file name or a mistyped password
    // fails before authd is asked anything.
    let prepared = Prepared::new(command)?;
    let mut admin = Admin::connect_with_config(config_path).await?;
    let text = prepared.execute(&mut admin).await?;
    output::emit(&text).context("writing to standard output")
}

/// A command with its local input (password, certificate) read.
#[derive(Debug)]
enum Prepared {
    /// A request answered with `Done`, printing nothing.
    Done(AdminRequest),
    /// A listing request, printed as a table or JSON.
    List { request: AdminRequest, json: bool },
    /// A key registration, printing the fingerprint.
    KeyAdd(AdminRequest),
}

impl Prepared {
    fn new(command: Command) -> anyhow::Result<Prepared> {
        Ok(match command {
            Command::Account(c) => match c {
                AccountCommand::Add { account, address } => {
                    Prepared::Done(AdminRequest::AccountAdd { account, address })
                }
                AccountCommand::Rm { account } => {
                    Prepared::Done(AdminRequest::AccountRemove { account })
                }
                AccountCommand::List { json } => Prepared::List {
                    request: AdminRequest::AccountList,
                    json,
                },
                AccountCommand::Password { account } => {
                    let password = read_new_password()?;
                    Prepared::Done(AdminRequest::AccountSetPassword {
                        account,
                        password: Secret(password),
                    })
                }
                AccountCommand::Disable { account, message } => {
                    let message = message.unwrap_or_else(|| DEFAULT_DISABLED_MESSAGE.into());
                    if message.trim().is_empty() {
                        bail!("the --message must not be empty");
                    }
                    Prepared::Done(AdminRequest::AccountSetDisabled {
                        account,
                        disabled: Some(message),
                    })
                }
                AccountCommand::Enable { account } => {
                    Prepared::Done(AdminRequest::AccountSetDisabled {
                        account,
                        disabled: None,
                    })
                }
            },
            Command::Admin(AdminCommand::Password) => {
                let password = read_new_password()?;
                Prepared::Done(AdminRequest::AdminPasswordSet {
                    password: Secret(password),
                })
            }
            Command::Address(c) => match c {
                AddressCommand::Add { address, account } => {
                    Prepared::Done(AdminRequest::AddressAdd { address, account })
                }
                AddressCommand::Rm { address } => {
                    Prepared::Done(AdminRequest::AddressRemove { address })
                }
            },
            Command::Tlspubkey(c) => match c {
                TlsPublicKeyCommand::Add {
                    account,
                    login_address,
                    certificate,
                    name,
                    no_imap_preauth,
                } => Prepared::KeyAdd(AdminRequest::TlsPublicKeyAdd {
                    account,
                    login_address,
                    certificate_der: read_certificate_pem(&certificate)?,
                    name,
                    no_imap_preauth,
                }),
                TlsPublicKeyCommand::List { account, json } => Prepared::List {
                    request: AdminRequest::TlsPublicKeyList { account },
                    json,
                },
                TlsPublicKeyCommand::Rm { fingerprint } => {
                    Prepared::Done(AdminRequest::TlsPublicKeyRemove { fingerprint })
                }
            },
            Command::Loginattempts(args) => {
                let LoginAttemptsArgs { account, json, .. } = &args;
                Prepared::List {
                    request: AdminRequest::LoginAttempts {
                        account: account.clone(),
                        limit: args.effective_limit(),
                    },
                    json: *json,
                }
            }
            Command::Ratelimit(c) => match c {
                RateLimitCommand::List { json } => Prepared::List {
                    request: AdminRequest::RateLimitList,
                    json,
                },
                RateLimitCommand::Clear { address } => {
                    Prepared::Done(AdminRequest::RateLimitClear { address })
                }
            },
            Command::Localserve(_)
            | Command::Quickstart(_)
            | Command::Dkim(_)
            | Command::Serve
            | Command::Sendmail { .. }
            | Command::Import(_)
            | Command::Export(_)
            | Command::Status { .. } => {
                bail!("not an admin command")
            }
        })
    }

    /// Sends the request and renders the answer.
    async fn execute(self, admin: &mut Admin) -> anyhow::Result<String> {
        match self {
            Prepared::Done(request) => {
                admin.call_done(request).await?;
                Ok(String::new())
            }
            Prepared::KeyAdd(request) => match admin.call(request).await? {
                AdminResponse::TlsPublicKeyAdded(key) => Ok(format!("{}\n", key.fingerprint)),
                other => Err(unexpected(&other)),
            },
            Prepared::List { request, json } => {
                let response = admin.call(request).await?;
                render_list(&response, json)
            }
        }
    }
}

/// A listing answer as a table or JSON.
fn render_list(response: &AdminResponse, json: bool) -> anyhow::Result<String> {
    let json_error = |e: serde_json::Error| anyhow!("cannot write JSON: {e}");
    Ok(match (response, json) {
        (AdminResponse::Accounts(v), false) => output::accounts(v),
        (AdminResponse::Accounts(v), true) => output::json(v).map_err(json_error)?,
        (AdminResponse::TlsPublicKeys(v), false) => output::tls_public_keys(v),
        (AdminResponse::TlsPublicKeys(v), true) => output::json(v).map_err(json_error)?,
        (AdminResponse::LoginAttempts(v), false) => output::login_attempts(v),
        (AdminResponse::LoginAttempts(v), true) => output::json(v).map_err(json_error)?,
        (AdminResponse::RateLimits(v), false) => output::rate_limits(v),
        (AdminResponse::RateLimits(v), true) => output::json(v).map_err(json_error)?,
        (other, _) => return Err(unexpected(other)),
    })
}
