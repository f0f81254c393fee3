//! Destinations: `GET /v1/destinations`, and suspending or resuming one with
//! `POST /v1/destinations/{name}/suspend` and `.../resume`.

use std::time::{Duration, SystemTime};

use envoi_queue::{DestinationStatus, Suspension};
use serde::{Deserialize, Serialize};

use super::time::{opt_duration, opt_rfc3339};

/// One destination (a route, smarthost or MX domain) as the queue sees it now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DestinationView {
    /// Its name.
    pub destination: String,
    /// Messages scheduled under it, waiting or in flight (held ones excluded).
    pub queued: u64,
    /// Attempts to it in flight.
    pub in_flight: u64,
    /// The arrival of its oldest queued message.
    #[serde(default, with = "opt_rfc3339", skip_serializing_if = "Option::is_none")]
    pub oldest_arrival: Option<SystemTime>,
    /// Consecutive attempts that could not connect.
    pub connection_failures: u32,
    /// The last such failure's reply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// Backed off until then after connection failures (a flush lifts it).
    #[serde(default, with = "opt_rfc3339", skip_serializing_if = "Option::is_none")]
    pub backed_off_until: Option<SystemTime>,
    /// Its suspension, when one is in force.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suspended: Option<SuspensionView>,
}

impl From<DestinationStatus> for DestinationView {
    fn from(status: DestinationStatus) -> Self {
        Self {
            destination: status.destination.as_str().to_owned(),
            queued: status.queued as u64,
            in_flight: status.in_flight as u64,
            oldest_arrival: status.oldest_arrival,
            connection_failures: status.connection_failures,
            last_error: status.last_error,
            backed_off_until: status.backed_off_until,
            suspended: status.suspension.map(SuspensionView::from),
        }
    }
}

/// A suspension: no delivery to the destination until `until` (or a resume).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SuspensionView {
    /// The destination.
    pub destination: String,
    /// When it ends by itself; absent: at a resume only.
    #[serde(default, with = "opt_rfc3339", skip_serializing_if = "Option::is_none")]
    pub until: Option<SystemTime>,
    /// Why.
    #[serde(default)]
    pub reason: String,
}

impl From<Suspension> for SuspensionView {
    fn from(s: Suspension) -> Self {
        Self {
            destination: s.destination,
            until: s.until,
            reason: s.reason,
        }
    }
}

/// `GET /v1/destinations`: every destination with mail, attempts, failures or a suspension,
/// by name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DestinationList {
    /// The destinations.
    pub destinations: Vec<DestinationView>,
}

/// The body of `POST /v1/destinations/{name}/suspend`: `{"for": "2h", "reason": "..."}`, both
/// optional (no `for`: until resumed).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SuspendRequest {
    /// How long (humantime text such as `2h`); absent: until resumed.
    #[serde(
        rename = "for",
        default,
        with = "opt_duration",
        skip_serializing_if = "Option::is_none"
    )]
    pub duration: Option<Duration>,
    /// Why, shown with the destination.
    #[serde(default)]
    pub reason: String,
}

/// The answer of `POST /v1/destinations/{name}/resume`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResumeResult {
    /// The destination.
    pub destination: String,
    /// False when it was not suspended.
    pub resumed: bool,
}
