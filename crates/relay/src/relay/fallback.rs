//! Which failure decides when no host of a next hop carried the transaction.
//!
//! A message fails for good only when every host tried refused it for good (a `5xx` greeting,
//! EHLO or AUTH): then that is the receiving side's answer. Any transient failure on any host
//! (a refused connection, a timeout, a `4xx` greeting) means another
//! attempt may find a host that works, so the outcome is transient. The order the hosts were
//! tried in (random among equal MX preferences) therefore never changes the outcome's class.

use crate::failure::Failure;

/// The failures of the hosts tried so far, by class.
#[derive(Debug, Default)]
pub(super) struct Refusals {
    /// The last transient failure and the host it came from.
    transient: Option<(Failure, Option<String>)>,
    /// The last permanent failure and the host it came from.
    permanent: Option<(Failure, Option<String>)>,
    /// Some host answered, or failed otherwise than by not connecting.
    reached: bool,
}

impl Refusals {
    /// Records one host's failure.
    pub fn record(&mut self, failure: Failure, remote: Option<String>) {
        self.reached |= !failure.is_unreachable();
        if failure.to_reply().is_permanent() {
            self.permanent = Some((failure, remote));
        } else {
            self.transient = Some((failure, remote));
        }
    }

    /// The failure every recipient of the group gets: the last transient one when there was
    /// any, else the last permanent one; `None` when no host was tried.
    pub fn decide(self) -> Option<(Failure, Option<String>)> {
        self.transient.or(self.permanent)
    }

    /// True when hosts were tried and none could be connected to: the destination is
    /// unreachable (the queue backs it off as a whole).
    pub fn unreachable(&self) -> bool {
        !self.reached && self.transient.is_some()
    }
}

#[cfg(test)]
mod tests {
    use std::io;

    use envoi_types::Reply;

    use super::*;

    fn peer(wire: &str) -> Failure {
        Failure::Peer(
            Reply::parse(format!("{wire}\r\n").as_bytes())
                .unwrap_or_else(|_| Reply::with_default_code(554, wire)),
        )
    }

    fn refused() -> Failure {
        Failure::Connect(io::Error::from(io::ErrorKind::ConnectionRefused))
    }

    fn decided(failures: Vec<Failure>) -> Option<String> {
        let mut refusals = Refusals::default();
        for failure in failures {
            refusals.record(failure, None);
        }
        refusals.decide().map(|(f, _)| f.to_reply().to_string())
    }

    #[test]
    fn permanent_only_when_every_host_refused_for_good() {
        assert_eq!(
            decided(vec![peer("554 5.7.1 a"), peer("550 5.7.1 b")]).as_deref(),
            Some("550 5.7.1 b")
        );
        assert_eq!(
            decided(vec![peer("554 5.7.1 a"), refused()]).as_deref(),
            Some("451 4.4.1 Connection to next hop failed")
        );
        assert_eq!(
            decided(vec![refused(), peer("554 5.7.1 a")]).as_deref(),
            Some("451 4.4.1 Connection to next hop failed")
        );
        assert_eq!(decided(vec![]), None);
    }

    #[test]
    fn unreachable_only_when_no_host_could_be_connected_to() {
        let mut refusals = Refusals::default();
        assert!(!refusals.unreachable(), "nothing tried");
        refusals.record(refused(), None);
        refusals.record(Failure::Timeout(crate::failure::Stage::Connect), None);
        assert!(refusals.unreachable());
        refusals.record(peer("421 4.3.2 busy"), None);
        assert!(!refusals.unreachable(), "a host answered");
    }
}
