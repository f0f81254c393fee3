//! Parts that SIGHUP can replace while the daemon runs: the relay, the backoff policy and
//! the prequeue policies. Each is a handle around a swappable `Arc`; a std lock guards the
//! swap and is never held across an await.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use envoi_queue::{Backoff, Delivery, Destination, PrequeuePolicy, Relay, RelayError};
use envoi_types::{Address, Envelope};

/// A value that can be replaced at run time.
pub struct Swappable<T: ?Sized> {
    current: RwLock<Arc<T>>,
}

impl<T: ?Sized> Swappable<T> {
    /// Starts with `value`.
    pub fn new(value: Arc<T>) -> Arc<Self> {
        Arc::new(Self {
            current: RwLock::new(value),
        })
    }

    /// The current value.
    pub fn get(&self) -> Arc<T> {
        self.current
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Replaces the value; attempts already running keep the old one.
    pub fn set(&self, value: Arc<T>) {
        *self
            .current
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = value;
    }
}

/// A relay handle whose relay SIGHUP can replace.
pub struct SwappableRelay(pub Arc<Swappable<dyn Relay>>);

#[async_trait]
impl Relay for SwappableRelay {
    async fn attempt(&self, envelope: &Envelope, attempt: u32) -> Result<Delivery, RelayError> {
        let relay = self.0.get();
        relay.attempt(envelope, attempt).await
    }

    // Every method is forwarded: a default here would name destinations the relay does not.
    fn destination(&self, recipient: &Address) -> Destination {
        self.0.get().destination(recipient)
    }
}

/// A backoff handle whose policy SIGHUP can replace.
pub struct SwappableBackoff(pub Arc<Swappable<dyn Backoff>>);

impl Backoff for SwappableBackoff {
    fn delay(&self, envelope: &Envelope, attempts: u32) -> Option<Duration> {
        self.0.get().delay(envelope, attempts)
    }
}

/// The prequeue policies as one policy whose list SIGHUP can replace.
pub struct SwappablePolicies(pub Arc<Swappable<Vec<Box<dyn PrequeuePolicy>>>>);

impl PrequeuePolicy for SwappablePolicies {
    fn apply(&self, envelope: Envelope) -> Vec<Envelope> {
        envoi_queue::policy::apply_all(&self.0.get(), envelope)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Named;

    #[async_trait]
    impl Relay for Named {
        async fn attempt(&self, _: &Envelope, _: u32) -> Result<Delivery, RelayError> {
            Err(RelayError("unused".into()))
        }

        fn destination(&self, _: &Address) -> Destination {
            Destination::new("route-of-the-relay")
        }
    }

    #[test]
    fn the_swappable_relay_names_destinations_as_its_relay_does() {
        let relay: Arc<dyn Relay> = Arc::new(Named);
        let swappable = SwappableRelay(Swappable::new(relay));
        let recipient = Address::parse("a@example.org").unwrap();
        assert_eq!(
            swappable.destination(&recipient).as_str(),
            "route-of-the-relay"
        );
    }
}
