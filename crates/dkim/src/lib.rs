//! DKIM signing for envoi (RFC 6376, with Ed25519 from RFC 8463), as a prequeue policy.
//!
//! A message is signed once, when it is enqueued: the signature is part of the stored message,
//! so every copy and every retry carries the same one. The cryptography is `mail-auth`'s (with
//! `ring`); this crate chooses the keys, the signing domain and the header list.
//!
//! This lives in its own crate, not in `envoi-queue`'s policies, because `mail-auth` brings a
//! resolver, a MIME parser and RSA key generation that the queue engine has no use for.
//!
//! # Layout
//! - [`key`]: a configured key (domain, selector, algorithm, PEM) checked and ready to sign.
//! - [`fields`]: what the policy reads in the header section: the From: domain, existing
//!   signatures, which headers to sign.
//! - [`policy`]: [`DkimSign`], the prequeue policy.
//! - [`keygen`]: new key pairs and the DNS TXT record to publish.
//!
//! Like the other libraries it reads and writes no files: the binary hands it the PEM text.

pub mod fields;
pub mod key;
pub mod keygen;
pub mod policy;

pub use key::{Algorithm, KeySpec, LoadedKey};
pub use keygen::{generate, GeneratedKey};
pub use policy::{DkimSign, SignBy};

use std::path::PathBuf;

/// Why a key cannot be used or generated.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DkimError {
    /// The file holds no private key of the configured algorithm.
    #[error("DKIM key {path}: {reason}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// Key generation or encoding failed.
    #[error("cannot generate a DKIM key: {0}")]
    Generate(String),
}
