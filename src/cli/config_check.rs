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
    let failed = found.iter().any(|f| f.level == Level::Error);
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
