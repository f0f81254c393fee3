//! Per-recipient delivery status.

use serde::{Deserialize, Serialize};

use crate::{Address, Reply};

/// Where one recipient of a queued message stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RecipientState {
    /// Not delivered yet; will be attempted.
    Pending,
    /// Accepted by the next hop; never sent again.
    Delivered,
    /// Failed permanently; a bounce was (or, for the null sender, would have been) sent.
    Failed,
}

/// The delivery status of one recipient, with the last reply about it and who gave it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecipientStatus {
    /// The recipient.
    pub recipient: Address,
    /// Where it stands.
    pub state: RecipientState,
    /// The last reply received for this recipient, if it was attempted.
    pub last_reply: Option<Reply>,
    /// The host that gave [`RecipientStatus::last_reply`], when it came from the network.
    pub remote_host: Option<String>,
    /// The TLS policy the session that carried the last attempt ran under, when a session
    /// carried it. Not part of this struct's serde form: each store persists it in its own
    /// versioned encoding, so encodings of this struct written before it existed still read.
    #[serde(skip)]
    pub tls: Option<TlsReport>,
}

/// Which TLS policy governed a delivery session, by where it came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AppliedTls {
    /// The session ran in clear text (policy `none`, or opportunistic TLS the next hop did
    /// not offer or that broke).
    None,
    /// Opportunistic STARTTLS (RFC 7435): encrypted, certificate not required to verify.
    Opportunistic,
    /// TLS required by the configuration (`relay.tls`, `relay.tls_domains`, a route).
    Required,
    /// TLS required by the recipient domain's MTA-STS policy (RFC 8461, mode `enforce`).
    MtaSts,
    /// TLS required by the next hop's DANE TLSA records (RFC 7672).
    Dane,
}

impl AppliedTls {
    /// The policy's name as shown to administrators: `none`, `opportunistic`, `required`,
    /// `mta-sts`, `dane`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Opportunistic => "opportunistic",
            Self::Required => "required",
            Self::MtaSts => "mta-sts",
            Self::Dane => "dane",
        }
    }
}

/// How the session that carried a delivery was protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TlsReport {
    /// The policy the session ran under.
    pub policy: AppliedTls,
    /// True when the session was encrypted and the next hop's certificate verified (trusted
    /// roots and the host name), whatever the policy demanded.
    pub verified: bool,
}

impl std::fmt::Display for TlsReport {
    /// `mta-sts (verified)`, `opportunistic (unverified)`, `none`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.policy, self.verified) {
            (AppliedTls::None, _) => f.write_str("none"),
            (policy, true) => write!(f, "{} (verified)", policy.as_str()),
            (policy, false) => write!(f, "{} (unverified)", policy.as_str()),
        }
    }
}

impl RecipientStatus {
    /// A recipient not attempted yet.
    pub fn pending(recipient: Address) -> Self {
        Self {
            recipient,
            state: RecipientState::Pending,
            last_reply: None,
            remote_host: None,
            tls: None,
        }
    }

    /// True while the recipient still has to be attempted.
    pub fn is_pending(&self) -> bool {
        self.state == RecipientState::Pending
    }
}
