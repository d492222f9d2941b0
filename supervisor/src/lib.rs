//! postern's supervisor crate: the `postern` command, which is the admin command line
//! (over authd's admin socket), the root supervisor (`postern serve`), `postern
//! localserve` (the same supervision with every daemon as the current user, for trying
//! postern) and `postern quickstart` (a first config and account on a new server).
#![warn(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]

pub mod admin;
pub mod cli;
pub mod control;
pub mod credentials;
pub mod daemons;
pub mod dkim;
pub mod launch;
pub mod localserve;
pub mod mail_transfer;
pub mod output;
pub mod password;
pub mod quickstart;
pub mod sendmail;
pub mod serve;
pub mod smtp_client;
pub mod sockets;
pub mod status;
pub mod supervision;
pub mod tls;
pub mod tls_daemon;

use anyhow::Context;
use postern_config::Config;

use crate::cli::{Cli, Command};

/// Runs a parsed command line. An error is meant to be printed as one line.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Localserve(args) => {
            init_logging();
            localserve::run(args.dir)
        }
        Command::Quickstart(args) => {
            init_logging();
            quickstart::run(&Config::path_from(cli.config.as_deref()), &args)
        }
        Command::Sendmail { args } => sendmail::run(&args),
        Command::Dkim(cli::DkimCommand::Keygen { domain, selector }) => {
            let config = Config::load(&Config::path_from(cli.config.as_deref()))?;
            let text = dkim::keygen(&config, &domain, selector.as_deref())?;
            Ok(output::emit(&text)?)
        }
        Command::Import(args) => {
            mail_transfer::run_import(&Config::path_from(cli.config.as_deref()), &args)
        }
        Command::Export(args) => {
            mail_transfer::run_export(&Config::path_from(cli.config.as_deref()), &args)
        }
        Command::Serve => {
            init_logging();
            serve::run(&Config::path_from(cli.config.as_deref()))
        }
        Command::Status { json } => {
            let config_path = Config::path_from(cli.config.as_deref());
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .context("cannot start the async runtime")?;
            runtime.block_on(status::run(&config_path, json))
        }
        command => {
            let config_path = Config::path_from(cli.config.as_deref());
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .context("cannot start the async runtime")?;
            runtime.block_on(admin::run(&config_path, command))
        }
    }
}

/// Logs to stderr, filtered by `RUST_LOG` (default `info`), coloured only on a
/// terminal.
fn init_logging() {
    use std::io::IsTerminal;
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}
