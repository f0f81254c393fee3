//! What DKIM signing adds to an enqueue: signs a 4 KiB message N times with a fresh Ed25519 key
//! and a fresh 2048-bit RSA key (each message one signature) and prints the time per message.
//!
//! `cargo run --release -p envoi-dkim --example sign_cost -- [N]` (default N = 2000).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Instant;

use envoi_dkim::{generate, Algorithm, DkimSign, KeySpec, LoadedKey, SignBy};
use envoi_queue::PrequeuePolicy;
use envoi_types::{Address, Envelope, Sender};

fn main() {
    let count: u32 = std::env::args()
        .nth(1)
        .map_or(2000, |n| n.parse().expect("N is a count"));
    let mut message = b"From: Sender <a@src.test>\r\nTo: b@dst.test\r\nSubject: cost\r\n\
        Date: Thu, 3 Dec 2026 18:00:00 +0000\r\nMessage-ID: <m@src.test>\r\n\r\n"
        .to_vec();
    while message.len() < 4096 {
        message.extend_from_slice(b"The quick brown fox jumps over the lazy dog, again.   \r\n");
    }
    for algorithm in [Algorithm::Ed25519, Algorithm::Rsa] {
        let spec = KeySpec {
            domain: "src.test".into(),
            selector: "s".into(),
            path: "unused".into(),
            algorithm,
        };
        let pem = generate(algorithm).unwrap().private_pem;
        let policy = DkimSign::new(
            SignBy::From,
            [LoadedKey::from_pem(&spec, pem.as_bytes()).unwrap()],
        );
        let envelope = Envelope::new(
            Sender::parse("a@src.test").unwrap(),
            vec![Address::parse("b@dst.test").unwrap()],
            message.clone(),
        );
        let start = Instant::now();
        for _ in 0..count {
            let out = policy.apply(envelope.clone());
            assert!(out[0].message.len() > message.len());
        }
        let elapsed = start.elapsed();
        println!(
            "{algorithm:?}: {count} messages of {} B in {:.3} s: {:.1} µs per message",
            message.len(),
            elapsed.as_secs_f64(),
            elapsed.as_secs_f64() * 1e6 / f64::from(count)
        );
    }
}
