//! `rampart user create | set-roles | import`.

use std::{
    io::{BufRead, IsTerminal},
    path::Path,
    process::ExitCode,
};

use secrecy::SecretString;
use serde::Deserialize;

use super::{Failure, with_store};
use crate::{
    audit::{self, Action, Outcome},
    auth::{
        password::{self, PasswordHasher},
        users::{NewUserError, Users},
    },
    names::{Role, Username},
    store::{NewUser, UserChange},
};

fn parse_roles(roles: &[String]) -> Result<Vec<Role>, Failure> {
    if roles.is_empty() {
        return Ok(vec![Role::user()]);
    }
    roles
        .iter()
        .map(|r| Role::parse(r).map_err(|e| Failure::Config(format!("`{r}` is not a valid role: {e}"))))
        .collect()
}

fn parse_username(name: &str) -> Result<Username, Failure> {
    Username::parse(name).map_err(|e| Failure::Config(format!("`{name}` is not a valid username: {e}")))
}

/// Reads the password: a no-echo prompt on a terminal (asked twice), else
/// one line of standard input. Never from the command line, where other
/// users and shell history would see it.
fn read_password() -> Result<String, Failure> {
    if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("Password: ")
            .map_err(|e| Failure::Runtime(format!("cannot read the password: {e}")))?;
        let second = rpassword::prompt_password("Password again: ")
            .map_err(|e| Failure::Runtime(format!("cannot read the password: {e}")))?;
        if first != second {
            return Err(Failure::Config("the passwords differ".into()));
        }
        return Ok(first);
    }
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| Failure::Runtime(format!("cannot read the password from standard input: {e}")))?;
    while line.ends_with('\n') || line.ends_with('\r') {
        line.pop();
    }
    Ok(line)
}

pub fn create(config: Option<&Path>, username: &str, roles: &[String]) -> Result<ExitCode, Failure> {
    let username = parse_username(username)?;
    let roles = parse_roles(roles)?;
    let issuer = crate::config::load(config)?.auth.issuer;
    let password = SecretString::from(read_password()?);
    with_store(config, |store| async move {
        // The same accounts service as `POST /users`: one password policy,
        // one hashing pool, one way to store a user.
        let users = Users::new(store.clone(), PasswordHasher::new(), None, &issuer);
        match users.create_user(&username, password, &roles).await {
            Ok(created) => {
                // Audited like `POST /users`; the actor is the command line.
                audit::record_direct(
                    &store,
                    Action::UserCreated,
                    Outcome::Success,
                    "cli",
                    Some(&created.username),
                )
                .await;
                println!(
                    "created user {} (roles: {})",
                    created.username,
                    created.roles.join(", ")
                );
                Ok(ExitCode::SUCCESS)
            }
            Err(NewUserError::Taken) => Err(Failure::Runtime(format!(
                "a user named {username} already exists"
            ))),
            Err(NewUserError::Password(err)) => Err(Failure::Config(err.to_string())),
            Err(err) => Err(Failure::Runtime(err.to_string())),
        }
    })
}

pub fn set_roles(config: Option<&Path>, username: &str, roles: &[String]) -> Result<ExitCode, Failure> {
    let username = parse_username(username)?;
    if roles.is_empty() {
        return Err(Failure::Config("give at least one --role".into()));
    }
    let roles = parse_roles(roles)?;
    with_store(config, |store| async move {
        match store.set_roles(&username, &roles).await {
            Ok(UserChange::Done(user)) => {
                audit::record_direct(
                    &store,
                    Action::RoleChanged,
                    Outcome::Success,
                    "cli",
                    Some(&user.username),
                )
                .await;
                println!("{}: roles {}", user.username, user.roles.join(", "));
                Ok(ExitCode::SUCCESS)
            }
            Ok(UserChange::NoSuchUser) => Err(Failure::Runtime(format!("there is no user named {username}"))),
            Ok(UserChange::LastAdmin) => Err(Failure::Runtime(format!(
                "{username} is the last enabled admin and must keep the admin role"
            ))),
            Err(err) => Err(Failure::Runtime(err.to_string())),
        }
    })
}

/// One line of an import file.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ImportLine {
    username: String,
    password_hash: String,
    #[serde(default)]
    roles: Vec<String>,
}

/// Imports users from JSON lines. Every line is checked before anything is
/// written, and the users are written in one transaction: a bad line
/// imports nobody.
pub fn import(config: Option<&Path>, file: &Path) -> Result<ExitCode, Failure> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| Failure::Runtime(format!("cannot read {}: {e}", file.display())))?;
    let mut users = Vec::new();
    let mut line_numbers = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (index, line) in text.lines().enumerate() {
        let number = index + 1;
        if line.trim().is_empty() {
            continue;
        }
        let bad = |why: String| {
            Failure::Config(format!(
                "{}, line {number}: {why}; nothing was imported",
                file.display()
            ))
        };
        let parsed: ImportLine = serde_json::from_str(line).map_err(|e| bad(e.to_string()))?;
        let username = Username::parse(&parsed.username).map_err(|e| bad(e.to_string()))?;
        if !password::is_supported_hash(&parsed.password_hash) {
            return Err(bad(
                "password_hash is neither a bcrypt ($2a$, $2b$, $2y$) nor an argon2 PHC hash".into(),
            ));
        }
        let roles = parse_roles(&parsed.roles).map_err(|e| {
            bad(match e {
                Failure::Config(m) | Failure::Runtime(m) => m,
            })
        })?;
        if !seen.insert(username.key()) {
            return Err(bad(format!("{username} appears twice")));
        }
        users.push(NewUser {
            username,
            password_hash: parsed.password_hash,
            roles,
        });
        line_numbers.push(number);
    }
    with_store(config, |store| async move {
        match store.create_users(&users).await {
            Ok(created) => {
                println!("imported {} users", created.len());
                Ok(ExitCode::SUCCESS)
            }
            Err((Some(index), err)) if err.is_unique_violation() => Err(Failure::Runtime(format!(
                "{}, line {}: a user named {} already exists; nothing was imported",
                file.display(),
                line_numbers[index],
                users[index].username
            ))),
            Err((_, err)) => Err(Failure::Runtime(format!("{err}; nothing was imported"))),
        }
    })
}
