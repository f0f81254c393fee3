//! [`PgStore`]: the pool, the node's fences, and the runtime the store's I/O runs on.
//!
//! The store's sessions live on a small runtime of its own. Each call hands its work to that
//! runtime from a blocking task: the connections' timers never depend on the caller's clock
//! (the queue's tests pause it), and a paused clock does not jump ahead while a statement is
//! on the wire (a blocking task holds automatic advance back).

use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};

use deadpool_postgres::{Object, Pool};

use crate::completer::Completer;
use crate::connect;
use crate::error::PgError;
use crate::fences::{self, Fences};
use crate::heartbeat;
use crate::migrate;
use crate::notices::{self, Notices};
use crate::options::PgOptions;
use crate::writer::Writer;

/// The PostgreSQL queue store. Cheap to clone: clones share the pool.
#[derive(Clone)]
pub struct PgStore {
    pub(crate) inner: Arc<Inner>,
    pub(crate) writer: Arc<Writer>,
    pub(crate) completer: Arc<Completer>,
    runtime: Arc<StoreRuntime>,
}

/// What every call needs.
pub(crate) struct Inner {
    pub(crate) pool: Pool,
    pub(crate) options: PgOptions,
    /// The leases this node holds from a claim or a write (counter 0): an outcome is refused
    /// if the row's counter has moved on (another node claimed it since).
    fences: Mutex<Fences>,
    /// Why the last heartbeat failed; `None` once one succeeds. The heartbeat is the store's
    /// probe, so [`envoi_queue::Storage::health`] answers without a round trip.
    unreachable: Mutex<Option<String>>,
    /// Notices of due work to send to the other nodes, and heard from them.
    pub(crate) notices: Notices,
}

impl Inner {
    /// A pooled session.
    pub(crate) async fn session(&self) -> Result<Object, PgError> {
        Ok(self.pool.get().await?)
    }

    pub(crate) fn fences(&self) -> MutexGuard<'_, Fences> {
        self.fences.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records the outcome of a heartbeat.
    pub(crate) fn set_unreachable(&self, reason: Option<String>) {
        *self.unreachable.lock().unwrap_or_else(|p| p.into_inner()) = reason;
    }

    /// Why the last heartbeat failed, if it did.
    pub(crate) fn unreachable(&self) -> Option<String> {
        self.unreachable
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// The store's runtime, shut down without waiting when the last clone goes (it may be dropped
/// inside another runtime, where waiting is not allowed).
struct StoreRuntime(Option<tokio::runtime::Runtime>);

impl Drop for StoreRuntime {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

impl PgStore {
    /// Connects, applies missing schema migrations (under an advisory lock, so nodes starting
    /// together are safe) and refuses a database newer than this binary.
    pub async fn open(options: PgOptions) -> Result<Self, PgError> {
        let built = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("envoi-pg")
            .enable_all()
            .build()
            .map_err(|e| PgError::Runtime(e.to_string()))?;
        // Owned by the guard at once: an error below drops it without waiting (the caller
        // may be async).
        let guard = StoreRuntime(Some(built));
        let runtime = guard
            .0
            .as_ref()
            .ok_or_else(|| PgError::Runtime("the store's runtime is gone".into()))?
            .handle()
            .clone();
        let pool = {
            let _context = runtime.enter();
            connect::pool(&options)?
        };
        let inner = Arc::new(Inner {
            pool,
            options,
            fences: Mutex::new(Fences::default()),
            unreachable: Mutex::new(None),
            notices: Notices::default(),
        });
        let writer = Arc::new(Writer::spawn(&runtime, Arc::downgrade(&inner)));
        let completer = Arc::new(Completer::spawn(&runtime, Arc::downgrade(&inner)));
        let store = Self {
            inner,
            writer,
            completer,
            runtime: Arc::new(guard),
        };
        store
            .run(|inner| async move {
                // The migration's session goes back to the pool before the beat takes one:
                // with `pool_size = 1` it is the only one.
                migrate::migrate(&mut inner.session().await?).await?;
                heartbeat::beat(&inner).await
            })
            .await?;
        heartbeat::spawn(&runtime, &store.inner);
        notices::spawn(&runtime, &store.inner);
        fences::spawn(&runtime, &store.inner, fences::PRUNE_PERIOD);
        Ok(store)
    }

    /// How many leases this node keeps track of: the messages it leased whose outcome is not
    /// committed yet, and lapsed leases of messages still stored.
    pub fn tracked_leases(&self) -> usize {
        self.inner.fences().len()
    }

    /// Forgets the lapsed leases of messages no longer stored (finished or deleted by another
    /// node); returns how many. The store does this by itself every minute.
    pub async fn prune_leases(&self) -> Result<usize, PgError> {
        self.run(|inner| async move { fences::prune(&inner).await })
            .await
    }

    /// This node's name, as its leases carry it.
    pub fn node(&self) -> &str {
        &self.inner.options.node
    }

    /// The value `setting` has in this node's sessions, as the server reports it
    /// (`current_setting`): lets an operator or a test check what envoi set on its sessions
    /// (`synchronous_commit`, `statement_timeout`, `idle_in_transaction_session_timeout`).
    pub async fn session_setting(&self, setting: &str) -> Result<String, PgError> {
        let setting = setting.to_owned();
        self.run(move |inner| async move {
            let session = inner.session().await?;
            let row = session
                .query_one("SELECT current_setting($1)", &[&setting])
                .await?;
            Ok(row.get(0))
        })
        .await
    }

    /// Runs `work` on the store's runtime and waits for it from a blocking task.
    pub(crate) async fn run<T, F, Fut>(&self, work: F) -> Result<T, PgError>
    where
        F: FnOnce(Arc<Inner>) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, PgError>> + Send,
        T: Send + 'static,
    {
        let handle = match &self.runtime.0 {
            Some(runtime) => runtime.handle().clone(),
            None => return Err(PgError::Runtime("the store is closed".into())),
        };
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || handle.block_on(work(inner)))
            .await
            .map_err(|e| PgError::Runtime(format!("store task failed: {e}")))?
    }
}
