//! DKIM test support: keys from `envoi dkim keygen`, verification by dkimpy.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use super::have_aiosmtpd;

/// True when dkimpy (with PyNaCl for Ed25519) is importable; otherwise says why the test skips.
pub fn have_dkimpy() -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import dkim, nacl"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!("SKIP: python3 with dkimpy is not installed (run scripts/setup-test-peers)");
    }
    ok && have_aiosmtpd()
}

pub fn envoi(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_envoi"))
        .args(args)
        .output()
        .unwrap()
}

/// Runs `envoi dkim keygen` into `dir`; returns the key file and the record printed.
pub fn keygen(dir: &Path, domain: &str, selector: &str, algorithm: &str) -> (PathBuf, String) {
    let out = dir.join(format!("{selector}.{domain}.pem"));
    let output = envoi(&[
        "dkim",
        "keygen",
        "--domain",
        domain,
        "--selector",
        selector,
        "--algorithm",
        algorithm,
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    (out, String::from_utf8(output.stdout).unwrap())
}

pub fn key_table(domain: &str, selector: &str, path: &Path, algorithm: &str) -> String {
    format!(
        "[[dkim.key]]\ndomain = \"{domain}\"\nselector = \"{selector}\"\nkey = \"{}\"\nalgorithm = \"{algorithm}\"\n",
        path.display()
    )
}

/// dkimpy's verdict on every signature of `message`: its output lines, and whether all pass.
pub fn verify(dir: &Path, message: &[u8], records: &str) -> (Vec<String>, bool) {
    let eml = dir.join("verify.eml");
    let zone = dir.join("records.zone");
    std::fs::write(&eml, message).unwrap();
    std::fs::write(&zone, records).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/dkim_verify.py");
    let output = Command::new("python3")
        .arg(script)
        .arg(&eml)
        .arg(&zone)
        .output()
        .unwrap();
    let lines = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    (lines, output.status.success())
}

/// The DKIM-Signature fields of `message`, top first, each whole (folding kept).
pub fn signatures(message: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(message);
    let head = text.split("\r\n\r\n").next().unwrap().to_owned();
    let mut out: Vec<String> = Vec::new();
    let mut in_signature = false;
    for line in head.split("\r\n") {
        if line.starts_with([' ', '\t']) {
            if in_signature {
                let last = out.last_mut().unwrap();
                last.push_str("\r\n");
                last.push_str(line);
            }
        } else {
            in_signature = line.to_ascii_lowercase().starts_with("dkim-signature:");
            if in_signature {
                out.push(line.to_owned());
            }
        }
    }
    out
}

/// A `[relay]` table sending everything to the sink on `port`.
pub fn sink_config(port: u16) -> String {
    format!("[relay]\nsmarthost = \"smtp://127.0.0.1:{port}\"\n\n")
}
