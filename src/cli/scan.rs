//! `rampart scan URL ...` (SPEC section 10): the options read, the
//! password from stdin, the scan run on a small runtime with a progress
//! line on a terminal's stderr, the report printed. Exit 0 with nothing at
//! or above `--fail-on`, 1 otherwise, 2 when the target cannot be reached,
//! the login fails or the usage is wrong.

use std::{
    io::{BufRead, IsTerminal, Write},
    process::ExitCode,
};

use secrecy::SecretString;

use super::Failure;
use crate::scan::{self, Format, Login, Options, ScanError, Severity};

/// `rampart scan`'s arguments.
#[derive(Debug, clap::Args)]
pub struct ScanArgs {
    /// The API's base URL.
    url: String,
    /// The API's OpenAPI document: a file, a URL, or a path on the target.
    #[arg(long, value_name = "URL|FILE")]
    openapi: Option<String>,
    /// A bearer token for the token checks.
    #[arg(long, value_name = "TOKEN")]
    token: Option<String>,
    /// The OAuth2 password login's path (the password is read from stdin).
    #[arg(long, value_name = "PATH", requires = "username")]
    login: Option<String>,
    /// The user to sign in as with --login.
    #[arg(long, value_name = "U", requires = "login")]
    username: Option<String>,
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
    /// Exit 1 when a finding is at or above this severity.
    #[arg(long, value_enum, default_value = "medium")]
    fail_on: Severity,
    /// At most this many requests in all.
    #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    max_requests: u32,
    /// Let the scan send unsafe methods beyond the login.
    #[arg(long)]
    allow_writes: bool,
}

/// The first line of stdin.
fn password_from_stdin() -> Result<SecretString, Failure> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|err| Failure::Config(format!("reading the password from stdin: {err}")))?;
    let password = line.trim_end_matches(['\n', '\r']);
    if password.is_empty() {
        return Err(Failure::Config(
            "--login reads the password from stdin, and it was empty".to_owned(),
        ));
    }
    Ok(SecretString::from(password.to_owned()))
}

pub fn run(args: ScanArgs) -> Result<ExitCode, Failure> {
    let login = match (args.login, args.username) {
        (Some(path), Some(username)) => Some(Login {
            path,
            username,
            password: password_from_stdin()?,
        }),
        _ => None,
    };
    let options = Options {
        target: args.url,
        openapi: args.openapi,
        token: args.token.map(SecretString::from),
        login,
        max_requests: args.max_requests,
        allow_writes: args.allow_writes,
    };
    let terminal = std::io::stderr().is_terminal();
    let progress = Box::new(move |sent: u32, budget: u32| {
        if terminal {
            eprint!("\rrampart scan: {sent} requests of at most {budget}");
            let _ = std::io::stderr().flush();
        }
    });
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::Runtime(format!("cannot start the async runtime: {e}")))?;
    let scanned = runtime.block_on(scan::run(options, progress));
    if terminal {
        eprint!("\r\x1b[2K");
    }
    match scanned {
        Ok(report) => {
            println!("{}", report.render(args.format));
            Ok(ExitCode::from(report.exit_code(args.fail_on)))
        }
        Err(err @ (ScanError::Usage(_) | ScanError::Unreachable(_) | ScanError::Login(_))) => {
            Err(Failure::Config(err.to_string()))
        }
    }
}
