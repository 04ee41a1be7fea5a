//! `rampart keys rotate | list`.

use std::{path::Path, process::ExitCode};

use super::{Failure, with_store};
use crate::{
    audit::{self, Action, Outcome},
    auth::{
        keyring::{KeyRing, Rotation},
        keys::KeySealer,
    },
    config::{self, secret},
};

fn when(ms: Option<i64>) -> String {
    ms.map_or_else(|| "-".to_owned(), crate::store::rfc3339)
}

pub fn rotate(config_file: Option<&Path>, revoke: bool) -> Result<ExitCode, Failure> {
    let settings = config::load(config_file)?;
    let Some((secret, _)) = secret::from_environment()? else {
        return Err(Failure::Config(
            "keys are sealed under the server secret: set RAMPART_SECRET_KEY or RAMPART_SECRET_KEY_FILE"
                .into(),
        ));
    };
    with_store(config_file, |store| async move {
        let ring = KeyRing::open(store.clone(), KeySealer::new(&secret), &settings.auth)
            .await
            .map_err(|e| Failure::Runtime(e.to_string()))?;
        let rotation = if revoke {
            Rotation::NowRevokingOlder
        } else {
            Rotation::Now
        };
        let kid = ring
            .rotate(rotation)
            .await
            .map_err(|e| Failure::Runtime(e.to_string()))?;
        audit::record_direct(&store, Action::KeyRotated, Outcome::Success, "cli", Some(&kid)).await;
        println!("{kid}");
        Ok(ExitCode::SUCCESS)
    })
}

pub fn list(config_file: Option<&Path>) -> Result<ExitCode, Failure> {
    with_store(config_file, |store| async move {
        let keys = KeyRing::list(&store)
            .await
            .map_err(|e| Failure::Runtime(e.to_string()))?;
        println!("kid\talgorithm\tstate\tcreated\tretired\texpires");
        for key in keys {
            println!(
                "{}\t{}\t{}\t{}\t{}\t{}",
                key.kid,
                key.algorithm,
                key.state,
                when(Some(key.created_at)),
                when(key.retired_at),
                when(key.expires_at)
            );
        }
        Ok(ExitCode::SUCCESS)
    })
}
