//! Test harness: a real `Queue` over a `MemoryStore` and the scripted relay, the admin server
//! on 127.0.0.1:0, and an `AdminClient` pointed at it.
//!
//! Tests run on tokio's current-thread runtime: with the memory store an attempt's storage
//! commit and its return to the scheduler's index happen in one poll, so once a test sees an
//! attempt's outcome in storage the message is no longer in flight.

#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)] // tests: a panic is a failed assertion

use std::sync::Arc;
use std::time::Duration;

use envoi_admin::{AdminClient, AdminConfig, AdminState};
use envoi_queue::testkit::{FaultyStore, ScriptedRelay};
use envoi_queue::{MemoryStore, MessageInfo, Queue, Storage};
use envoi_types::QueueId;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// A running server over a running queue.
pub struct Harness {
    pub queue: Queue,
    pub store: Arc<MemoryStore>,
    pub relay: Arc<ScriptedRelay>,
    pub client: AdminClient,
    pub base: String,
    pub shutdown: CancellationToken,
    pub server: JoinHandle<std::io::Result<()>>,
}

/// Starts queue and server with this access configuration, no metrics.
pub async fn start(config: AdminConfig) -> Harness {
    start_with(config, |state| state).await
}

/// Starts queue and server; `adjust` may add the metrics handle.
pub async fn start_with(
    config: AdminConfig,
    adjust: impl FnOnce(AdminState) -> AdminState,
) -> Harness {
    let store = Arc::new(MemoryStore::new());
    start_over(store.clone(), store, config, adjust).await
}

/// Starts over a [`FaultyStore`] wrapping the harness's memory store.
pub async fn start_faulty(config: AdminConfig) -> (Harness, Arc<FaultyStore>) {
    let store = Arc::new(MemoryStore::new());
    let faulty = FaultyStore::new((*store).clone());
    let harness = start_over(store, faulty.clone(), config, |state| state).await;
    (harness, faulty)
}

/// Starts a queue over `queue_store`, which keeps its messages in `store`.
async fn start_over(
    store: Arc<MemoryStore>,
    queue_store: Arc<dyn Storage>,
    config: AdminConfig,
    adjust: impl FnOnce(AdminState) -> AdminState,
) -> Harness {
    let relay = ScriptedRelay::new();
    let queue = Queue::builder(queue_store, relay.clone())
        .node("mta.test")
        .start()
        .await
        .unwrap();
    let token = config.token.clone();
    let state = adjust(AdminState::new(queue.clone(), config).unwrap());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let shutdown = CancellationToken::new();
    let server = tokio::spawn(envoi_admin::serve(listener, state, shutdown.clone()));
    let client = AdminClient::new(&base, token).unwrap();
    Harness {
        queue,
        store,
        relay,
        client,
        base,
        shutdown,
        server,
    }
}

/// Starts with the loopback default: no token.
pub async fn open() -> Harness {
    start(AdminConfig::default()).await
}

/// Polls `condition` up to 1000 times, yielding 5 ms between tries; panics naming `what`.
pub async fn wait_for<F, Fut>(what: &str, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..1000 {
        if condition().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("gave up waiting for {what}");
}

impl Harness {
    /// The stored admin view of `id`.
    pub async fn info(&self, id: QueueId) -> Option<MessageInfo> {
        self.store.info(id).await.unwrap()
    }

    /// Injects a message through the API; returns its one id.
    pub async fn inject(&self, sender: &str, recipients: &[&str]) -> QueueId {
        let message = format!("Subject: test\r\nFrom: <{sender}>\r\n\r\nhello\r\n");
        let request = envoi_admin::api::InjectRequest::new(
            sender,
            recipients.iter().map(|r| (*r).to_owned()).collect(),
            message.as_bytes(),
        );
        let response = self.client.inject(&request).await.unwrap();
        assert_eq!(response.ids.len(), 1);
        response.ids[0]
    }

    /// Injects a message whose recipients all answer `451 4.4.1 busy`, and waits until its
    /// first attempt is recorded: it is then deferred, due again minutes later.
    pub async fn deferred(&self, sender: &str, recipients: &[&str]) -> QueueId {
        for r in recipients {
            self.relay.always(r, "451 4.4.1 busy");
        }
        let id = self.inject(sender, recipients).await;
        self.wait_attempts(id, 1).await;
        id
    }

    /// Waits until `id` has `n` failed attempts recorded.
    pub async fn wait_attempts(&self, id: QueueId, n: u32) {
        wait_for(&format!("{id} to reach {n} attempts"), || async move {
            self.info(id).await.is_some_and(|i| i.attempts == n)
        })
        .await;
    }

    /// Waits until the relay saw `n` calls that included `recipient`.
    pub async fn wait_calls(&self, recipient: &str, n: usize) {
        wait_for(&format!("{n} relay calls for {recipient}"), || async move {
            self.relay.calls_for(recipient).len() >= n
        })
        .await;
    }

    /// A raw request to `path` with an optional bearer token.
    pub fn raw(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
    ) -> reqwest::RequestBuilder {
        let request = reqwest::Client::new().request(method, format!("{}{path}", self.base));
        match token {
            Some(t) => request.bearer_auth(t),
            None => request,
        }
    }

    /// Stops the server and checks it ended cleanly.
    pub async fn stop(self) {
        self.shutdown.cancel();
        self.server.await.unwrap().unwrap();
        self.queue.shutdown(Duration::from_secs(5)).await;
    }
}
