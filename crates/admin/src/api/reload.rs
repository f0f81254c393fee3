//! `POST /v1/reload`: re-read the configuration file, as SIGHUP does, and say what changed.

use serde::{Deserialize, Serialize};

/// What a reload did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReloadReport {
    /// Why the new configuration was refused (the running one is kept), if it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refused: Option<String>,
    /// Changed keys now in effect (dotted paths such as `relay.smarthost`).
    pub applied: Vec<String>,
    /// Changed keys that take effect only at the next restart.
    pub needs_restart: Vec<String>,
}

/// Runs a reload for the admin API; the daemon gives one to the server.
pub trait Reloader: Send + Sync {
    /// Re-reads the configuration and replaces what can be replaced.
    fn reload(&self) -> ReloadReport;
}
