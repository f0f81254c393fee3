//! Request parsing shared by the handlers: ids from the path, filters from the query string,
//! each failure a 400 naming what was wrong.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use std::fmt;
use std::net::SocketAddr;

use axum::extract::connect_info::Connected;
use axum::extract::{ConnectInfo, FromRequestParts, Json, Query};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::serve::IncomingStream;
use envoi_types::QueueId;

use super::limit::LimitedListener;
use super::ApiError;

/// The queue id in a path segment.
pub(crate) fn id(text: &str) -> Result<QueueId, ApiError> {
    text.parse()
        .map_err(|e: envoi_types::ParseQueueIdError| ApiError::BadRequest(e.to_string()))
}

/// The query string as `T`, or a 400 naming the bad parameter.
pub(crate) fn query<T>(query: Result<Query<T>, QueryRejection>) -> Result<T, ApiError> {
    query
        .map(|Query(value)| value)
        .map_err(|rejection| ApiError::BadRequest(rejection.body_text()))
}

/// The JSON body as `T`, or a 400 naming the bad field (413 when the body is too large).
pub(crate) fn json<T>(body: Result<Json<T>, JsonRejection>) -> Result<T, ApiError> {
    body.map(|Json(value)| value).map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::TooLarge("the request body is larger than the admin API accepts".into())
        } else {
            ApiError::BadRequest(rejection.body_text())
        }
    })
}

/// The address of a connection to the admin API, as the server records it per connection.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PeerAddr(SocketAddr);

impl Connected<IncomingStream<'_, LimitedListener>> for PeerAddr {
    fn connect_info(stream: IncomingStream<'_, LimitedListener>) -> Self {
        Self(*stream.remote_addr())
    }
}

/// The API client's address, for the log line of an action ("who did it"); unknown when the
/// router is served without connection info.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ClientAddr(Option<SocketAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let info = parts.extensions.get::<ConnectInfo<PeerAddr>>();
        Ok(Self(info.map(|ConnectInfo(PeerAddr(addr))| *addr)))
    }
}

impl ClientAddr {
    /// The client's IP address, when known.
    pub(crate) fn ip(&self) -> Option<std::net::IpAddr> {
        self.0.map(|addr| addr.ip())
    }
}

impl fmt::Display for ClientAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(addr) => write!(f, "{addr}"),
            None => f.write_str("unknown"),
        }
    }
}
