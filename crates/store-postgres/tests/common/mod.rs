//! A store in a schema of its own on the test server (`ENVOI_TEST_POSTGRES_URL`), dropped with
//! everything in it when the last handle goes.

#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)] // tests: a panic is a failed assertion

use std::sync::Arc;
use std::time::SystemTime;

use async_trait::async_trait;
use envoi_queue::storage::{
    AttemptCommit, Lease, ListQuery, MessageInfo, NewMessage, QuarantinedRecord, ScheduleEntry,
    StateCounts, StoredMessage,
};
use envoi_queue::{BodySink, SharedBackoff, Storage, StorageError, StoreHealth, Suspension};
use envoi_store_postgres::{PgOptions, PgStore};
use envoi_types::QueueId;

/// The test server's URL, or `None` (the caller skips and says so).
pub fn url() -> Option<String> {
    let url = std::env::var("ENVOI_TEST_POSTGRES_URL")
        .ok()
        .filter(|u| !u.is_empty());
    let Some(url) = url else {
        eprintln!("skipped: ENVOI_TEST_POSTGRES_URL is not set");
        return None;
    };
    // A local test server's certificate is self-signed: plain TCP unless the URL says otherwise.
    if url.contains("sslmode=") {
        return Some(url);
    }
    let joiner = if url.contains('?') { '&' } else { '?' };
    Some(format!("{url}{joiner}sslmode=disable"))
}

/// A fresh schema on the test server, dropped on drop.
pub struct Schema {
    url: String,
    /// Its name.
    pub name: String,
}

impl Schema {
    /// Creates a schema with a unique name.
    pub fn create(url: &str) -> Arc<Self> {
        let name = format!("envoi_test_{}", QueueId::new().to_string().to_lowercase());
        run_sql(url, &format!("CREATE SCHEMA {name}"));
        Arc::new(Self {
            url: url.to_owned(),
            name,
        })
    }

    /// Options for a node named `node` in this schema.
    pub fn options(&self, node: &str) -> PgOptions {
        let mut options = PgOptions::new(self.url.clone(), node);
        options.schema = Some(self.name.clone());
        options.pool_size = 4;
        options
    }

    /// Runs `sql` in this schema.
    pub fn sql(&self, sql: &str) {
        run_sql(
            &self.url,
            &format!("SET search_path = {}; {sql}", self.name),
        );
    }

    /// Runs `sql` in this schema and returns the first column of each row, as text.
    pub fn query(&self, sql: &str) -> Vec<Option<String>> {
        let url = self.url.clone();
        let sql = format!("SET search_path = {}; {sql}", self.name);
        on_own_thread(move || async move {
            let client = connect(&url).await;
            let messages = client.simple_query(&sql).await.unwrap();
            messages
                .into_iter()
                .filter_map(|m| match m {
                    tokio_postgres::SimpleQueryMessage::Row(row) => {
                        Some(row.get(0).map(str::to_owned))
                    }
                    _ => None,
                })
                .collect()
        })
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        run_sql(
            &self.url,
            &format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name),
        );
    }
}

async fn connect(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
}

/// Runs `work` on a thread and runtime of its own (callers may be inside a paused runtime).
fn on_own_thread<T, F, Fut>(work: F) -> T
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = T>,
    T: Send + 'static,
{
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(work())
    })
    .join()
    .unwrap()
}

fn run_sql(url: &str, sql: &str) {
    let (url, sql) = (url.to_owned(), sql.to_owned());
    on_own_thread(move || async move {
        connect(&url).await.batch_execute(&sql).await.unwrap();
    });
}

/// A one-recipient message due at `due`.
pub fn message_due(due: SystemTime) -> NewMessage {
    let envelope = envoi_types::Envelope::new(
        envoi_types::Sender::parse("s@src.test").unwrap(),
        vec![envoi_types::Address::parse("a@dst.test").unwrap()],
        envoi_types::Message::from(&b"Subject: t\r\n\r\nhi\r\n"[..]),
    );
    NewMessage::new(envelope, due)
}

/// A one-recipient message due now.
pub fn message() -> NewMessage {
    message_due(SystemTime::now())
}

/// An outcome that removes the message (every recipient done).
pub fn remove() -> AttemptCommit {
    AttemptCommit {
        bounces: Vec::new(),
        disposition: envoi_queue::storage::Disposition::Remove,
    }
}

/// A lease for `node` lasting five minutes.
pub fn lease(node: &str) -> Lease {
    Lease {
        owner: node.into(),
        until: SystemTime::now() + std::time::Duration::from_secs(300),
    }
}

/// Waits (at most `limit`) until `done` holds; true when it did.
pub async fn eventually(limit: std::time::Duration, done: impl Fn() -> bool) -> bool {
    let start = std::time::Instant::now();
    while start.elapsed() < limit {
        if done() {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    done()
}

/// A store in its own schema; the schema goes when the store does.
pub struct ScratchStore {
    /// The store.
    pub store: PgStore,
    /// Its schema.
    pub schema: Arc<Schema>,
}

/// A node named `node` on `schema`.
pub async fn node(schema: &Arc<Schema>, node: &str) -> ScratchStore {
    ScratchStore {
        store: PgStore::open(schema.options(node)).await.unwrap(),
        schema: schema.clone(),
    }
}

/// A single node in a fresh schema, or `None` without a test server.
pub async fn scratch() -> Option<Arc<dyn Storage>> {
    let url = url()?;
    let schema = Schema::create(&url);
    Some(Arc::new(node(&schema, "node-a").await))
}

#[async_trait]
impl Storage for ScratchStore {
    async fn write(&self, m: Vec<NewMessage>) -> Result<(), StorageError> {
        self.store.write(m).await
    }
    async fn open_body(&self, limit: usize) -> Result<Box<dyn BodySink>, StorageError> {
        self.store.open_body(limit).await
    }
    async fn load_schedule(&self) -> Result<Vec<ScheduleEntry>, StorageError> {
        self.store.load_schedule().await
    }
    async fn claim(&self, id: QueueId, l: &Lease) -> Result<Option<StoredMessage>, StorageError> {
        self.store.claim(id, l).await
    }
    async fn commit_attempt(&self, id: QueueId, c: AttemptCommit) -> Result<(), StorageError> {
        self.store.commit_attempt(id, c).await
    }
    async fn remove(&self, id: QueueId) -> Result<bool, StorageError> {
        self.store.remove(id).await
    }
    async fn set_held(&self, id: QueueId, held: bool) -> Result<(), StorageError> {
        self.store.set_held(id, held).await
    }
    async fn get(&self, id: QueueId) -> Result<Option<StoredMessage>, StorageError> {
        self.store.get(id).await
    }
    async fn info(&self, id: QueueId) -> Result<Option<MessageInfo>, StorageError> {
        self.store.info(id).await
    }
    async fn list(&self, q: &ListQuery) -> Result<Vec<MessageInfo>, StorageError> {
        self.store.list(q).await
    }
    async fn count_by_state(&self) -> Result<StateCounts, StorageError> {
        self.store.count_by_state().await
    }
    async fn quarantined(&self) -> Result<Vec<QuarantinedRecord>, StorageError> {
        self.store.quarantined().await
    }
    fn health(&self) -> StoreHealth {
        self.store.health()
    }
    async fn suspensions(&self) -> Result<Vec<Suspension>, StorageError> {
        self.store.suspensions().await
    }
    async fn suspend(&self, s: Suspension) -> Result<(), StorageError> {
        self.store.suspend(s).await
    }
    async fn resume(&self, destination: &str) -> Result<bool, StorageError> {
        self.store.resume(destination).await
    }
    fn is_shared(&self) -> bool {
        self.store.is_shared()
    }
    fn write_lease(&self) -> Option<std::time::Duration> {
        self.store.write_lease()
    }
    async fn due_notice(&self) -> SystemTime {
        self.store.due_notice().await
    }
    async fn poll_due(
        &self,
        now: SystemTime,
        limit: usize,
    ) -> Result<Vec<ScheduleEntry>, StorageError> {
        self.store.poll_due(now, limit).await
    }
    async fn share_backoff(&self, b: SharedBackoff) -> Result<(), StorageError> {
        self.store.share_backoff(b).await
    }
    async fn clear_backoff(&self, destination: Option<&str>) -> Result<(), StorageError> {
        self.store.clear_backoff(destination).await
    }
    async fn shared_backoffs(&self, now: SystemTime) -> Result<Vec<SharedBackoff>, StorageError> {
        self.store.shared_backoffs(now).await
    }
}
