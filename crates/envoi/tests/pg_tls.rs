//! TLS to the PostgreSQL server with a private CA (`[storage] ca_file`), against a private
//! server (`initdb` into a temporary folder, its own port) whose certificate a test CA signed.
//! Skips, and says so, without PostgreSQL's binaries.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is a failed assertion

mod support;

use std::time::SystemTime;

use envoi_queue::storage::NewMessage;
use envoi_queue::Storage;
use envoi_store_postgres::{PgError, PgOptions, PgStore};
use envoi_types::{Address, Envelope, Message, Sender};
use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};

use support::private_pg::PrivatePg;

/// A test CA (PEM) and a certificate for 127.0.0.1 it signed, with its key (PEM).
fn test_ca() -> (String, String, String) {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let params = CertificateParams::new(vec!["127.0.0.1".to_owned()]).unwrap();
    let cert = params.signed_by(&key, &ca, &ca_key).unwrap();
    (ca.pem(), cert.pem(), key.serialize_pem())
}

fn options(server: &PrivatePg, ca_file: Option<std::path::PathBuf>) -> PgOptions {
    let url = format!(
        "postgres://postgres@127.0.0.1:{}/postgres?sslmode=require",
        server.port
    );
    let mut options = PgOptions::new(url, "tls-node");
    options.ca_file = ca_file;
    options.pool_size = 2;
    options
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_signed_by_a_private_ca_is_reached_over_tls_only_with_its_ca_file() {
    let (ca, cert, key) = test_ca();
    let Some(server) = PrivatePg::start_tls(&cert, &key) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("db-ca.pem");
    std::fs::write(&ca_file, ca).unwrap();

    // The web PKI roots do not know the test CA: refused, and the error says why.
    let refused = PgStore::open(options(&server, None))
        .await
        .err()
        .expect("refused");
    assert!(refused.to_string().contains("certificate"), "{refused}");

    let store = PgStore::open(options(&server, Some(ca_file)))
        .await
        .unwrap();
    let envelope = Envelope::new(
        Sender::parse("s@src.test").unwrap(),
        vec![Address::parse("a@dst.test").unwrap()],
        Message::from(&b"Subject: t\r\n\r\nhi\r\n"[..]),
    );
    let message = NewMessage::new(envelope, SystemTime::now());
    store.write(vec![message.clone()]).await.unwrap();
    let read = store.get(message.id).await.unwrap().expect("stored");
    assert_eq!(read.envelope, message.envelope);
    // The server says every session of the node is encrypted.
    let sessions = std::process::Command::new("psql")
        .arg(format!(
            "postgres://postgres@127.0.0.1:{}/postgres?sslmode=disable",
            server.port
        ))
        .args(["-qAt", "-c"])
        .arg(
            "SELECT count(*) FILTER (WHERE s.ssl), count(*) FROM pg_stat_ssl s \
             JOIN pg_stat_activity a USING (pid) WHERE a.application_name = 'envoi tls-node'",
        )
        .output()
        .unwrap();
    let counts = String::from_utf8_lossy(&sessions.stdout).trim().to_owned();
    let (encrypted, all) = counts.split_once('|').expect("two counts");
    assert!(all != "0" && encrypted == all, "encrypted|all: {counts}");

    let empty = dir.path().join("empty.pem");
    std::fs::write(&empty, "").unwrap();
    let refused = PgStore::open(options(&server, Some(empty.clone())))
        .await
        .err()
        .expect("refused");
    assert!(matches!(refused, PgError::Tls(_)), "{refused}");
    assert_eq!(
        refused.to_string(),
        format!(
            "PostgreSQL TLS: ca_file {} holds no PEM certificate",
            empty.display()
        )
    );
}
