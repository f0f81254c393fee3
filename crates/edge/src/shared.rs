//! What every session of one server shares: its configuration and collaborators.
//!
//! Its own module so the server (which builds it) and the sessions (which read it) both depend
//! on it, and not on each other.

use std::sync::Arc;

use tokio_rustls::TlsAcceptor;

use crate::config::EdgeConfig;
use crate::credentials::Authenticator;
use crate::handoff::Handoff;
use crate::memory::MemoryBudget;
use crate::rdns::ReverseDns;
use crate::validate::Validator;

/// Configuration and collaborators shared by every session.
pub(crate) struct Shared {
    pub config: EdgeConfig,
    pub handoff: Arc<dyn Handoff>,
    pub validator: Arc<dyn Validator>,
    pub authenticator: Option<Arc<dyn Authenticator>>,
    pub tls: Option<TlsAcceptor>,
    /// Looks up each client's name at connect; `None`: every client is `unknown`.
    pub reverse_dns: Option<Arc<dyn ReverseDns>>,
    pub memory: MemoryBudget,
}
