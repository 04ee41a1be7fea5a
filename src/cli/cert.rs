//! `rampart cert dev --host H --out DIR`: a self-signed certificate and key
//! (ECDSA P-256, rcgen) for local HTTPS. Browsers warn about it; it is for
//! development only, never for production.

use std::{
    io::Write,
    path::{Path, PathBuf},
    process::ExitCode,
};

use super::Failure;

pub fn dev(hosts: &[String], out: &Path) -> Result<ExitCode, Failure> {
    let generated = rcgen::generate_simple_self_signed(hosts.to_vec())
        .map_err(|e| Failure::Config(format!("cannot make a certificate for {}: {e}", hosts.join(", "))))?;
    std::fs::create_dir_all(out)
        .map_err(|e| Failure::Runtime(format!("cannot create {}: {e}", out.display())))?;
    let cert = out.join("cert.pem");
    let key = out.join("key.pem");
    write(&cert, generated.cert.pem().as_bytes(), 0o644)?;
    // The private key is readable by its owner only.
    write(&key, generated.signing_key.serialize_pem().as_bytes(), 0o600)?;
    println!(
        "wrote {} and {} for {}",
        cert.display(),
        key.display(),
        hosts.join(", ")
    );
    println!("[tls]\ncert = {:?}\nkey = {:?}", display(&cert), display(&key));
    Ok(ExitCode::SUCCESS)
}

fn display(path: &Path) -> String {
    path.display().to_string()
}

/// Writes `bytes` to a new file (replacing an old one) with `mode`.
fn write(path: &PathBuf, bytes: &[u8], mode: u32) -> Result<(), Failure> {
    use std::os::unix::fs::OpenOptionsExt;
    let fail = |e: std::io::Error| Failure::Runtime(format!("cannot write {}: {e}", path.display()));
    let _ = std::fs::remove_file(path);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(fail)?;
    file.write_all(bytes).map_err(fail)
}
