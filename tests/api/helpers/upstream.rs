//! A real FastAPI app under uvicorn, for rampart's gateway to protect: the
//! recording upstream (`tests/gateway/upstream.py`) or the example
//! (`examples/fastapi`). Both run from the virtualenv of
//! `tests/gateway/requirements.txt`, made on first use.

use std::{
    io::{BufRead, BufReader},
    net::SocketAddr,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{Mutex, OnceLock},
    time::{Duration, Instant},
};

use serde_json::Value;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// Which app.
pub enum App<'a> {
    /// The recording upstream; `root_security`: its document states its
    /// security once, at the root.
    Recording { root_security: bool },
    /// `examples/fastapi/app.py`, verifying assertions against `jwks_url`
    /// for the audience `audience`.
    Example { jwks_url: &'a str, audience: &'a str },
    /// `tests/scan/weak_app.py`: an API written the naive way, for
    /// `rampart scan` to find its mistakes; with `tokens_unchecked`, its
    /// tokens never expire and are read without a check.
    Weak { tokens_unchecked: bool },
}

/// A running uvicorn.
pub struct Upstream {
    child: Child,
    pub addr: SocketAddr,
    client: reqwest::Client,
}

/// The venv's directory, made once per test run.
fn venv() -> &'static Path {
    static VENV: OnceLock<PathBuf> = OnceLock::new();
    static MAKING: Mutex<()> = Mutex::new(());
    VENV.get_or_init(|| {
        let _one = MAKING.lock().unwrap();
        let venv = Path::new(ROOT).join("target/gateway-venv");
        let status = Command::new(Path::new(ROOT).join("scripts/python-venv"))
            .arg(&venv)
            .arg(Path::new(ROOT).join("tests/gateway/requirements.txt"))
            .status()
            .expect("scripts/python-venv");
        assert!(status.success(), "making the gateway test venv failed");
        venv
    })
}

impl Upstream {
    /// Starts `app` on 127.0.0.1 and a free port, and waits until it serves.
    pub fn start(app: App<'_>) -> Self {
        Self::start_on(app, 0)
    }

    /// Starts `app` on 127.0.0.1 and `port` (0: a free one), and waits
    /// until it serves.
    pub fn start_on(app: App<'_>, port: u16) -> Self {
        Self::launch(app, port, 5)
    }

    /// Starts `app` on a free port, closing a connection idle for
    /// `seconds` (uvicorn's `--timeout-keep-alive`; 5 by default).
    pub fn start_keeping_alive(app: App<'_>, seconds: u32) -> Self {
        Self::launch(app, 0, seconds)
    }

    fn launch(app: App<'_>, port: u16, keep_alive_seconds: u32) -> Self {
        let mut command = Command::new(venv().join("bin/uvicorn"));
        command
            .args([
                "--host",
                "127.0.0.1",
                "--port",
                &port.to_string(),
                "--timeout-keep-alive",
                &keep_alive_seconds.to_string(),
                // The app sees its peer as it is (the records' client
                // port), not the address rampart forwards.
                "--no-proxy-headers",
                "--no-access-log",
            ])
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        match app {
            App::Recording { root_security } => {
                command
                    .args(["--app-dir", &format!("{ROOT}/tests/gateway"), "upstream:app"])
                    .env("UPSTREAM_ROOT_SECURITY", if root_security { "1" } else { "" });
            }
            App::Example { jwks_url, audience } => {
                command
                    .args(["--app-dir", &format!("{ROOT}/examples/fastapi"), "app:app"])
                    .env("ASSERTION_JWKS_URL", jwks_url)
                    .env("ASSERTION_AUDIENCE", audience);
            }
            App::Weak { tokens_unchecked } => {
                command
                    .args(["--app-dir", &format!("{ROOT}/tests/scan"), "weak_app:app"])
                    .env("WEAK_TOKENS", if tokens_unchecked { "1" } else { "" });
            }
        }
        let mut child = command.spawn().expect("uvicorn");
        let stderr = child.stderr.take().unwrap();
        let (found, port) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut found = Some(found);
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(rest) = line.split("Uvicorn running on http://127.0.0.1:").nth(1)
                    && let Some(found) = found.take()
                {
                    let port: u16 = rest.split_whitespace().next().unwrap().parse().unwrap();
                    let _ = found.send(port);
                }
            }
        });
        let port = port.recv_timeout(super::PATIENCE).expect("uvicorn did not start");
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        Self {
            child,
            addr,
            client: reqwest::Client::new(),
        }
    }

    /// `http://127.0.0.1:PORT`, as `gateway.upstream` names it.
    pub fn origin(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every request the app received, oldest first, but rampart's read
    /// of its OpenAPI document at start.
    pub async fn records(&self) -> Vec<Value> {
        let response = self
            .client
            .get(format!("{}/_upstream/records", self.origin()))
            .send()
            .await
            .unwrap();
        let records: Vec<Value> = response.json().await.unwrap();
        records
            .into_iter()
            .filter(|r| r["raw_path"] != "/openapi.json")
            .collect()
    }

    /// The raw paths of the requests the app received.
    pub async fn paths(&self) -> Vec<String> {
        self.records()
            .await
            .iter()
            .map(|r| r["raw_path"].as_str().unwrap().to_owned())
            .collect()
    }

    /// Waits until the app has recorded a request to `path`.
    pub async fn wait_for(&self, path: &str) -> Value {
        let deadline = Instant::now() + super::PATIENCE;
        loop {
            if let Some(record) = self.records().await.into_iter().find(|r| r["raw_path"] == path) {
                return record;
            }
            assert!(Instant::now() < deadline, "the upstream never received {path}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The values of header `name` in a record's headers.
pub fn header_values(record: &Value, name: &str) -> Vec<String> {
    record["headers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|pair| pair[0].as_str().unwrap().eq_ignore_ascii_case(name))
        .map(|pair| pair[1].as_str().unwrap().to_owned())
        .collect()
}
