//! The command line (SPEC sections 1 and 10). Exit codes: 0 ok, 1 runtime
//! error (for `scan`: a finding at or above `--fail-on`), 2 usage or
//! configuration error; errors are one sentence on stderr.

mod cert;
mod config_check;
mod keys;
mod scan;
mod serve;
mod user;

use std::{path::PathBuf, process::ExitCode};

use clap::{Parser, Subcommand};

use crate::{
    config::{
        Settings,
        check::{self, Finding},
        secret::SecretKey,
    },
    server::tls::Certificates,
};

/// Every finding about the settings (`config check`, and what `serve`
/// refuses to start on): the configuration's own, and whether the
/// certificate pair loads.
fn findings(settings: &Settings, secret: Option<&SecretKey>) -> Vec<Finding> {
    let mut found = check::findings(settings, secret);
    if let Some(tls) = &settings.tls
        && let Err(err) = Certificates::load(tls)
    {
        found.push(Finding::error("tls", err.to_string()));
    }
    found
}

#[derive(Debug, Parser)]
#[command(name = "rampart", version, about = "A secure-by-default HTTP API server")]
struct Cli {
    /// Configuration file (default: ./rampart.toml when it exists).
    #[arg(long, global = true, value_name = "PATH")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server (creates and migrates the database on first start).
    Serve,
    /// Inspect the configuration.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Manage users.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Manage token signing keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Certificates for HTTPS.
    Cert {
        #[command(subcommand)]
        command: CertCommand,
    },
    /// Probe a running API and check it against the practices rampart enforces.
    Scan(scan::ScanArgs),
}

#[derive(Debug, Subcommand)]
enum CertCommand {
    /// Write a self-signed certificate and key (cert.pem, key.pem) for local HTTPS.
    Dev {
        /// A host name or IP address the certificate is for (repeatable).
        #[arg(long = "host", required = true)]
        hosts: Vec<String>,
        /// The folder to write them to.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Create a user; the password is read from standard input (one line) or a prompt, never from arguments.
    Create {
        #[arg(long)]
        username: String,
        /// A role (repeatable); default `user`.
        #[arg(long = "role")]
        roles: Vec<String>,
    },
    /// Replace a user's roles.
    SetRoles {
        #[arg(long)]
        username: String,
        #[arg(long = "role", required = true)]
        roles: Vec<String>,
    },
    /// Import users from JSON lines {"username","password_hash","roles"} (bcrypt or argon2 hashes).
    Import { file: PathBuf },
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Rotate the signing key now; tokens signed by the old key keep working.
    Rotate {
        /// Also retire every older key at once (a leaked key): every token
        /// they signed stops working on every instance within seconds.
        #[arg(long)]
        revoke: bool,
    },
    /// List the keys (kid, algorithm, state, dates; never key material).
    List,
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Print every finding about the effective configuration; exit 1 on an error.
    Check,
}

/// A failed command: what to print and how to exit.
#[derive(Debug)]
pub enum Failure {
    /// Bad usage or configuration: exit 2.
    Config(String),
    /// The command could not do its work (or `config check` found an
    /// error): exit 1.
    Runtime(String),
}

impl Failure {
    /// Prints the failure as one line on stderr, whatever its message
    /// holds (a cause's own text may span lines), and exits with its code.
    fn exit(self) -> ExitCode {
        let (message, code) = match self {
            Self::Config(message) => (message, 2),
            Self::Runtime(message) => (message, 1),
        };
        let line = message
            .lines()
            .map(str::trim)
            .filter(|part| !part.is_empty())
            .collect::<Vec<_>>()
            .join("; ");
        let line = if line.is_empty() {
            "the command failed"
        } else {
            &line
        };
        eprintln!("rampart: {line}");
        ExitCode::from(code)
    }
}

impl From<crate::config::ConfigError> for Failure {
    fn from(err: crate::config::ConfigError) -> Self {
        Self::Config(err.to_string())
    }
}

impl From<crate::config::secret::SecretError> for Failure {
    fn from(err: crate::config::secret::SecretError) -> Self {
        Self::Config(err.to_string())
    }
}

/// Runs `work` with the configured store on a small runtime: the commands
/// that manage data share this setup.
fn with_store<F, Fut>(config: Option<&std::path::Path>, work: F) -> Result<ExitCode, Failure>
where
    F: FnOnce(crate::store::Store) -> Fut,
    Fut: std::future::Future<Output = Result<ExitCode, Failure>>,
{
    let settings = crate::config::load(config)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::Runtime(format!("cannot start the async runtime: {e}")))?;
    runtime.block_on(async move {
        let store = crate::store::Store::connect(&settings.database_url)
            .await
            .map_err(|e| Failure::Runtime(e.to_string()))?;
        let result = work(store.clone()).await;
        store.close().await;
        result
    })
}

/// Parses the command line and runs the command.
pub fn run() -> ExitCode {
    let cli = Cli::parse();
    let config = cli.config.as_deref();
    let result = match cli.command {
        Command::Serve => serve::run(config),
        Command::Config {
            command: ConfigCommand::Check,
        } => config_check::run(config),
        Command::User {
            command: UserCommand::Create { username, roles },
        } => user::create(config, &username, &roles),
        Command::User {
            command: UserCommand::SetRoles { username, roles },
        } => user::set_roles(config, &username, &roles),
        Command::User {
            command: UserCommand::Import { file },
        } => user::import(config, &file),
        Command::Keys {
            command: KeysCommand::Rotate { revoke },
        } => keys::rotate(config, revoke),
        Command::Keys {
            command: KeysCommand::List,
        } => keys::list(config),
        Command::Cert {
            command: CertCommand::Dev { hosts, out },
        } => cert::dev(&hosts, &out),
        Command::Scan(args) => scan::run(args),
    };
    match result {
        Ok(code) => code,
        Err(failure) => failure.exit(),
    }
}
