//! Throwaway TLS certificates for the tests that serve or proxy HTTPS, made with `openssl`.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A self-signed server certificate (EC P-256, two days) for `common_name` with the given
/// `subjectAltName` (`IP:127.0.0.1`, `DNS:localhost`): files `NAME.crt` and `NAME.key` in `dir`.
pub fn self_signed(dir: &Path, common_name: &str, subject_alt_name: &str) -> (PathBuf, PathBuf) {
    let cert = dir.join(format!("{common_name}.crt"));
    let key = dir.join(format!("{common_name}.key"));
    let out = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
            "-subj",
            &format!("/CN={common_name}"),
            "-addext",
            &format!("subjectAltName={subject_alt_name}"),
            // A server certificate, not a CA: clients refuse a CA as the end entity.
            "-addext",
            "basicConstraints=critical,CA:FALSE",
            "-addext",
            "extendedKeyUsage=serverAuth",
            "-keyout",
        ])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl is installed");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (cert, key)
}
