//! The test harness: starts the real `rampart` binary on 127.0.0.1 port 0
//! with a temporary SQLite file and a given configuration, and talks HTTP
//! to it. Every integration test goes through [`TestServer`].

use std::{
    io::{BufRead, BufReader, Write},
    net::SocketAddr,
    path::{Path, PathBuf},
    process::{Child, Command, ExitStatus, Output, Stdio},
    sync::{Arc, Condvar, Mutex},
    time::Duration,
};

use serde_json::Value;
use tempfile::TempDir;

mod audit;
mod browser;
mod items;
pub mod oidc;
mod upstream;
mod ws;

pub use audit::wait_for_event;
pub use browser::{Browser, hidden_token, set_cookie_line};
pub use items::item_names;
pub use oidc::OpenIdProvider;
pub use upstream::{App, Upstream, header_values};
pub use ws::{Socket, close_code, next_event, open_ws, open_ws_at, open_ws_bearer, raw_upgrade, send_text};

/// The binary under test, built with the `test-hooks` feature.
pub const RAMPART: &str = env!("CARGO_BIN_EXE_rampart");

/// An upper bound for anything that should happen promptly; a test only
/// waits this long when the behaviour under test is broken.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// The password of the users [`TestServer::with_users`] creates.
pub const PASSWORD: &str = "correct horse battery";

/// A random secret that passes every check.
pub fn strong_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::fill(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A token response (RFC 6749 section 5.1).
#[derive(Clone, Debug, serde::Deserialize)]
pub struct Tokens {
    pub access_token: String,
    pub token_type: String,
    pub expires_in: i64,
    pub refresh_token: String,
}

/// How to start a server.
#[derive(Clone, Debug, Default)]
pub struct TestConfig {
    /// Contents of `rampart.toml` in the server's working directory.
    pub toml: Option<String>,
    /// Extra environment variables (the harness sets bind addresses, the
    /// database and a strong secret unless these override them).
    pub env: Vec<(String, String)>,
    /// Environment variables the harness would set that must stay unset.
    pub unset: Vec<String>,
}

impl TestConfig {
    pub fn toml(mut self, toml: &str) -> Self {
        self.toml = Some(toml.to_owned());
        self
    }

    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_owned(), value.to_owned()));
        self
    }

    pub fn without(mut self, key: &str) -> Self {
        self.unset.push(key.to_owned());
        self
    }

    /// HTTPS with the certificate and key that `rampart cert dev` wrote
    /// into `dir`.
    /// SQLite, whatever `RAMPART_TEST_DATABASE` says: for tests of the
    /// SQLite file itself.
    pub fn sqlite(self) -> Self {
        self.env("RAMPART_DATABASE_URL", "sqlite://rampart.db")
    }

    pub fn tls(self, dir: &Path) -> Self {
        self.env("RAMPART_TLS__CERT", dir.join("cert.pem").to_str().unwrap())
            .env("RAMPART_TLS__KEY", dir.join("key.pem").to_str().unwrap())
    }
}

/// `rampart cert dev --host H... --out DIR`: a development certificate
/// for `hosts` in `dir`.
pub fn cert_dev(dir: &Path, hosts: &[&str]) {
    let mut args = vec!["cert", "dev"];
    for host in hosts {
        args.extend(["--host", host]);
    }
    args.extend(["--out", dir.to_str().unwrap()]);
    let output = run_cli(&TestConfig::default(), &args, "");
    assert_eq!(output.code, Some(0), "{}", output.stderr);
}

/// `POST /token` (password grant) from `client`.
pub async fn post_token(
    client: &reqwest::Client,
    server: &TestServer,
    username: &str,
    password: &str,
) -> reqwest::Response {
    client
        .post(server.url("/token"))
        .form(&[("username", username), ("password", password)])
        .send()
        .await
        .unwrap()
}

/// A client whose connections come from `ip` (any 127.0.0.0/8 address
/// reaches the server on 127.0.0.1); it follows no redirect.
pub fn client_from(ip: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(ip.parse::<std::net::IpAddr>().unwrap())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Collected stdout lines, shared with the reader thread.
#[derive(Default)]
struct Lines {
    lines: Mutex<Vec<String>>,
    /// The stream has ended (the process exited): nothing more will come.
    closed: std::sync::atomic::AtomicBool,
    changed: Condvar,
    /// While set, the reader reads nothing: the pipe fills, and the
    /// server's writes to it block, as with a log shipper that stalls.
    paused: std::sync::atomic::AtomicBool,
}

/// A running `rampart serve`.
pub struct TestServer {
    child: Option<Child>,
    pub addr: SocketAddr,
    pub admin_addr: SocketAddr,
    /// The `tls.redirect_http_from` listener, when configured.
    pub redirect_addr: Option<SocketAddr>,
    pub client: reqwest::Client,
    pub secret: String,
    stdout: Arc<Lines>,
    stderr: Arc<Lines>,
    pub dir: TempDir,
    config: TestConfig,
    /// The PostgreSQL database made for this server, if any.
    pg_database: Option<String>,
}

/// The local PostgreSQL server's maintenance connection (`psql` arguments).
const PSQL: [&str; 6] = ["-h", "127.0.0.1", "-U", "postgres", "-d", "test"];

fn psql(sql: &str) {
    let output = Command::new("psql")
        .args(PSQL)
        .args(["-v", "ON_ERROR_STOP=1", "-qc", sql])
        .output()
        .expect("psql (PostgreSQL on 127.0.0.1:5432, started by scripts/services.sh)");
    assert!(
        output.status.success(),
        "{sql}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// `config` on a fresh PostgreSQL database when `RAMPART_TEST_DATABASE` is
/// `postgres` and it names no database itself.
fn on_postgres_if_asked(config: TestConfig) -> (TestConfig, Option<String>) {
    let asked = std::env::var("RAMPART_TEST_DATABASE").is_ok_and(|db| db == "postgres");
    let named = config.env.iter().any(|(k, _)| k == "RAMPART_DATABASE_URL");
    if !asked || named {
        return (config, None);
    }
    let name = format!("rampart_suite_{}", &strong_secret()[..16]);
    psql(&format!("CREATE DATABASE {name}"));
    let url = format!("postgres://postgres@127.0.0.1:5432/{name}");
    (config.env("RAMPART_DATABASE_URL", &url), Some(name))
}

impl TestServer {
    /// Starts a server with the default test configuration.
    pub async fn start() -> Self {
        Self::start_with(TestConfig::default()).await
    }

    /// Starts a server with users `alice` and `bob` (role `user`) and
    /// `root` (role `admin`), each with [`PASSWORD`].
    pub async fn with_users() -> Self {
        let server = Self::start().await;
        server.create_user("alice", PASSWORD, &["user"]);
        server.create_user("bob", PASSWORD, &["user"]);
        server.create_user("root", PASSWORD, &["admin"]);
        server
    }

    /// Starts a server and waits until it is listening. With
    /// `RAMPART_TEST_DATABASE=postgres` in the environment, a server whose
    /// configuration names no database gets a fresh PostgreSQL database
    /// (dropped with it) instead of an SQLite file: the whole suite then
    /// runs on PostgreSQL.
    pub async fn start_with(config: TestConfig) -> Self {
        let (config, pg_database) = on_postgres_if_asked(config);
        let dir = tempfile::tempdir().expect("temporary directory");
        let secret = strong_secret();
        let mut command = base_command(dir.path(), &config, &secret);
        command
            .arg("serve")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .stdin(Stdio::null());
        let mut child = command.spawn().expect("spawn rampart");
        let stdout = collect(child.stdout.take().expect("stdout"));
        let stderr = collect(child.stderr.take().expect("stderr"));

        let listening = wait_for(&stdout, PATIENCE, |line| {
            json(line).is_some_and(|v| v["message"] == "listening")
        });
        let Some(line) = listening else {
            let _ = child.kill();
            panic!(
                "rampart did not start.\nstdout:\n{}\nstderr:\n{}",
                stdout.lines.lock().unwrap().join("\n"),
                stderr.lines.lock().unwrap().join("\n")
            );
        };
        let event = json(&line).unwrap();
        let addr = event["addr"].as_str().unwrap().parse().unwrap();
        let admin_addr = event["admin_addr"].as_str().unwrap().parse().unwrap();
        let redirect_addr = event["redirect_addr"].as_str().map(|a| a.parse().unwrap());
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        Self {
            child: Some(child),
            addr,
            admin_addr,
            redirect_addr,
            client,
            secret,
            stdout,
            stderr,
            dir,
            config,
            pg_database,
        }
    }

    /// Runs `rampart ARGS` against this server's database and secret.
    pub fn cli(&self, args: &[&str], stdin: &str) -> CliOutput {
        run_to_end(
            base_command(self.dir.path(), &self.config, &self.secret),
            args,
            stdin,
        )
    }

    /// Runs `rampart ARGS` against this server's database and secret, as
    /// [`Self::cli`] does, but stops it after `patience` (its `code` is
    /// then `None`): for a command that should fail at once and, broken,
    /// would run on (`serve`).
    pub fn cli_within(&self, args: &[&str], patience: Duration) -> CliOutput {
        let mut command = base_command(self.dir.path(), &self.config, &self.secret);
        command
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().expect("spawn rampart");
        let deadline = std::time::Instant::now() + patience;
        while child.try_wait().unwrap().is_none() {
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        CliOutput::from(child.wait_with_output().unwrap())
    }

    /// Creates a user with the command line.
    pub fn create_user(&self, username: &str, password: &str, roles: &[&str]) {
        let mut args = vec!["user", "create", "--username", username];
        for role in roles {
            args.extend(["--role", role]);
        }
        let output = self.cli(&args, &format!("{password}\n"));
        assert_eq!(output.code, Some(0), "user create: {output:?}");
    }

    /// `PUT /admin/users/{username}/roles` as the admin holding `token`.
    pub async fn set_roles(&self, token: &str, username: &str, roles: &[&str]) -> reqwest::Response {
        self.client
            .put(self.url(&format!("/admin/users/{username}/roles")))
            .bearer_auth(token)
            .json(&serde_json::json!({ "roles": roles }))
            .send()
            .await
            .unwrap()
    }

    /// `POST /token` with the password grant.
    pub async fn token(&self, username: &str, password: &str) -> reqwest::Response {
        self.client
            .post(self.url("/token"))
            .form(&[("username", username), ("password", password)])
            .send()
            .await
            .expect("request")
    }

    /// An access token from `POST {prefix}/token` (`prefix`: rampart's
    /// `own_prefix`, or empty), which must succeed.
    pub async fn access_token_at(&self, prefix: &str, username: &str, password: &str) -> String {
        access_token_via(&self.client, &self.url(prefix), username, password).await
    }

    /// `POST /token` with the refresh grant.
    pub async fn refresh(&self, refresh_token: &str) -> reqwest::Response {
        self.client
            .post(self.url("/token"))
            .form(&[("grant_type", "refresh_token"), ("refresh_token", refresh_token)])
            .send()
            .await
            .expect("request")
    }

    /// Logs in and returns the token response.
    pub async fn login(&self, username: &str, password: &str) -> Tokens {
        let response = self.token(username, password).await;
        assert_eq!(response.status(), 200, "login of {username}");
        response.json().await.unwrap()
    }

    /// A GET with a bearer token.
    pub async fn get_as(&self, path: &str, token: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("request")
    }

    /// The server's database file.
    /// The SQLite file of a server on SQLite.
    pub fn database(&self) -> PathBuf {
        self.dir.path().join("rampart.db")
    }

    /// The server's database, to open it as the server does.
    pub async fn store(&self) -> rampart::store::Store {
        rampart::store::Store::connect(&self.database_url().parse().unwrap())
            .await
            .unwrap()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn admin_url(&self, path: &str) -> String {
        format!("http://{}{}", self.admin_addr, path)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.expect("request")
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .expect("request")
    }

    /// The Prometheus text of the admin listener's `/metrics`.
    pub async fn metrics(&self) -> String {
        let response = self
            .client
            .get(self.admin_url("/metrics"))
            .send()
            .await
            .expect("request");
        response.text().await.expect("metrics text")
    }

    /// Every line the server printed on stdout so far.
    pub fn logs(&self) -> Vec<String> {
        self.stdout.lines.lock().unwrap().clone()
    }

    /// Waits (without blocking the test's runtime) for a log event matching
    /// `predicate`; panics if none comes.
    pub async fn wait_for_log(
        &self,
        what: &str,
        predicate: impl Fn(&Value) -> bool + Send + 'static,
    ) -> Value {
        let lines = self.stdout.clone();
        let found = tokio::task::spawn_blocking(move || {
            wait_for(&lines, PATIENCE, |line| json(line).is_some_and(|v| predicate(&v)))
        })
        .await
        .unwrap();
        let line = found.unwrap_or_else(|| panic!("no log line: {what}\n{}", self.logs().join("\n")));
        json(&line).unwrap()
    }

    /// The access-log line for a request id.
    pub async fn access_log(&self, request_id: &str) -> Value {
        let id = request_id.to_owned();
        self.wait_for_log(&format!("access log of {request_id}"), move |v| {
            v["message"] == "request" && v["request_id"] == id.as_str()
        })
        .await
    }

    pub fn pid(&self) -> i32 {
        self.child.as_ref().expect("running").id() as i32
    }

    /// Sends SIGTERM.
    pub fn terminate(&self) {
        signal(self.pid(), "TERM");
    }

    /// Sends SIGHUP.
    pub fn hang_up(&self) {
        signal(self.pid(), "HUP");
    }

    /// Waits for the process to exit and returns its status.
    pub fn wait_exit(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("running");
        let deadline = std::time::Instant::now() + PATIENCE;
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                panic!("rampart did not exit\n{}", self.logs().join("\n"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The path and query of the first-run setup link the server printed
    /// on stderr (`/setup?token=...`), waiting for it.
    pub async fn setup_link(&self) -> String {
        let lines = self.stderr.clone();
        let line = tokio::task::spawn_blocking(move || {
            wait_for(&lines, PATIENCE, |line| line.contains("/setup?token="))
        })
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("no setup link on stderr:\n{}", self.stderr()));
        let start = line.find("/setup?token=").unwrap();
        line[start..].split_whitespace().next().unwrap().to_owned()
    }

    pub fn stderr(&self) -> String {
        self.stderr.lines.lock().unwrap().join("\n")
    }

    /// Stops reading the server's stdout until [`Self::resume_stdout`]:
    /// once the pipe is full, the server's writes to stdout block.
    pub fn pause_stdout(&self) {
        self.stdout
            .paused
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }

    pub fn resume_stdout(&self) {
        self.stdout
            .paused
            .store(false, std::sync::atomic::Ordering::SeqCst);
    }

    /// The URL of the server's database, to start another instance on it.
    pub fn database_url(&self) -> String {
        self.config
            .env
            .iter()
            .find(|(k, _)| k == "RAMPART_DATABASE_URL")
            .map_or_else(
                || format!("sqlite://{}", self.database().display()),
                |(_, v)| v.clone(),
            )
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if let Some(name) = self.pg_database.take() {
            psql(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
        }
    }
}

fn signal(pid: i32, name: &str) {
    let status = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(pid.to_string())
        .status()
        .unwrap();
    assert!(status.success(), "kill -{name} {pid}");
}

/// The command with the harness's environment: nothing inherited but PATH
/// and HOME, a fresh database in `dir`, port 0 for both listeners.
fn base_command(dir: &Path, config: &TestConfig, secret: &str) -> Command {
    if let Some(toml) = &config.toml {
        std::fs::write(dir.join("rampart.toml"), toml).unwrap();
    }
    let mut command = Command::new(RAMPART);
    command.current_dir(dir).env_clear();
    for key in ["PATH", "HOME"] {
        if let Ok(value) = std::env::var(key) {
            command.env(key, value);
        }
    }
    let db = format!("sqlite://{}", dir.join("rampart.db").display());
    let defaults = [
        ("RAMPART_BIND", "127.0.0.1:0"),
        ("RAMPART_ADMIN_BIND", "127.0.0.1:0"),
        ("RAMPART_DATABASE_URL", db.as_str()),
        ("RAMPART_SECRET_KEY", secret),
        // Tests log in and call far more often than a person; the tests of
        // the limits themselves set their own (as environment variables:
        // these would override a TOML file).
        ("RAMPART_RATE_LIMIT__DEFAULT", "1000000/minute"),
        ("RAMPART_RATE_LIMIT__LOGIN", "1000000/minute"),
        ("RAMPART_RATE_LIMIT__LOGIN_PER_USERNAME", "1000000/minute"),
        ("RAMPART_RATE_LIMIT__DOCS", "1000000/minute"),
    ];
    for (key, value) in defaults {
        let overridden = config.env.iter().any(|(k, _)| k == key) || config.unset.iter().any(|k| k == key);
        if !overridden {
            command.env(key, value);
        }
    }
    for (key, value) in &config.env {
        command.env(key, value);
    }
    command
}

/// Runs `rampart ARGS` to completion in a fresh directory, with `stdin`.
pub fn run_cli(config: &TestConfig, args: &[&str], stdin: &str) -> CliOutput {
    let dir = tempfile::tempdir().unwrap();
    run_to_end(base_command(dir.path(), config, &strong_secret()), args, stdin)
}

/// Runs `command ARGS`, feeding it `stdin`, and waits for it.
fn run_to_end(mut command: Command, args: &[&str], stdin: &str) -> CliOutput {
    command
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().expect("spawn rampart");
    // The command may exit before reading its input (bad arguments).
    let _ = child.stdin.take().unwrap().write_all(stdin.as_bytes());
    CliOutput::from(child.wait_with_output().unwrap())
}

/// What a finished command printed.
#[derive(Debug)]
pub struct CliOutput {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for CliOutput {
    fn from(output: Output) -> Self {
        Self {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

fn collect(stream: impl std::io::Read + Send + 'static) -> Arc<Lines> {
    let lines = Arc::new(Lines::default());
    let sink = lines.clone();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stream);
        loop {
            while sink.paused.load(std::sync::atomic::Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(10));
            }
            let mut line = String::new();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
            let line = line.strip_suffix('\n').unwrap_or(&line);
            let line = line.strip_suffix('\r').unwrap_or(line).to_owned();
            sink.lines.lock().unwrap().push(line);
            sink.changed.notify_all();
        }
        sink.closed.store(true, std::sync::atomic::Ordering::SeqCst);
        let _guard = sink.lines.lock().unwrap();
        sink.changed.notify_all();
    });
    lines
}

fn wait_for(lines: &Lines, patience: Duration, predicate: impl Fn(&str) -> bool) -> Option<String> {
    let deadline = std::time::Instant::now() + patience;
    let mut guard = lines.lines.lock().unwrap();
    loop {
        if let Some(line) = guard.iter().find(|l| predicate(l)) {
            return Some(line.clone());
        }
        let now = std::time::Instant::now();
        if now >= deadline || lines.closed.load(std::sync::atomic::Ordering::SeqCst) {
            return None;
        }
        guard = lines.changed.wait_timeout(guard, deadline - now).unwrap().0;
    }
}

pub fn json(line: &str) -> Option<Value> {
    serde_json::from_str(line).ok()
}

/// A path inside the server's working directory.
pub fn in_dir(server: &TestServer, name: &str) -> PathBuf {
    server.dir.path().join(name)
}

/// Sends `request` as bytes over a new connection and reads the answer
/// until the server closes it; what it sent before closing is kept.
pub async fn raw_exchange(addr: std::net::SocketAddr, request: &[u8]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer).await;
    String::from_utf8_lossy(&answer).into_owned()
}

/// An access token from `POST {base}/token` over `client` (another
/// address, TLS, a proxy in front), which must succeed.
pub async fn access_token_via(
    client: &reqwest::Client,
    base: &str,
    username: &str,
    password: &str,
) -> String {
    let response = client
        .post(format!("{base}/token"))
        .form(&[("username", username), ("password", password)])
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200, "a token for {username}");
    let body: Value = response.json().await.unwrap();
    body["access_token"].as_str().unwrap().to_owned()
}

/// A port that was free a moment ago, for a process that must be told its
/// address before it starts.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The claims of a JWT, read without checking its signature.
pub fn claims_of(jwt: &str) -> Value {
    use base64::Engine;
    let payload = jwt.split('.').nth(1).expect("a JWT");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("base64url");
    serde_json::from_slice(&bytes).expect("JSON claims")
}
