//! Helpers shared by the integration tests of postern's daemons: finding (and building)
//! the workspace's binaries, the common part of a test config, free loopback ports,
//! self-signed certificates for rustls, a running `postern-authd` with its admin socket,
//! socket activation, and child processes that are killed when a test ends.
//!
//! This is test code: every helper panics with a message saying what went wrong
//! instead of returning an error.

mod activation;
mod authd;
mod binary;
mod config;
mod net;
mod process;
mod tls;

pub use activation::SocketActivation;
pub use authd::{AuthdProcess, admin, create_account};
pub use binary::{target_dir, workspace_binary, workspace_example};
pub use config::base_config;
pub use net::{free_loopback_address, free_port, is_listening};
pub use process::{ChildProcess, daemon_command, python, tool_available, wait_for_start};
pub use tls::{ClientCertificate, SelfSignedCertificate, tls_client_config};
