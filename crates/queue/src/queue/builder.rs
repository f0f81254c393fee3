//! [`QueueBuilder`]: every setting of a [`Queue`] with its default, and the start that loads
//! the first page of the schedule, spawns the scheduler and the loader of the rest.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{Notify, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::fresh::Fresh;
use super::index::Index;
use super::poll::PollBounds;
use super::retry::RetryPolicy;
use super::uncommitted::Uncommitted;
use super::{lanes, limits, loader, scheduler, suspend, Queue, Reports, Shared};
use crate::backoff::{Backoff, Schedule, DEFAULT_LIFETIME};
use crate::bounce::{BounceFactory, DsnBounce};
use crate::clock::Clock;
use crate::destination::Destination;
use crate::health::FailedWrite;
use crate::policy::PrequeuePolicy;
use crate::relay::Relay;
use crate::settings::{DestinationLimits, QueueSettings};
use crate::storage::{Storage, StorageError};

/// Builds a [`Queue`]. Every setting has a default but the storage and the relay.
pub struct QueueBuilder {
    storage: Arc<dyn Storage>,
    relay: Arc<dyn Relay>,
    backoff: Arc<dyn Backoff>,
    bounces: Arc<dyn BounceFactory>,
    bounce_queue: Option<Queue>,
    policies: Vec<Box<dyn PrequeuePolicy>>,
    max_deliveries: usize,
    max_per_destination: usize,
    messages_per_second: Option<f64>,
    named_limits: BTreeMap<String, DestinationLimits>,
    destination_backoff: lanes::BackoffSteps,
    max_storage_ops: usize,
    lifetime: Duration,
    clock: Clock,
    node: String,
    lease: Duration,
    reports: Reports,
    poll: PollBounds,
}

impl QueueBuilder {
    /// A builder with every default, over `storage` and `relay`.
    pub(super) fn new(storage: Arc<dyn Storage>, relay: Arc<dyn Relay>) -> Self {
        let node = "localhost".to_owned();
        let settings = QueueSettings::default();
        Self {
            storage,
            relay,
            backoff: Arc::new(Schedule::rfc5321()),
            bounces: Arc::new(DsnBounce::new(node.clone())),
            bounce_queue: None,
            policies: Vec::new(),
            max_deliveries: settings.max_deliveries,
            max_per_destination: settings.max_per_destination,
            messages_per_second: settings.messages_per_second,
            named_limits: settings.destinations,
            destination_backoff: lanes::BackoffSteps {
                base: settings.destination_backoff,
                max: settings.destination_backoff_max,
            },
            max_storage_ops: settings.max_storage_ops,
            lifetime: DEFAULT_LIFETIME,
            clock: Clock::new(),
            node,
            lease: Duration::from_secs(15 * 60),
            reports: Reports {
                delay_warnings: settings.delay_warnings,
                history_limit: settings.history_limit,
            },
            poll: PollBounds::default(),
        }
    }

    /// The retry policy (default: [`Schedule::rfc5321`]).
    pub fn backoff(mut self, backoff: impl Backoff) -> Self {
        self.backoff = Arc::new(backoff);
        self
    }

    /// The retry policy, shared.
    pub fn backoff_arc(mut self, backoff: Arc<dyn Backoff>) -> Self {
        self.backoff = backoff;
        self
    }

    /// The bounce builder (default: [`DsnBounce`] reporting as the node name).
    pub fn bounce_factory(mut self, factory: impl BounceFactory) -> Self {
        self.bounces = Arc::new(factory);
        self
    }

    /// A separate queue for bounces (default: bounces go in this queue's storage, in the same
    /// commit that removes or reschedules the original).
    pub fn bounce_queue(mut self, queue: Queue) -> Self {
        self.bounce_queue = Some(queue);
        self
    }

    /// Adds a prequeue policy; policies run in the order added.
    pub fn policy(mut self, policy: impl PrequeuePolicy) -> Self {
        self.policies.push(Box::new(policy));
        self
    }

    /// Adds a boxed prequeue policy.
    pub fn policy_boxed(mut self, policy: Box<dyn PrequeuePolicy>) -> Self {
        self.policies.push(policy);
        self
    }

    /// The concurrency limits of `settings` (see [`QueueSettings`]); its `shutdown_grace` is
    /// for [`Queue::shutdown`].
    pub fn settings(self, settings: &QueueSettings) -> Self {
        self.max_deliveries(settings.max_deliveries)
            .max_per_destination(settings.max_per_destination)
            .messages_per_second(settings.messages_per_second)
            .all_destination_limits(settings.destinations.clone())
            .destination_backoff(
                settings.destination_backoff,
                settings.destination_backoff_max,
            )
            .max_storage_ops(settings.max_storage_ops)
            .delay_warnings(settings.delay_warnings.clone())
            .history_limit(settings.history_limit)
    }

    /// The delay-warning thresholds (default `["4h"]`; empty: none): see
    /// [`QueueSettings::delay_warnings`].
    pub fn delay_warnings(mut self, thresholds: Vec<Duration>) -> Self {
        self.reports.delay_warnings = thresholds;
        self
    }

    /// The attempts each message's history keeps (default 10).
    pub fn history_limit(mut self, limit: usize) -> Self {
        self.reports.history_limit = limit;
        self
    }

    /// At most this many attempts run at once (default: [`QueueSettings`]'s, 64).
    pub fn max_deliveries(mut self, n: usize) -> Self {
        self.max_deliveries = n.max(1);
        self
    }

    /// At most this many attempts run to one destination at once (default: [`QueueSettings`]'s,
    /// 20). A destination at its limit takes no delivery slot: its due messages wait in its
    /// lane while other destinations' messages start.
    pub fn max_per_destination(mut self, n: usize) -> Self {
        self.max_per_destination = n.max(1);
        self
    }

    /// Deliveries started per second to one destination at most (default: no limit; a rate
    /// that is not positive and finite is none). The rate is smooth (no burst); due messages
    /// over it wait in their lane, in due order.
    pub fn messages_per_second(mut self, rate: Option<f64>) -> Self {
        self.messages_per_second = rate;
        self
    }

    /// `destination`'s own limits (a domain or route name, as the relay names destinations),
    /// in place of the queue-wide ones field by field.
    pub fn destination_limits(mut self, destination: &str, limits: DestinationLimits) -> Self {
        self.named_limits.insert(destination.to_owned(), limits);
        self
    }

    /// Every named destination's own limits, replacing those given before.
    pub fn all_destination_limits(mut self, limits: BTreeMap<String, DestinationLimits>) -> Self {
        self.named_limits = limits;
        self
    }

    /// A destination that cannot be reached is backed off `base` after its first failure,
    /// doubling up to `max` (default: [`QueueSettings`]'s, 60 s and 30 min). Its messages
    /// wait without spending attempts; [`Queue::flush`] lifts it.
    pub fn destination_backoff(mut self, base: Duration, max: Duration) -> Self {
        self.destination_backoff = lanes::BackoffSteps { base, max };
        self
    }

    /// At most this many storage calls run at once (default: [`QueueSettings`]'s, 256).
    pub fn max_storage_ops(mut self, n: usize) -> Self {
        self.max_storage_ops = n.max(1);
        self
    }

    /// Maximum time in the queue (default [`DEFAULT_LIFETIME`], 5 days), for every backoff: a
    /// message fails with 4.4.7 once it is this old, and a retry that would fall later is not
    /// scheduled (its recipients fail "(Too many retries)"). Judged on the queue's clock.
    pub fn max_lifetime(mut self, lifetime: Duration) -> Self {
        self.lifetime = lifetime;
        self
    }

    /// The clock (default: wall-clock time). Tests pass one to continue a timeline across a
    /// restart under paused tokio time.
    pub fn clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// This node's name: the lease owner and the default Reporting-MTA.
    pub fn node(mut self, node: impl Into<String>) -> Self {
        self.node = node.into();
        self.bounces = Arc::new(DsnBounce::new(self.node.clone()));
        self
    }

    /// How often a shared store is polled for work other nodes made due: `min` after a poll
    /// that found some, doubling while polls find none up to `max` (default 250 ms and 5 s).
    /// Another node's notice of due work brings the next poll forward whatever the interval.
    pub fn shared_poll(mut self, min: Duration, max: Duration) -> Self {
        self.poll = PollBounds { min, max };
        self
    }

    /// Loads the first page of the stored schedule, starts the scheduler, and reads the rest
    /// of the schedule in the background (see [`Queue::is_loading`]): the queue takes mail
    /// and attempts what is due at once, whatever the size of the stored queue. Must be
    /// called in a tokio runtime.
    ///
    /// # Errors
    /// The storage error when the first page of the schedule cannot be read.
    pub async fn start(self) -> Result<Queue, StorageError> {
        let started = Instant::now();
        let first = loader::first_page(self.storage.as_ref()).await?;
        let stop_new = CancellationToken::new();
        let scheduler_stop = stop_new.child_token();
        let retry = RetryPolicy::new(self.backoff, self.lifetime);
        // The index keys held and waiting messages by their expiry: the policy's lifetime.
        let limits = limits::Limits::new(
            self.max_per_destination,
            self.messages_per_second,
            &self.named_limits,
        );
        let mut index = Index::new(retry.lifetime(), limits, self.destination_backoff);
        if !first.complete {
            index.begin_loading();
        }
        for entry in &first.entries {
            // Sorted into its destination's lane at its first claim.
            index.insert(entry, Destination::unsorted());
        }
        // Before the scheduler starts: nothing may start to a suspended destination.
        let suspended = suspend::load(self.storage.as_ref(), &mut index, self.clock.now()).await?;
        let shared = Arc::new(Shared {
            storage: self.storage,
            relay: self.relay,
            retry,
            bounces: self.bounces,
            bounce_queue: self.bounce_queue,
            policies: self.policies,
            clock: self.clock,
            node: self.node,
            lease: self.lease,
            reports: self.reports,
            index: parking_lot::Mutex::new(index),
            fresh: Mutex::new(Fresh::default()),
            uncommitted: Mutex::new(Uncommitted::default()),
            failed_write: Mutex::new(FailedWrite::default()),
            tallies: Mutex::new(super::Tallies::default()),
            bytes: super::bytes::QueueBytes::default(),
            held_changes: tokio::sync::Mutex::new(()),
            wake: Arc::new(Notify::new()),
            deliveries: Arc::new(Semaphore::new(self.max_deliveries)),
            storage_ops: Semaphore::new(self.max_storage_ops),
            stop_new: stop_new.clone(),
            _stop_scheduler: scheduler_stop.clone().drop_guard(),
            abort: CancellationToken::new(),
            attempts: TaskTracker::new(),
        });
        let queue = Queue { shared };
        tracing::info!(
            messages = first.entries.len(),
            loading = !first.complete,
            suspended,
            "queue started"
        );
        let wake = queue.shared.wake.clone();
        let scheduler = scheduler::run(
            Arc::downgrade(&queue.shared),
            scheduler_stop,
            wake,
            self.poll,
        );
        tokio::spawn(scheduler);
        let progress = loader::Progress {
            after: first.next_cursor(),
            loaded: first.entries.len(),
            started,
            complete: first.complete,
            first_unknown: loader::unknown_domains(&first.entries),
        };
        if first.complete {
            loader::finished(&queue.shared, &progress);
        } else {
            metrics::gauge!(crate::events::SCHEDULE_LOADING).set(1.0);
        }
        if !(first.complete && progress.first_unknown.is_empty()) {
            let shared = Arc::downgrade(&queue.shared);
            tokio::spawn(loader::run(shared, stop_new, progress));
        }
        Ok(queue)
    }
}
