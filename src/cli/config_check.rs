//! `rampart config check`.

use std::{path::Path, process::ExitCode};

use super::{Failure, findings};
use crate::config::{self, check::Level, secret};

pub fn run(config_file: Option<&Path>) -> Result<ExitCode, Failure> {
    let settings = config::load(config_file)?;
    let secret = secret::from_environment()?.map(|(key, _)| key);
    let found = findings(&settings, secret.as_ref());
    if found.is_empty() {
        println!("no findings");
    }
    for finding in &found {
        println!("{finding}");
    }
    // The findings go to stdout, as a report; a failing check also says so
    // on stderr, as every failing command does (SPEC section 11).
    let errors = found.iter().filter(|f| f.level == Level::Error).count();
    match errors {
        0 => Ok(ExitCode::SUCCESS),
        1 => Err(Failure::Runtime(
            "the configuration has an error (see the findings above)".into(),
        )),
        n => Err(Failure::Runtime(format!(
            "the configuration has {n} errors (see the findings above)"
        ))),
    }
}
