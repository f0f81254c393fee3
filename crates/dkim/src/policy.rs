//! [`DkimSign`]: the prequeue policy that adds DKIM-Signature headers.

use std::collections::HashMap;

use envoi_queue::PrequeuePolicy;
use envoi_types::{Envelope, Message, Sender};
use mail_auth::common::headers::HeaderWriter;
use mail_auth::dkim::{Canonicalization, DkimSigner};
use serde::{Deserialize, Serialize};

use crate::fields::{from_domain, headers_to_sign, signed_domains};
use crate::key::{LoadedKey, Signer};

/// Which domain signs a message.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SignBy {
    /// The domain of the `From:` header (what DMARC aligns with).
    #[default]
    From,
    /// The domain of the envelope sender (`MAIL FROM`); bounces (null sender) are not signed.
    Sender,
}

/// Signs each message with every key of its signing domain (several keys of one domain give
/// several signatures: dual signing while a key is rotated). relaxed/relaxed canonicalisation;
/// the header list is [`headers_to_sign`]. A message that already carries a signature for the
/// domain, or whose domain has no key, is stored unchanged.
///
/// The signing domain is a fixed one when every recipient is in a domain given one by
/// [`DkimSign::route_domain`], else the one [`SignBy`] names.
#[derive(Debug, Clone, Default)]
pub struct DkimSign {
    sign_by: SignBy,
    keys: HashMap<String, Vec<LoadedKey>>,
    route_domains: HashMap<String, String>,
}

impl DkimSign {
    /// A policy signing with `keys`, choosing the domain by `sign_by`.
    pub fn new(sign_by: SignBy, keys: impl IntoIterator<Item = LoadedKey>) -> Self {
        let mut by_domain: HashMap<String, Vec<LoadedKey>> = HashMap::new();
        for key in keys {
            by_domain.entry(key.domain.clone()).or_default().push(key);
        }
        Self {
            sign_by,
            keys: by_domain,
            route_domains: HashMap::new(),
        }
    }

    /// Signs mail whose recipients are all in `recipient_domain` as `signing_domain`, whatever
    /// its From: or sender (the route's fixed domain).
    #[must_use]
    pub fn route_domain(mut self, recipient_domain: &str, signing_domain: &str) -> Self {
        self.route_domains.insert(
            recipient_domain.to_ascii_lowercase(),
            signing_domain.to_ascii_lowercase(),
        );
        self
    }

    /// The domain that signs `envelope`, lower-cased.
    fn signing_domain(&self, envelope: &Envelope) -> Option<String> {
        if let Some(fixed) = self.route_signing_domain(envelope) {
            return Some(fixed.to_owned());
        }
        match &self.sign_by {
            SignBy::From => from_domain(&envelope.message),
            SignBy::Sender => match &envelope.sender {
                Sender::Address(address) => Some(address.domain_lowercase()),
                Sender::Null => None,
            },
        }
    }

    /// The fixed domain of the recipients' route, when they all share one.
    fn route_signing_domain(&self, envelope: &Envelope) -> Option<&str> {
        let mut domains = envelope
            .recipients
            .iter()
            .map(|r| self.route_domains.get(&r.domain_lowercase()));
        let first = domains.next()??;
        domains.all(|d| d == Some(first)).then_some(first.as_str())
    }

    /// `envelope` with its signatures, or unchanged when it is not to be signed.
    fn sign(&self, mut envelope: Envelope) -> Envelope {
        let Some(domain) = self.signing_domain(&envelope) else {
            return envelope;
        };
        let Some(keys) = self.keys.get(&domain) else {
            return envelope;
        };
        if signed_domains(&envelope.message).contains(&domain) {
            tracing::debug!(%domain, "already DKIM-signed for the domain; not signed again");
            return envelope;
        }
        let fields = off_the_async_workers(|| signature_fields(&envelope.message, keys, &domain));
        envelope.message = prepended(&envelope.message, &fields);
        envelope
    }
}

/// The DKIM-Signature fields of every key for `message`, one after the other; a key that fails
/// to sign is logged and left out.
fn signature_fields(message: &Message, keys: &[LoadedKey], domain: &str) -> Vec<u8> {
    // A spooled body is read back whole: the body hash covers every byte.
    let whole = match message.in_memory() {
        Ok(whole) => whole,
        Err(error) => {
            tracing::warn!(%error, %domain, "message not DKIM-signed: body unreadable");
            return Vec::new();
        }
    };
    let names = headers_to_sign(message);
    let mut fields = Vec::new();
    for key in keys {
        match signature_field(key, &names, whole.as_bytes()) {
            Ok(field) => fields.extend_from_slice(field.as_bytes()),
            Err(error) => tracing::warn!(
                %error, %domain, selector = %key.selector, "DKIM signature not added"
            ),
        }
    }
    fields
}

/// Runs `work` (RSA signing, reading a spooled body back) so that it does not hold up the
/// other tasks of a tokio worker: policies are called on the enqueue path, which is async.
fn off_the_async_workers<T>(work: impl FnOnce() -> T) -> T {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(work)
        }
        _ => work(),
    }
}

impl PrequeuePolicy for DkimSign {
    fn apply(&self, envelope: Envelope) -> Vec<Envelope> {
        vec![self.sign(envelope)]
    }
}

/// The whole `DKIM-Signature:` field, folded, CRLF-terminated, for `message` signed by `key`.
fn signature_field(key: &LoadedKey, names: &[String], message: &[u8]) -> Result<String, String> {
    let signature = match key.signer() {
        Signer::Rsa(rsa) => relaxed(DkimSigner::from_key(rsa), key, names).sign(message),
        Signer::Ed25519(ed) => relaxed(DkimSigner::from_key(ed), key, names).sign(message),
    };
    signature.map(|s| s.to_header()).map_err(|e| e.to_string())
}

fn relaxed<T: mail_auth::common::crypto::SigningKey>(
    signer: DkimSigner<T, mail_auth::dkim::NeedDomain>,
    key: &LoadedKey,
    names: &[String],
) -> DkimSigner<T, mail_auth::dkim::Done> {
    signer
        .domain(key.domain.clone())
        .selector(key.selector.clone())
        .headers(names.iter().cloned())
        .header_canonicalization(Canonicalization::Relaxed)
        .body_canonicalization(Canonicalization::Relaxed)
}

/// `message` with `fields` (whole header lines) placed before its first header.
fn prepended(message: &Message, fields: &[u8]) -> Message {
    if fields.is_empty() {
        return message.clone();
    }
    let mut head = Vec::with_capacity(fields.len() + message.resident_len());
    head.extend_from_slice(fields);
    head.extend_from_slice(message.as_bytes());
    match message.spooled_body() {
        Some(rest) => Message::spooled(head, rest.clone()),
        None => Message::new(head),
    }
}
