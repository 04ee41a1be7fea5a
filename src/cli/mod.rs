//! The command line (SPEC section 1). Exit codes: 0 ok, 1 runtime error,
//! 2 usage or configuration error; errors are one sentence on stderr.

mod config_check;
mod serve;

use std::{path::PathBuf, process::ExitCode};

use clap::{Parser, Subcommand};

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
    /// The command could not do its work: exit 1.
    Runtime(String),
}

impl Failure {
    fn exit(self) -> ExitCode {
        let (message, code) = match self {
            Self::Config(message) => (message, 2),
            Self::Runtime(message) => (message, 1),
        };
        eprintln!("rampart: {message}");
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

/// Parses the command line and runs the command.
pub fn run() -> ExitCode {
    let cli = Cli::parse();
    let config = cli.config.as_deref();
    let result = match cli.command {
        Command::Serve => serve::run(config),
        Command::Config {
            command: ConfigCommand::Check,
        } => config_check::run(config),
    };
    match result {
        Ok(code) => code,
        Err(failure) => failure.exit(),
    }
}
