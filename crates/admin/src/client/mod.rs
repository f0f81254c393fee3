//! [`AdminClient`]: the daemon's admin API as async methods, one per endpoint.
//!
//! The CLI (`envoi queue ...`) builds one from the admin address and token, calls a method,
//! and prints the result with [`crate::render`] or as JSON. Every error is a
//! [`ClientError`] whose `Display` is fit to print.
//!
//! # Layout
//! - [`error`]: [`ClientError`], transport and HTTP failures in the operator's words.

pub mod error;

use std::time::Duration;

use reqwest::{Method, RequestBuilder, Url};
use serde::de::DeserializeOwned;

pub use error::ClientError;

use crate::api::{
    Action, ActionResult, BulkRequest, BulkResult, DestinationList, FlushResult, Health,
    InjectRequest, InjectResponse, MessageFilter, MessagePage, MessageView, QuarantineList,
    ReloadReport, ResumeResult, Shape, ShapeQuery, Summary, SuspendRequest, SuspensionView,
    MAX_PAGE_SIZE,
};

/// How long to wait for a connection to the daemon.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long to wait for a whole answer (a flush or summary of a large queue takes a while).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);

/// A client of one daemon's admin API.
#[derive(Debug, Clone)]
pub struct AdminClient {
    base_url: Url,
    token: Option<String>,
    http: reqwest::Client,
}

impl AdminClient {
    /// A client for the daemon at `base_url` (e.g. `http://127.0.0.1:8025`), sending `token`
    /// as a bearer token when given.
    ///
    /// # Errors
    /// [`ClientError::BadUrl`] when the URL cannot be parsed or is not `http://`.
    pub fn new(base_url: &str, token: Option<String>) -> Result<Self, ClientError> {
        let bad = |reason: String| ClientError::BadUrl {
            url: base_url.to_owned(),
            reason,
        };
        let url = Url::parse(base_url).map_err(|e| bad(e.to_string()))?;
        if url.scheme() != "http" || url.cannot_be_a_base() {
            return Err(bad("expected http://HOST:PORT".into()));
        }
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .build()
            .map_err(|e| bad(e.to_string()))?;
        Ok(Self {
            base_url: url,
            token,
            http,
        })
    }

    /// The daemon's base URL, without a trailing slash.
    pub fn base_url(&self) -> &str {
        self.base_url.as_str().trim_end_matches('/')
    }

    /// `GET /v1/summary`.
    ///
    /// # Errors
    /// See [`ClientError`].
    pub async fn summary(&self) -> Result<Summary, ClientError> {
        self.call(self.request(Method::GET, &["v1", "summary"])?)
            .await
    }

    /// `POST /v1/reload`: the daemon re-reads its configuration, as on SIGHUP.
    ///
    /// # Errors
    /// See [`ClientError`].
    pub async fn reload(&self) -> Result<ReloadReport, ClientError> {
        let request = self.request(Method::POST, &["v1", "reload"])?;
        self.call(request).await
    }

    /// `GET /v1/shape`: the queue by domain, last reply or sender, and by age.
    ///
    /// # Errors
    /// See [`ClientError`].
    pub async fn shape(&self, query: &ShapeQuery) -> Result<Shape, ClientError> {
        let request = self.request(Method::GET, &["v1", "shape"])?.query(query);
        self.call(request).await
    }

    /// `GET /v1/messages` with `filter` (and its paging cursor).
    ///
    /// # Errors
    /// See [`ClientError`].
    pub async fn list(&self, filter: &MessageFilter) -> Result<MessagePage, ClientError> {
        let request = self
            .request(Method::GET, &["v1", "messages"])?
            .query(filter);
        self.call(request).await
    }

    /// Every message matching `filter` from its `after` cursor on, following the pages, but no
    /// more than `max` messages; the answer's `next` is set when `max` cut the listing short.
    ///
    /// # Errors
    /// See [`ClientError`].
    pub async fn list_all(
        &self,
        filter: &MessageFilter,
        max: usize,
    ) -> Result<MessagePage, ClientError> {
        let mut filter = filter.clone();
        let mut all = MessagePage {
            messages: Vec::new(),
            next: None,
        };
        while all.messages.len() < max {
            filter.limit = Some((max - all.messages.len()).min(MAX_PAGE_SIZE));
            let page = self.list(&filter).await?;
            all.messages.extend(page.messages);
            all.next = page.next;
            match page.next {
                Some(next) if filter.after.is_none_or(|previous| next > previous) => {
                    filter.after = Some(next);
                }
                _ => break,
            }
        }
        Ok(all)
    }

    /// `GET /v1/messages/{id}`, with the header section when `headers` is true.
    ///
    /// # Errors
    /// [`ClientError::NotFound`] for an unknown id, [`ClientError::BadRequest`] for a malformed
    /// one; see [`ClientError`].
    pub async fn show(&self, id: &str, headers: bool) -> Result<MessageView, ClientError> {
        let mut request = self.request(Method::GET, &["v1", "messages", id])?;
        if headers {
            request = request.query(&[("headers", "true")]);
        }
        self.call(request).await
    }

    /// `GET /v1/messages/{id}/body`: the stored message's raw text.
    ///
    /// # Errors
    /// [`ClientError::NotFound`]; see [`ClientError`].
    pub async fn body(&self, id: &str) -> Result<Vec<u8>, ClientError> {
        let request = self.request(Method::GET, &["v1", "messages", id, "body"])?;
        let (url, response) = self.send(request).await?;
        let bytes = response
            .bytes()
            .await
            .map_err(|source| ClientError::Decode { url, source })?;
        Ok(bytes.to_vec())
    }

    /// `POST /v1/flush`: everything when `filter` selects nothing, else each match.
    ///
    /// # Errors
    /// See [`ClientError`].
    pub async fn flush(&self, filter: &MessageFilter) -> Result<FlushResult, ClientError> {
        let request = self.request(Method::POST, &["v1", "flush"])?.query(filter);
        self.call(request).await
    }

    /// `POST /v1/messages/{id}/retry`: due now.
    ///
    /// # Errors
    /// [`ClientError::NotFound`], [`ClientError::Conflict`] (held or being delivered).
    pub async fn retry(&self, id: &str) -> Result<ActionResult, ClientError> {
        self.act(id, Action::Retry).await
    }

    /// `POST /v1/messages/{id}/hold`.
    ///
    /// # Errors
    /// [`ClientError::NotFound`]; see [`ClientError`].
    pub async fn hold(&self, id: &str) -> Result<ActionResult, ClientError> {
        self.act(id, Action::Hold).await
    }

    /// `POST /v1/messages/{id}/release`.
    ///
    /// # Errors
    /// [`ClientError::NotFound`]; see [`ClientError`].
    pub async fn release(&self, id: &str) -> Result<ActionResult, ClientError> {
        self.act(id, Action::Release).await
    }

    /// `POST /v1/messages/{id}/bounce`: the sender gets a bounce now.
    ///
    /// # Errors
    /// [`ClientError::NotFound`], [`ClientError::Conflict`] (being delivered).
    pub async fn bounce(&self, id: &str) -> Result<ActionResult, ClientError> {
        self.act(id, Action::Bounce).await
    }

    /// `DELETE /v1/messages/{id}`: removed without a bounce.
    ///
    /// # Errors
    /// [`ClientError::NotFound`]; see [`ClientError`].
    pub async fn delete(&self, id: &str) -> Result<ActionResult, ClientError> {
        self.act(id, Action::Delete).await
    }

    /// Performs `action` on message `id` (the method behind [`AdminClient::hold`] and the rest).
    ///
    /// # Errors
    /// See [`ClientError`].
    pub async fn act(&self, id: &str, action: Action) -> Result<ActionResult, ClientError> {
        let request = match action {
            Action::Delete => self.request(Method::DELETE, &["v1", "messages", id])?,
            other => self.request(Method::POST, &["v1", "messages", id, other.name()])?,
        };
        self.call(request).await
    }

    /// `POST /v1/bulk/{action}`: `action` on the messages `request` selects.
    ///
    /// # Errors
    /// [`ClientError::BadRequest`] naming what is wrong with the selection; see
    /// [`ClientError`].
    pub async fn bulk(
        &self,
        action: Action,
        request: &BulkRequest,
    ) -> Result<BulkResult, ClientError> {
        let request = self
            .request(Method::POST, &["v1", "bulk", action.name()])?
            .json(request);
        self.call(request).await
    }

    /// `POST /v1/messages`: enqueues a message, answering its queue ids.
    ///
    /// # Errors
    /// [`ClientError::BadRequest`] naming a bad field; [`ClientError::Server`] with status 503
    /// and the SMTP reply when the queue refused it.
    pub async fn inject(&self, message: &InjectRequest) -> Result<InjectResponse, ClientError> {
        let request = self
            .request(Method::POST, &["v1", "messages"])?
            .json(message);
        self.call(request).await
    }

    /// `GET /v1/destinations`.
    ///
    /// # Errors
    /// See [`ClientError`].
    pub async fn destinations(&self) -> Result<DestinationList, ClientError> {
        self.call(self.request(Method::GET, &["v1", "destinations"])?)
            .await
    }

    /// `POST /v1/destinations/{name}/suspend`.
    ///
    /// # Errors
    /// [`ClientError::BadRequest`] for a name that is not a destination's; see [`ClientError`].
    pub async fn suspend(
        &self,
        name: &str,
        request: &SuspendRequest,
    ) -> Result<SuspensionView, ClientError> {
        let request = self
            .request(Method::POST, &["v1", "destinations", name, "suspend"])?
            .json(request);
        self.call(request).await
    }

    /// `POST /v1/destinations/{name}/resume`.
    ///
    /// # Errors
    /// See [`ClientError`].
    pub async fn resume(&self, name: &str) -> Result<ResumeResult, ClientError> {
        let request = self.request(Method::POST, &["v1", "destinations", name, "resume"])?;
        self.call(request).await
    }

    /// `GET /v1/quarantine`.
    ///
    /// # Errors
    /// See [`ClientError`].
    pub async fn quarantine(&self) -> Result<QuarantineList, ClientError> {
        self.call(self.request(Method::GET, &["v1", "quarantine"])?)
            .await
    }

    /// `GET /healthz`: `Ok` only when the daemon reports itself healthy.
    ///
    /// # Errors
    /// [`ClientError::Server`] with status 503 when it is not; see [`ClientError`].
    pub async fn health(&self) -> Result<Health, ClientError> {
        self.call(self.request(Method::GET, &["healthz"])?).await
    }

    /// `GET /metrics`: the Prometheus text.
    ///
    /// # Errors
    /// See [`ClientError`].
    pub async fn metrics(&self) -> Result<String, ClientError> {
        let request = self.request(Method::GET, &["metrics"])?;
        let (url, response) = self.send(request).await?;
        response
            .text()
            .await
            .map_err(|source| ClientError::Decode { url, source })
    }

    /// A request to the base URL plus `segments` (each percent-encoded), with the token.
    fn request(&self, method: Method, segments: &[&str]) -> Result<RequestBuilder, ClientError> {
        let mut url = self.base_url.clone();
        url.path_segments_mut()
            .map_err(|()| ClientError::BadUrl {
                url: self.base_url.to_string(),
                reason: "cannot hold a path".into(),
            })?
            .pop_if_empty()
            .extend(segments);
        let request = self.http.request(method, url);
        Ok(match &self.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        })
    }

    /// Sends the request and decodes a success answer as `T`.
    async fn call<T: DeserializeOwned>(&self, request: RequestBuilder) -> Result<T, ClientError> {
        let (url, response) = self.send(request).await?;
        response
            .json::<T>()
            .await
            .map_err(|source| ClientError::Decode { url, source })
    }

    /// Sends the request; a non-success status becomes its [`ClientError`].
    async fn send(
        &self,
        request: RequestBuilder,
    ) -> Result<(String, reqwest::Response), ClientError> {
        let (client, request) = request.build_split();
        let request = request.map_err(|e| ClientError::BadUrl {
            url: self.base_url().to_owned(),
            reason: e.to_string(),
        })?;
        let url = request.url().to_string();
        let response = client
            .execute(request)
            .await
            .map_err(|e| ClientError::from_transport(self.base_url(), &url, e))?;
        let status = response.status();
        if status.is_success() {
            return Ok((url, response));
        }
        let body = response.text().await.unwrap_or_default();
        Err(ClientError::from_answer(status, &body))
    }
}
