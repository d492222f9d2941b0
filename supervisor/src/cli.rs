//! The command line: clap types for every `postern` command. Parsing only; the commands
//! themselves live in [`crate::admin`] and [`crate::localserve`].
#![forbid(unsafe_code)]

use std::net::IpAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// How many login attempts `postern loginattempts` shows without `--all` or `--limit`.
pub const DEFAULT_LOGIN_ATTEMPTS: u32 = 10;

/// `postern`: the mail server's supervisor, `localserve` and admin command line.
#[derive(Debug, Parser)]
#[command(name = "postern", version, about, propagate_version = true)]
pub struct Cli {
    /// Config file [default: $POSTERN_CONFIG, else /etc/postern/postern.toml]
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Add, remove, list and change accounts.
    #[command(subcommand)]
    Account(AccountCommand),
    /// Add and remove addresses of accounts.
    #[command(subcommand)]
    Address(AddressCommand),
    /// Set the password of the admin web pages.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Register TLS client certificates' public keys for logins without a password.
    #[command(subcommand)]
    Tlspubkey(TlsPublicKeyCommand),
    /// Show the login history, newest first.
    Loginattempts(LoginAttemptsArgs),
    /// List and lift blocks of the failed-login limiter.
    #[command(subcommand)]
    Ratelimit(RateLimitCommand),
    /// Run postern as the current user for trying it and testing mail clients.
    Localserve(LocalserveArgs),
    /// Make a DKIM signing key for a mail domain (for submitd) and print its DNS record.
    #[command(subcommand)]
    Dkim(DkimCommand),
    /// Set up a new server (as root): write a config, create the first account with a
    /// generated password, print the DNS records to add and how to start.
    Quickstart(QuickstartArgs),
    /// Submit a message from stdin like sendmail (-t, -f ADDRESS, -i, -oi, -C FILE,
    /// recipients), with the settings of /etc/postern/sendmail.toml.
    Sendmail {
        /// sendmail's options and the recipients.
        #[arg(
            trailing_var_arg = true,
            allow_hyphen_values = true,
            value_name = "ARGS"
        )]
        args: Vec<String>,
    },
    /// Import mail into an account from a zip, tar or tgz of maildirs or mbox files, a
    /// bare mbox or a single .eml: all of it or, on any error, nothing.
    Import(ImportArgs),
    /// Export an account's mail (all of it, or one mailbox with its children) as a
    /// maildir or mbox archive.
    Export(ExportArgs),
    /// Run the root supervisor: bind the sockets, start each daemon as its own user,
    /// restart what exits.
    Serve,
    /// Show each daemon of a running `postern serve` or `postern localserve`: pid,
    /// uptime, restarts.
    Status {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `postern import ACCOUNT FILE [--skip-prefix P]`
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The account to import into.
    pub account: String,
    /// The archive, mbox or .eml file.
    pub file: PathBuf,
    /// Leave this prefix out of the archive's paths (e.g. `Takeout/Mail/`).
    #[arg(long, value_name = "P")]
    pub skip_prefix: Option<String>,
}

/// The mail layout inside an export.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    /// One directory per mailbox, one file per message.
    Maildir,
    /// One .mbox file per mailbox.
    Mbox,
}

/// The container of an export.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportArchive {
    /// zip.
    Zip,
    /// gzip-compressed tar.
    Tgz,
    /// tar.
    Tar,
}

/// `postern export ACCOUNT [MAILBOX] --format … --archive … [-o FILE]`
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The account to export.
    pub account: String,
    /// Only this mailbox and its children.
    pub mailbox: Option<String>,
    /// The mail layout.
    #[arg(long, value_enum, default_value = "maildir")]
    pub format: ExportFormat,
    /// The archive type.
    #[arg(long, value_enum, default_value = "zip")]
    pub archive: ExportArchive,
    /// Write here (created with mode 0600, must not exist) instead of standard output.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// `postern account …`
#[derive(Debug, Subcommand)]
pub enum AccountCommand {
    /// Create an account with its first address (set a password afterwards).
    Add {
        /// New account name.
        account: String,
        /// Its first email address.
        address: String,
    },
    /// Remove an account: its logins stop at once and its data is removed.
    Rm {
        /// Account name.
        account: String,
    },
    /// List all accounts.
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Set an account's password: asked twice on a terminal, else one line from stdin.
    Password {
        /// Account name.
        account: String,
    },
    /// Refuse all logins to an account, with a message shown to its user.
    Disable {
        /// Account name.
        account: String,
        /// Reason shown to the user.
        #[arg(long, value_name = "TEXT")]
        message: Option<String>,
    },
    /// Allow logins to a disabled account again.
    Enable {
        /// Account name.
        account: String,
    },
}

/// `postern admin …`
#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Set the admin password of the web pages (authd keeps only its verifier; every
    /// admin web session ends): asked twice on a terminal, else one line from stdin.
    Password,
}

/// `postern address …`
#[derive(Debug, Subcommand)]
pub enum AddressCommand {
    /// Add an address to an account.
    Add {
        /// The new email address.
        address: String,
        /// Account it delivers to and logs in to.
        account: String,
    },
    /// Remove an address.
    Rm {
        /// The email address.
        address: String,
    },
}

/// `postern tlspubkey …`
#[derive(Debug, Subcommand)]
pub enum TlsPublicKeyCommand {
    /// Register the public key of a TLS client certificate; prints its fingerprint.
    Add {
        /// Account the key logs in to.
        account: String,
        /// Address the key logs in as (one of the account's).
        login_address: String,
        /// PEM file with the certificate (its first CERTIFICATE block is used).
        #[arg(value_name = "CERT.pem")]
        certificate: PathBuf,
        /// Name for the key [default: the certificate's common name].
        #[arg(long)]
        name: Option<String>,
        /// Do not greet IMAP clients using this key with PREAUTH.
        #[arg(long)]
        no_imap_preauth: bool,
    },
    /// List registered keys, of one account or of all.
    List {
        /// Only this account's keys.
        account: Option<String>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Remove a key by its fingerprint.
    Rm {
        /// The fingerprint as listed (base64url; it may start with '-').
        #[arg(allow_hyphen_values = true)]
        fingerprint: String,
    },
}

/// `postern loginattempts [ACCOUNT] [--all] [--limit N]`
#[derive(Debug, Args)]
pub struct LoginAttemptsArgs {
    /// Only this account's attempts.
    pub account: Option<String>,
    /// Show the whole history instead of the newest ones.
    #[arg(long, conflicts_with = "limit")]
    pub all: bool,
    /// Show the newest N attempts.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_LOGIN_ATTEMPTS,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub limit: u32,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

impl LoginAttemptsArgs {
    /// The limit to ask authd for: `None` for everything.
    pub fn effective_limit(&self) -> Option<u32> {
        if self.all { None } else { Some(self.limit) }
    }
}

/// `postern ratelimit …`
#[derive(Debug, Subcommand)]
pub enum RateLimitCommand {
    /// List the networks the failed-login limiter refuses now.
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Lift the blocks of one IP address (all its networks), or all blocks.
    Clear {
        /// The client's IP address; without it, every block is lifted.
        address: Option<IpAddr>,
    },
}

/// `postern localserve [--dir DIR]`
#[derive(Debug, Args)]
pub struct LocalserveArgs {
    /// Config and data directory [default: $XDG_DATA_HOME/postern-localserve, else
    /// ~/.local/share/postern-localserve]
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// `postern quickstart EMAIL HOSTNAME [--data-dir DIR] [--runtime-dir DIR]
/// [--authd-user USER] [--existing-config]`; the config file is the global `--config`.
#[derive(Debug, Args)]
pub struct QuickstartArgs {
    /// The first account's email address; its local part becomes the account name and
    /// its domain the mail domain.
    pub email: String,
    /// This server's host name, as in the domain's MX record, e.g. mail.example.org.
    pub hostname: String,
    /// Root of persistent data, written into the config.
    #[arg(long, value_name = "DIR", default_value = "/var/lib/postern")]
    pub data_dir: PathBuf,
    /// Directory for the sockets, written into the config.
    #[arg(long, value_name = "DIR", default_value = "/run/postern")]
    pub runtime_dir: PathBuf,
    /// The user authd runs as, a name or a numeric uid, written into the config.
    #[arg(long, value_name = "NAME|UID", default_value = "postern-authd")]
    pub authd_user: String,
    /// Use the config file that is there (e.g. the one the Debian package installed)
    /// instead of writing one; only its hostname is set to HOSTNAME.
    #[arg(long, conflicts_with_all = ["data_dir", "runtime_dir", "authd_user"])]
    pub existing_config: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn loginattempts_limits() {
        let parse = |args: &[&str]| Cli::try_parse_from(args);
        let Ok(Cli {
            command: Command::Loginattempts(a),
            ..
        }) = parse(&["postern", "loginattempts"])
        else {
            panic!("parse failed")
        };
        assert_eq!(a.effective_limit(), Some(DEFAULT_LOGIN_ATTEMPTS));
        let Ok(Cli {
            command: Command::Loginattempts(a),
            ..
        }) = parse(&["postern", "loginattempts", "bob", "--all"])
        else {
            panic!("parse failed")
        };
        assert_eq!(a.effective_limit(), None);
        assert_eq!(a.account.as_deref(), Some("bob"));
        assert!(parse(&["postern", "loginattempts", "--all", "--limit", "3"]).is_err());
        assert!(parse(&["postern", "loginattempts", "--limit", "0"]).is_err());
    }

    #[test]
    fn fingerprints_may_start_with_a_hyphen() {
        let cli = Cli::try_parse_from(["postern", "tlspubkey", "rm", "-o3vJ7Q"]).expect("parses");
        let Command::Tlspubkey(TlsPublicKeyCommand::Rm { fingerprint }) = cli.command else {
            panic!("wrong command")
        };
        assert_eq!(fingerprint, "-o3vJ7Q");
    }

    #[test]
    fn config_is_global() {
        let cli = Cli::try_parse_from(["postern", "account", "list", "--config", "/x.toml"])
            .expect("parses");
        assert_eq!(cli.config, Some(PathBuf::from("/x.toml")));
    }
}

/// `postern dkim …`
#[derive(Debug, Subcommand)]
pub enum DkimCommand {
    /// Make an Ed25519 key for DOMAIN in submitd's data directory (readable by submitd
    /// alone), then print the DNS TXT record to publish and the config entry that makes
    /// submitd sign with it. An existing key is kept and its record printed.
    Keygen {
        /// The mail domain (`d=`), e.g. example.org.
        domain: String,
        /// The selector (`s=`) [default: postern and the year].
        #[arg(long)]
        selector: Option<String>,
    },
}
