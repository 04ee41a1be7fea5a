//! Reading the layers: defaults < TOML file < `RAMPART_*` environment.

use std::path::{Path, PathBuf};

use figment::{
    Figment,
    error::Kind,
    providers::{Env, Format, Toml},
};

use super::{
    Settings,
    secret::{self, SecretError},
};

/// The file read when `--config` is not given, if it exists.
pub const DEFAULT_CONFIG_FILE: &str = "rampart.toml";

/// A configuration that cannot be used. Its `Display` is one sentence that
/// names the key and where the value came from.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("the configuration file {0} does not exist")]
    MissingFile(PathBuf),
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Secret(#[from] SecretError),
}

/// Reads the configuration. `file` is `--config`; without it,
/// `./rampart.toml` is read when it exists.
pub fn load(file: Option<&Path>) -> Result<Settings, ConfigError> {
    let file = match file {
        Some(path) if !path.is_file() => return Err(ConfigError::MissingFile(path.to_owned())),
        Some(path) => Some(path.to_owned()),
        None => Some(PathBuf::from(DEFAULT_CONFIG_FILE)).filter(|p| p.is_file()),
    };
    // The route and upstream lists are the tables the environment cannot
    // write: an ordered list of rules reads as one piece, in one file (SPEC
    // section 6).
    if let Some(name) = std::env::vars_os()
        .filter_map(|(name, _)| name.into_string().ok())
        .find(|name| {
            let name = name.to_ascii_uppercase();
            name.starts_with(ROUTES_ENV) || name.starts_with(UPSTREAMS_ENV)
        })
    {
        let key = if name.to_ascii_uppercase().starts_with(ROUTES_ENV) {
            "gateway.routes"
        } else {
            "gateway.upstreams"
        };
        return Err(ConfigError::Invalid(format!(
            "{key} cannot come from the environment ({name}): write them in the configuration file"
        )));
    }
    let mut figment = Figment::new();
    if let Some(path) = &file {
        figment = figment.merge(Toml::file_exact(path));
    }
    // The secret never travels through `Settings`: it is read on its own
    // by `secret::from_environment` into a type that cannot be printed.
    let ignored = [secret::SECRET_ENV, secret::SECRET_FILE_ENV]
        .map(|name| name.trim_start_matches(ENV_PREFIX).to_ascii_lowercase());
    // Nor do the providers' client secrets (`RAMPART_OIDC__{NAME}__...`):
    // each provider reads its own (`OidcProvider::read_secret`), and the
    // provider list, a list of tables, comes from the file alone. (One
    // filter: figment keeps only the last one given.)
    figment = figment.merge(
        Env::prefixed(ENV_PREFIX)
            .filter(move |key| {
                let key = key.as_str().to_ascii_lowercase();
                !ignored.contains(&key) && !key.starts_with("oidc")
            })
            .split("__"),
    );
    let mut settings: Settings = figment
        .extract()
        .map_err(|err| ConfigError::Invalid(describe(&err)))?;
    for provider in &mut settings.oidc.providers {
        provider.read_secret();
    }
    Ok(settings)
}

const ENV_PREFIX: &str = "RAMPART_";
const ROUTES_ENV: &str = "RAMPART_GATEWAY__ROUTES";
const UPSTREAMS_ENV: &str = "RAMPART_GATEWAY__UPSTREAMS";

/// One sentence for the first error figment found.
fn describe(err: &figment::Error) -> String {
    let mut path = err.path.clone();
    let what = match &err.kind {
        Kind::UnknownField(field, _) => {
            if path.last() != Some(field) {
                path.push(field.clone());
            }
            return format!(
                "unknown configuration key `{}`{}",
                path.join("."),
                origin(err, &path)
            );
        }
        Kind::MissingField(field) => {
            if path.last().map(String::as_str) != Some(field) {
                path.push(field.to_string());
            }
            return format!("missing configuration key `{}`", path.join("."));
        }
        Kind::Message(message) => one_line(message),
        Kind::InvalidType(actual, expected) => format!("expected {expected}, found {actual}"),
        Kind::InvalidValue(actual, expected) => format!("expected {expected}, found {actual}"),
        Kind::UnknownVariant(found, expected) => {
            format!("`{found}` is not one of {}", expected.join(", "))
        }
        other => other.to_string(),
    };
    if path.is_empty() {
        format!("invalid configuration{}: {what}", origin(err, &path))
    } else {
        format!(
            "invalid value for `{}`{}: {what}",
            path.join("."),
            origin(err, &path)
        )
    }
}

/// Folds a multi-line message (TOML syntax errors quote the line with a
/// caret under it) into one line, keeping the sentences.
fn one_line(message: &str) -> String {
    message
        .lines()
        .map(str::trim_end)
        .filter(|line| {
            let quoted = line
                .split_once(" |")
                .is_some_and(|(n, _)| n.trim().chars().all(|c| c.is_ascii_digit()));
            !line.is_empty() && !line.starts_with(' ') && !quoted
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// ` (in FILE)` or ` (environment variable NAME)`, when figment knows.
fn origin(err: &figment::Error, path: &[String]) -> String {
    let Some(metadata) = &err.metadata else {
        return String::new();
    };
    match &metadata.source {
        Some(figment::Source::File(file)) => format!(" in {}", file.display()),
        _ if metadata.name.contains("environment") => {
            let name: Vec<String> = path.iter().map(|key| key.to_ascii_uppercase()).collect();
            format!(" (environment variable {ENV_PREFIX}{})", name.join("__"))
        }
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::one_line;

    #[test]
    fn toml_syntax_errors_fold_into_one_line() {
        let message = "TOML parse error at line 1, column 8\n  |\n1 | bind = \n  |        ^\ninvalid string\nexpected `\"`, `'`\n";
        assert_eq!(
            one_line(message),
            "TOML parse error at line 1, column 8; invalid string; expected `\"`, `'`"
        );
    }
}
