//! The signing policy on envelopes: which messages get which signatures, and what the stored
//! message looks like afterwards. (Verification by an independent implementation is in envoi's
//! end-to-end tests.)

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use envoi_dkim::{generate, Algorithm, DkimError, DkimSign, KeySpec, LoadedKey, SignBy};
use envoi_queue::PrequeuePolicy;
use envoi_types::{Address, Envelope, Sender, SpooledBody};

fn key(dir: &Path, domain: &str, selector: &str, algorithm: Algorithm) -> LoadedKey {
    let spec = KeySpec {
        domain: domain.into(),
        selector: selector.into(),
        path: dir.join(format!("{selector}.{domain}.pem")),
        algorithm,
    };
    LoadedKey::from_pem(&spec, generate(algorithm).unwrap().private_pem.as_bytes()).unwrap()
}

fn envelope(sender: &str, message: &'static [u8]) -> Envelope {
    Envelope::new(
        Sender::parse(sender).unwrap(),
        vec![Address::parse("r@dst.test").unwrap()],
        message,
    )
}

fn signed_selectors(envelope: &Envelope) -> Vec<String> {
    envelope
        .message
        .headers("DKIM-Signature")
        .iter()
        .map(|v| {
            let s = v.split(';').find(|t| t.trim().starts_with("s=")).unwrap();
            s.trim()[2..].to_owned()
        })
        .collect()
}

const MESSAGE: &[u8] =
    b"From: Someone <a@Src.Test>\r\nTo: r@dst.test\r\nSubject: hi\r\n\r\nbody\r\n";

#[test]
fn every_key_of_the_from_domain_signs_once() {
    let dir = tempfile::tempdir().unwrap();
    let policy = DkimSign::new(
        SignBy::From,
        [
            key(dir.path(), "src.test", "old", Algorithm::Ed25519),
            key(dir.path(), "src.test", "new", Algorithm::Ed25519),
            key(dir.path(), "other.test", "x", Algorithm::Ed25519),
        ],
    );
    let out = policy.apply(envelope("bounce@other.test", MESSAGE));
    assert_eq!(out.len(), 1);
    assert_eq!(signed_selectors(&out[0]), vec!["old", "new"]);
    // The original message follows the signatures unchanged.
    assert!(out[0].message.as_bytes().ends_with(MESSAGE));
    assert!(out[0].message.as_bytes().starts_with(
        b"DKIM-Signature: v=1; a=ed25519-sha256; s=old; d=src.test; c=relaxed/relaxed;\r\n"
    ));
    // Applying the policy again (a second pass over stored mail) adds nothing.
    let again = policy.apply(out[0].clone());
    assert_eq!(again[0].message, out[0].message);
}

#[test]
fn sign_by_sender_uses_the_envelope_domain_and_skips_bounces() {
    let dir = tempfile::tempdir().unwrap();
    let policy = DkimSign::new(
        SignBy::Sender,
        [key(dir.path(), "bounces.test", "s", Algorithm::Ed25519)],
    );
    let out = policy.apply(envelope("x@Bounces.Test", MESSAGE)).remove(0);
    assert_eq!(signed_selectors(&out), vec!["s"]);
    assert!(out
        .message
        .header("DKIM-Signature")
        .unwrap()
        .contains("d=bounces.test"));
    let bounce = policy.apply(envelope("", MESSAGE)).remove(0);
    assert_eq!(bounce.message.as_bytes(), MESSAGE);
}

#[test]
fn mail_without_a_key_or_a_from_is_stored_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let policy = DkimSign::new(
        SignBy::From,
        [key(dir.path(), "src.test", "s", Algorithm::Ed25519)],
    );
    for message in [
        &b"From: a@elsewhere.test\r\n\r\nbody\r\n"[..],
        &b"Subject: no from\r\n\r\nbody\r\n"[..],
    ] {
        let mut e = envelope("a@src.test", b"");
        e.message = envoi_types::Message::new(message.to_vec());
        let out = policy.apply(e).remove(0);
        assert_eq!(out.message.as_bytes(), message);
    }
}

#[test]
fn a_spooled_body_is_hashed_and_stays_spooled() {
    let dir = tempfile::tempdir().unwrap();
    let policy = DkimSign::new(
        SignBy::From,
        [key(dir.path(), "src.test", "s", Algorithm::Rsa)],
    );
    let body = dir.path().join("body");
    std::fs::write(&body, b"the body on disk\r\n").unwrap();
    let mut spooled = envelope("a@src.test", b"");
    spooled.message = envoi_types::Message::spooled(
        &b"From: a@src.test\r\nSubject: big\r\n\r\n"[..],
        SpooledBody::new(body.clone(), 18, false),
    );
    let mut whole = envelope("a@src.test", b"");
    whole.message = spooled.message.in_memory().unwrap();
    let from_spool = policy.apply(spooled).remove(0);
    let from_memory = policy.apply(whole).remove(0);
    assert_eq!(from_spool.message.spooled_body().unwrap().path(), body);
    let bh = |e: &Envelope| {
        let v = e.message.header("DKIM-Signature").unwrap();
        v.split(';')
            .find(|t| t.trim().starts_with("bh="))
            .unwrap()
            .trim()
            .to_owned()
    };
    assert_eq!(bh(&from_spool), bh(&from_memory));
}

#[test]
fn unusable_keys_are_refused_naming_the_file() {
    let spec = |algorithm| KeySpec {
        domain: "src.test".into(),
        selector: "s".into(),
        path: "/etc/envoi/s.pem".into(),
        algorithm,
    };
    let junk = LoadedKey::from_pem(&spec(Algorithm::Ed25519), b"not a key\n").unwrap_err();
    assert!(
        junk.to_string().contains("/etc/envoi/s.pem")
            && junk.to_string().contains("no private key"),
        "{junk}"
    );
    let rsa = generate(Algorithm::Rsa).unwrap().private_pem;
    let wrong = LoadedKey::from_pem(&spec(Algorithm::Ed25519), rsa.as_bytes()).unwrap_err();
    assert!(matches!(wrong, DkimError::Invalid { .. }));
    assert!(
        wrong.to_string().contains("not a valid ed25519 key"),
        "{wrong}"
    );
    assert!(LoadedKey::from_pem(&spec(Algorithm::Rsa), rsa.as_bytes()).is_ok());
    // Nor is an Ed25519 key an RSA key.
    let ed = generate(Algorithm::Ed25519).unwrap().private_pem;
    let wrong = LoadedKey::from_pem(&spec(Algorithm::Rsa), ed.as_bytes()).unwrap_err();
    assert!(wrong.to_string().contains("not a valid rsa key"), "{wrong}");
}

#[test]
fn an_rsa_key_in_pkcs1_pem_signs_like_its_pkcs8_form() {
    use rsa::pkcs1::EncodeRsaPrivateKey;
    use rsa::pkcs8::DecodePrivateKey;
    let pkcs8 = generate(Algorithm::Rsa).unwrap().private_pem;
    let pkcs1 = rsa::RsaPrivateKey::from_pkcs8_pem(&pkcs8)
        .unwrap()
        .to_pkcs1_pem(rsa::pkcs8::LineEnding::LF)
        .unwrap();
    assert!(pkcs1.starts_with("-----BEGIN RSA PRIVATE KEY-----"));
    let spec = KeySpec {
        domain: "src.test".into(),
        selector: "s".into(),
        path: "k.pem".into(),
        algorithm: Algorithm::Rsa,
    };
    let sign = |pem: &str| {
        let key = LoadedKey::from_pem(&spec, pem.as_bytes()).unwrap();
        let out = DkimSign::new(SignBy::From, [key])
            .apply(envelope("a@src.test", MESSAGE))
            .remove(0);
        // Everything but the t= timestamp; RSA PKCS#1 v1.5 signatures are deterministic, so
        // the same key over the same data gives the same b=.
        out.message.header("DKIM-Signature").unwrap()
    };
    let t = |value: &str| {
        value
            .split("t=")
            .nth(1)
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_owned()
    };
    // Two signatures made in the same second sign the same data (bounded: a second boundary
    // can fall between them only so often).
    let (a, b) = (0..5)
        .map(|_| (sign(&pkcs1), sign(&pkcs8)))
        .find(|(a, b)| t(a) == t(b))
        .unwrap();
    assert_eq!(a, b);
}

#[test]
fn keygen_records_carry_the_public_key_in_strings_of_at_most_255_octets() {
    let rsa = generate(Algorithm::Rsa).unwrap();
    let record = rsa.txt_record("example.org.", "s1");
    assert!(
        record.starts_with("s1._domainkey.example.org. IN TXT \"v=DKIM1; k=rsa; p=MIIB"),
        "{record}"
    );
    let strings: Vec<&str> = record.split('"').skip(1).step_by(2).collect();
    assert!(
        strings.len() >= 2 && strings.iter().all(|s| s.len() <= 255),
        "{record}"
    );
    assert_eq!(strings.concat(), rsa.record_value());
    let ed = generate(Algorithm::Ed25519).unwrap();
    // 32 raw bytes: 44 characters of base64 (RFC 8463 §4).
    assert_eq!(ed.public_base64.len(), 44);
}

#[test]
fn a_route_domain_signs_mail_whose_recipients_all_take_that_route() {
    let dir = tempfile::tempdir().unwrap();
    let policy = DkimSign::new(
        SignBy::From,
        [
            key(dir.path(), "src.test", "f", Algorithm::Ed25519),
            key(dir.path(), "esp.test", "r", Algorithm::Ed25519),
        ],
    )
    .route_domain("Partner.Test", "ESP.test");
    let to = |recipients: &[&str]| {
        let mut e = envelope("a@src.test", MESSAGE);
        e.recipients = recipients
            .iter()
            .map(|r| Address::parse(r).unwrap())
            .collect();
        signed_selectors(&policy.apply(e).remove(0))
    };
    assert_eq!(to(&["x@partner.test", "y@PARTNER.test"]), vec!["r"]);
    // Mixed routes: the From: domain signs, as without the route.
    assert_eq!(to(&["x@partner.test", "y@dst.test"]), vec!["f"]);
    assert_eq!(to(&["y@dst.test"]), vec!["f"]);
}

/// The envoi daemon enqueues on a multi-threaded runtime, and a current-thread one (tests,
/// embedders) must work too.
#[test]
fn signing_works_inside_either_tokio_runtime() {
    let dir = tempfile::tempdir().unwrap();
    let policy = std::sync::Arc::new(DkimSign::new(
        SignBy::From,
        [key(dir.path(), "src.test", "s", Algorithm::Rsa)],
    ));
    for multi in [true, false] {
        let runtime = if multi {
            tokio::runtime::Builder::new_multi_thread().build().unwrap()
        } else {
            tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap()
        };
        let policy = policy.clone();
        let out = runtime.block_on(async move {
            tokio::spawn(async move { policy.apply(envelope("a@src.test", MESSAGE)) })
                .await
                .unwrap()
        });
        assert_eq!(
            signed_selectors(&out[0]),
            vec!["s"],
            "multi-thread: {multi}"
        );
    }
}
