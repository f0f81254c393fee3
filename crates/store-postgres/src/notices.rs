//! Notices of due work between nodes, without a `NOTIFY` in the hot path.
//!
//! Nodes find work by polling ([`envoi_queue::Storage::poll_due`], with back-off). To bring an
//! idle node in early, a node that rescheduled retries or released a message announces the
//! earliest due time: a task of its own sends at most one `NOTIFY` per
//! [`crate::PgOptions::notify_interval`], on a pooled session, never inside a data commit (a
//! `NOTIFY` in every commit would serialise all commits on the server's notification queue).
//! Each node `LISTEN`s on a connection of its own and hands the earliest time it heard to its
//! queue ([`envoi_queue::Storage::due_notice`]). A notice lost while the listener reconnects
//! costs at most one poll interval: polling alone is correct, notices only make it prompt.

use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, SystemTime};

use tokio::sync::{mpsc, Notify};
use tokio_postgres::AsyncMessage;

use crate::codec::time;
use crate::connect;
use crate::error::PgError;
use crate::options::PgOptions;
use crate::store::Inner;

/// Notices to send and notices heard.
#[derive(Debug, Default)]
pub(crate) struct Notices {
    /// The earliest due time (nanoseconds) to announce at the next send, if any.
    pending: Mutex<Option<i64>>,
    /// The earliest due time another node announced that the queue has not taken yet.
    heard: Mutex<Option<i64>>,
    arrived: Notify,
}

fn earliest(slot: &Mutex<Option<i64>>, nanos: i64) {
    let mut slot = slot.lock().unwrap_or_else(|p| p.into_inner());
    *slot = Some(slot.map_or(nanos, |known| known.min(nanos)));
}

fn take(slot: &Mutex<Option<i64>>) -> Option<i64> {
    slot.lock().unwrap_or_else(|p| p.into_inner()).take()
}

impl Notices {
    /// Work becomes due at `nanos`: other nodes hear of it at the next send.
    pub(crate) fn announce(&self, nanos: i64) {
        earliest(&self.pending, nanos);
    }

    /// Waits for another node's notice; returns the earliest due time heard.
    pub(crate) async fn next(&self) -> SystemTime {
        loop {
            let arrived = self.arrived.notified();
            if let Some(nanos) = take(&self.heard) {
                return time(nanos);
            }
            arrived.await;
        }
    }

    fn heard(&self, nanos: i64) {
        earliest(&self.heard, nanos);
        self.arrived.notify_one();
    }
}

/// The notification channel of the store's schema: nodes of other schemas do not hear it.
pub(crate) fn channel(options: &PgOptions) -> String {
    format!(
        "envoi_due:{}",
        options.schema.as_deref().unwrap_or("public")
    )
}

/// Starts the sender and the listener on `runtime`; both end when the store goes.
pub(crate) fn spawn(runtime: &tokio::runtime::Handle, inner: &Arc<Inner>) {
    runtime.spawn(send_loop(
        Arc::downgrade(inner),
        inner.options.notify_interval,
    ));
    runtime.spawn(listen_loop(Arc::downgrade(inner)));
}

/// Every interval: one `NOTIFY` with the earliest pending due time, if there is one.
async fn send_loop(weak: Weak<Inner>, interval: Duration) {
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let Some(inner) = weak.upgrade() else {
            return;
        };
        let Some(nanos) = take(&inner.notices.pending) else {
            continue;
        };
        if let Err(error) = send(&inner, nanos).await {
            tracing::debug!(%error, "cannot send a notice of due work; polling finds it");
            inner.notices.announce(nanos);
        }
    }
}

async fn send(inner: &Inner, nanos: i64) -> Result<(), PgError> {
    let session = inner.session().await?;
    let payload = format!("{nanos} {}", inner.options.node);
    session
        .execute(
            "SELECT pg_notify($1, $2)",
            &[&channel(&inner.options), &payload],
        )
        .await?;
    Ok(())
}

/// Listens until the store goes, reconnecting after a failure.
async fn listen_loop(weak: Weak<Inner>) {
    loop {
        let Some(inner) = weak.upgrade() else {
            return;
        };
        let retry = inner.options.heartbeat;
        let options = inner.options.clone();
        drop(inner);
        if let Err(error) = listen(&weak, &options).await {
            tracing::debug!(%error, "notice listener stopped; reconnecting");
        }
        tokio::time::sleep(retry).await;
    }
}

/// One listening connection: hands each other node's notice to [`Notices::heard`].
async fn listen(weak: &Weak<Inner>, options: &PgOptions) -> Result<(), PgError> {
    let (client, mut connection) = connect::config(options)?
        .connect(connect::tls(options)?)
        .await?;
    let (notices, mut received) = mpsc::unbounded_channel();
    let driver = tokio::spawn(async move {
        while let Some(message) = std::future::poll_fn(|cx| connection.poll_message(cx)).await {
            match message {
                Ok(AsyncMessage::Notification(n)) => {
                    let _ = notices.send(n.payload().to_owned());
                }
                Ok(_) => {}
                Err(_) => return,
            }
        }
    });
    let quoted = channel(options).replace('"', "\"\"");
    client
        .batch_execute(&format!("LISTEN \"{quoted}\""))
        .await?;
    while let Some(payload) = received.recv().await {
        let Some(inner) = weak.upgrade() else {
            break;
        };
        match payload.split_once(' ') {
            Some((_, node)) if node == inner.options.node => {}
            Some((nanos, _)) => match nanos.parse() {
                Ok(nanos) => inner.notices.heard(nanos),
                Err(_) => tracing::debug!(%payload, "notice of due work not understood"),
            },
            None => tracing::debug!(%payload, "notice of due work not understood"),
        }
    }
    driver.abort();
    Ok(())
}
