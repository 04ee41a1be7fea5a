//! `rampart cert dev --host H --out DIR`: a self-signed certificate and key
//! (ECDSA P-256, rcgen) for local HTTPS. Browsers warn about it; it is for
//! development only, never for production.
//!
//! The certificate is shaped like one a public CA would issue (CA/Browser
//! Forum Baseline Requirements 7.1.2.7): at most 90 days of validity, so a
//! forgotten development key stops working; the first host as its common
//! name; subject and authority key identifiers (RFC 5280 4.2.1.1 and
//! 4.2.1.2); `CA:FALSE`, key usage `digitalSignature`, extended key usage
//! `serverAuth`. `localhost` also names 127.0.0.1 and ::1, which is what
//! `localhost` resolves to, and which the HTTPS redirect checks the `Host`
//! header against.

use std::{
    io::Write,
    path::{Path, PathBuf},
    process::ExitCode,
};

use rcgen::{
    CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose,
};

use super::Failure;

/// How long a development certificate is valid.
const VALIDITY_DAYS: i64 = 90;

pub fn dev(hosts: &[String], out: &Path) -> Result<ExitCode, Failure> {
    let names = with_loopback(hosts);
    let failed =
        |e: rcgen::Error| Failure::Config(format!("cannot make a certificate for {}: {e}", names.join(", ")));
    let now = time::OffsetDateTime::from_unix_timestamp(chrono::Utc::now().timestamp())
        .map_err(|e| Failure::Runtime(format!("the clock is out of range: {e}")))?;
    let mut params = CertificateParams::new(names.clone()).map_err(failed)?;
    let mut subject = DistinguishedName::new();
    subject.push(DnType::CommonName, names[0].as_str());
    params.distinguished_name = subject;
    params.not_before = now;
    params.not_after = now + time::Duration::days(VALIDITY_DAYS);
    // `ExplicitNoCa` writes basicConstraints CA:FALSE and, with it, the
    // subject key identifier.
    params.is_ca = IsCa::ExplicitNoCa;
    params.use_authority_key_identifier_extension = true;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let signing_key = KeyPair::generate().map_err(failed)?;
    let certificate = params.self_signed(&signing_key).map_err(failed)?;

    std::fs::create_dir_all(out)
        .map_err(|e| Failure::Runtime(format!("cannot create {}: {e}", out.display())))?;
    let cert = out.join("cert.pem");
    let key = out.join("key.pem");
    write(&cert, certificate.pem().as_bytes(), 0o644)?;
    // The private key is readable by its owner only.
    write(&key, signing_key.serialize_pem().as_bytes(), 0o600)?;
    println!(
        "wrote {} and {} for {}",
        cert.display(),
        key.display(),
        names.join(", ")
    );
    println!("[tls]\ncert = {:?}\nkey = {:?}", display(&cert), display(&key));
    Ok(ExitCode::SUCCESS)
}

/// The hosts, in order and without repeats; `localhost` brings its loopback
/// addresses.
fn with_loopback(hosts: &[String]) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    let mut add = |name: &str| {
        if !names.iter().any(|n| n.eq_ignore_ascii_case(name)) {
            names.push(name.to_owned());
        }
    };
    for host in hosts {
        add(host);
        if host.eq_ignore_ascii_case("localhost") {
            add("127.0.0.1");
            add("::1");
        }
    }
    names
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

#[cfg(test)]
mod tests {
    use super::with_loopback;

    #[test]
    fn localhost_brings_its_loopback_addresses_once() {
        let hosts = |list: &[&str]| list.iter().map(|h| (*h).to_owned()).collect::<Vec<_>>();
        assert_eq!(
            with_loopback(&hosts(&["localhost"])),
            hosts(&["localhost", "127.0.0.1", "::1"])
        );
        assert_eq!(
            with_loopback(&hosts(&["api.test", "127.0.0.1", "localhost", "api.test"])),
            hosts(&["api.test", "127.0.0.1", "localhost", "::1"])
        );
        assert_eq!(with_loopback(&hosts(&["api.test"])), hosts(&["api.test"]));
    }
}
