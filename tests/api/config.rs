//! Configuration layers, `config check`, and refusing unsafe starts.

use crate::helpers::{CliOutput, TestConfig, run_cli};

fn serve(config: TestConfig) -> CliOutput {
    // A configuration that loads would start the server and never return;
    // these tests only use configurations that must be refused.
    run_cli(&config, &["serve"], "")
}

fn assert_one_sentence_naming(output: &CliOutput, key: &str) {
    assert_eq!(output.code, Some(2), "{output:?}");
    let stderr = output.stderr.trim();
    assert_eq!(stderr.lines().count(), 1, "one line on stderr: {stderr}");
    assert!(stderr.contains(key), "stderr names `{key}`: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn unknown_key_in_file_is_refused_naming_the_key() {
    let output = serve(TestConfig::default().toml("[cors]\nallow_originz = []\n"));
    assert_one_sentence_naming(&output, "cors.allow_originz");
    assert!(output.stderr.contains("rampart.toml"), "{}", output.stderr);
}

#[test]
fn unknown_key_in_environment_is_refused_naming_the_variable() {
    let output = serve(TestConfig::default().env("RAMPART_LIMITS__MAX_BODY", "10"));
    assert_one_sentence_naming(&output, "limits.max_body");
    assert!(
        output.stderr.contains("RAMPART_LIMITS__MAX_BODY"),
        "{}",
        output.stderr
    );
}

#[test]
fn bad_duration_is_refused_naming_the_key() {
    let output = serve(TestConfig::default().toml("[auth]\naccess_token_ttl = \"15 minutes\"\n"));
    assert_one_sentence_naming(&output, "auth.access_token_ttl");
    let output = serve(TestConfig::default().env("RAMPART_LIMITS__REQUEST_TIMEOUT", "30x"));
    assert_one_sentence_naming(&output, "limits.request_timeout");
    // Longer than the clock can add to the time now: refused, not a panic.
    let output = serve(TestConfig::default().env("RAMPART_LIMITS__REQUEST_TIMEOUT", "18446744073709551615s"));
    assert_one_sentence_naming(&output, "limits.request_timeout");
}

#[test]
fn bad_origin_is_refused_naming_the_key() {
    let output =
        serve(TestConfig::default().toml("[cors]\nallow_origins = [\"https://app.example.com/path\"]\n"));
    assert_one_sentence_naming(&output, "cors.allow_origins");
    let output = serve(TestConfig::default().env(
        "RAMPART_CORS__ALLOW_ORIGINS",
        "https://ok.example.com,not an origin",
    ));
    assert_one_sentence_naming(&output, "cors.allow_origins");
}

#[test]
fn bad_rate_policy_is_refused_naming_the_key() {
    let output = serve(TestConfig::default().env("RAMPART_RATE_LIMIT__LOGIN", "5/fortnight"));
    assert_one_sentence_naming(&output, "rate_limit.login");
}

#[test]
fn missing_config_file_is_a_usage_error() {
    let output = run_cli(&TestConfig::default(), &["--config", "nowhere.toml", "serve"], "");
    assert_one_sentence_naming(&output, "nowhere.toml");
}

#[test]
fn production_refuses_to_start_without_a_secret() {
    let config = TestConfig::default()
        .env("RAMPART_ENV", "production")
        .env("RAMPART_PROXY__TRUSTED", "10.0.0.0/8")
        .without("RAMPART_SECRET_KEY");
    let output = serve(config);
    assert_one_sentence_naming(&output, "secret");
    assert!(output.stderr.contains("refusing to start"), "{}", output.stderr);
}

#[test]
fn well_known_or_short_secrets_are_refused_even_in_development() {
    for secret in [
        "hello-from-escape-team",
        "staysecureyourescapeteam",
        "changeme",
        "short-but-random-9f3a",
    ] {
        let output = serve(TestConfig::default().env("RAMPART_SECRET_KEY", secret));
        assert_one_sentence_naming(&output, "secret");
        assert!(
            !output.stderr.contains(secret),
            "the secret itself is never printed: {}",
            output.stderr
        );
    }
}

#[test]
fn secret_may_come_from_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("secret");
    std::fs::write(&path, "changeme\n").unwrap();
    let config = TestConfig::default()
        .without("RAMPART_SECRET_KEY")
        .env("RAMPART_SECRET_KEY_FILE", path.to_str().unwrap());
    let output = serve(config);
    assert_one_sentence_naming(&output, "well-known");
}

#[test]
fn production_refuses_star_origin_and_plain_http() {
    let config = TestConfig::default()
        .env("RAMPART_ENV", "production")
        .env("RAMPART_CORS__ALLOW_ORIGINS", "*")
        .env("RAMPART_CORS__ALLOW_CREDENTIALS", "false");
    let output = serve(config);
    assert_one_sentence_naming(&output, "cors.allow_origins");
    assert!(
        output.stderr.contains("tls"),
        "plain HTTP is reported too: {}",
        output.stderr
    );
}

#[test]
fn config_check_lists_findings_with_levels_and_fails_on_errors() {
    let config = TestConfig::default()
        .env("RAMPART_SECRET_KEY", "changeme")
        .env("RAMPART_CORS__ALLOW_ORIGINS", "*");
    let output = run_cli(&config, &["config", "check"], "");
    assert_eq!(output.code, Some(1), "{output:?}");
    assert!(
        output
            .stdout
            .contains("error: secret: the secret is a well-known default value"),
        "{}",
        output.stdout
    );
    assert!(
        output.stdout.contains("error: cors.allow_origins:"),
        "{}",
        output.stdout
    );
    assert!(
        !output.stdout.contains("changeme"),
        "the secret is never printed: {}",
        output.stdout
    );
    // The findings are the report; the failure is also one sentence on
    // stderr, as for every command that fails.
    assert_eq!(
        output.stderr.trim(),
        "rampart: the configuration has 2 errors (see the findings above)"
    );
}

#[test]
fn config_check_passes_a_sound_configuration() {
    let config = TestConfig::default()
        .env("RAMPART_ENV", "production")
        .env("RAMPART_PROXY__TRUSTED", "10.0.0.0/8, 192.168.1.1");
    let output = run_cli(&config, &["config", "check"], "");
    assert_eq!(output.code, Some(0), "{output:?}");
    assert!(!output.stdout.contains("error:"), "{}", output.stdout);
}

#[test]
fn config_check_warns_in_development_without_a_secret() {
    let output = run_cli(
        &TestConfig::default().without("RAMPART_SECRET_KEY"),
        &["config", "check"],
        "",
    );
    assert_eq!(output.code, Some(0), "{output:?}");
    assert!(
        output.stdout.contains("warning: secret: no secret is set"),
        "{}",
        output.stdout
    );
}

#[test]
fn environment_overrides_the_file() {
    let config = TestConfig::default()
        .toml("env = \"production\"\n[proxy]\ntrusted = [\"10.0.0.0/8\"]\n")
        .env("RAMPART_ENV", "development")
        .without("RAMPART_SECRET_KEY");
    // Production would make the missing secret an error; the environment
    // says development, where it is only a warning.
    let output = run_cli(&config, &["config", "check"], "");
    assert_eq!(output.code, Some(0), "{output:?}");
    assert!(output.stdout.contains("warning: secret"), "{}", output.stdout);
}

#[test]
fn unknown_command_is_a_usage_error() {
    let output = run_cli(&TestConfig::default(), &["frobnicate"], "");
    assert_eq!(output.code, Some(2), "{output:?}");
}

#[test]
fn toml_syntax_error_is_one_sentence() {
    let output = serve(TestConfig::default().toml("bind = \n"));
    assert_one_sentence_naming(&output, "rampart.toml");
    assert!(output.stderr.contains("line 1"), "{}", output.stderr);
}

#[test]
fn a_table_missing_a_required_key_names_it() {
    let output = serve(TestConfig::default().env("RAMPART_TLS__CERT", "cert.pem"));
    assert_one_sentence_naming(&output, "tls.key");
}
