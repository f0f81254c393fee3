//! Turning a relay's answer into per-recipient states: pure functions, no I/O.

use envoi_types::{EnhancedCode, RecipientState, RecipientStatus, Reply};

use crate::bounce::{Action, Failure};
use crate::events::Fate;
use crate::relay::{Delivery, Outcome, RelayError, ReplyOrigin, Timings};
use crate::storage::AttemptReply;

/// The reply for a relay that failed or panicked: transient, as the contract promises.
pub(crate) fn relay_failure_reply(detail: &str) -> Reply {
    Reply::new(
        450,
        EnhancedCode::new(4, 0, 0),
        &format!("Delivery attempt failed: {detail}"),
    )
}

/// Every recipient's new status after one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Verdict {
    /// Every recipient of the message, updated.
    pub recipients: Vec<RecipientStatus>,
    /// The recipients attempted (indices into `recipients`) and what became of each.
    pub fates: Vec<(usize, Fate)>,
    /// The recipients (indices) whose reply envoi made itself rather than a remote host:
    /// relay failures, expiry, retries given up.
    local: Vec<usize>,
    /// The recipients (indices) delivered in this attempt for which the relay says a report
    /// on success is owed ([`Outcome::success_action`]).
    successes: Vec<(usize, Action)>,
    /// The recipients (indices) whose outcome said where the relay's time went.
    timings: Vec<(usize, Timings)>,
}

impl Verdict {
    /// Applies the relay's answer to the `attempted` recipients (indices, in the order the
    /// relay saw them).
    pub fn judge(
        statuses: &[RecipientStatus],
        attempted: &[usize],
        answer: Result<Delivery, RelayError>,
    ) -> Self {
        let outcomes = outcomes_for(attempted.len(), answer);
        let mut recipients = statuses.to_vec();
        let mut fates = Vec::with_capacity(attempted.len());
        let mut local = Vec::new();
        let mut successes = Vec::new();
        let mut timings = Vec::new();
        for (&index, outcome) in attempted.iter().zip(outcomes) {
            let Some(status) = recipients.get_mut(index) else {
                continue;
            };
            let fate = if outcome.reply.is_success() {
                status.state = RecipientState::Delivered;
                if let Some(action) = outcome.success_action {
                    successes.push((index, action));
                }
                Fate::Delivered
            } else if outcome.reply.is_permanent() {
                status.state = RecipientState::Failed;
                Fate::Bounced
            } else {
                Fate::Deferred
            };
            if let Some(spent) = outcome.timings {
                timings.push((index, spent));
            }
            status.last_reply = Some(outcome.reply);
            status.remote_host = outcome.remote_host;
            status.tls = outcome.tls;
            if outcome.origin == ReplyOrigin::Local {
                local.push(index);
            }
            fates.push((index, fate));
        }
        Self {
            recipients,
            fates,
            local,
            successes,
            timings,
        }
    }

    /// Fails every recipient this attempt deferred, their reply marked with `suffix`. The
    /// failure is envoi's decision, whoever said the reply.
    pub fn give_up(&mut self, suffix: &str) {
        for (index, fate) in &mut self.fates {
            if *fate != Fate::Deferred {
                continue;
            }
            if let Some(status) = self.recipients.get_mut(*index) {
                status.state = RecipientState::Failed;
                status.last_reply = status.last_reply.as_ref().map(|r| r.with_suffix(suffix));
                *fate = Fate::Bounced;
                if !self.local.contains(index) {
                    self.local.push(*index);
                }
            }
        }
    }

    /// Fails every pending recipient with `reply` (expiry, administrative bounce): envoi's
    /// reply, about no remote host (the one of an earlier attempt said something else).
    pub fn fail_pending(statuses: &[RecipientStatus], reply: &Reply) -> Self {
        let mut recipients = statuses.to_vec();
        let mut fates = Vec::new();
        for (index, status) in recipients.iter_mut().enumerate() {
            if status.is_pending() {
                status.state = RecipientState::Failed;
                status.last_reply = Some(reply.clone());
                status.remote_host = None;
                status.tls = None;
                fates.push((index, Fate::Bounced));
            }
        }
        let local = fates.iter().map(|(index, _)| *index).collect();
        Self {
            recipients,
            fates,
            local,
            successes: Vec::new(),
            timings: Vec::new(),
        }
    }

    /// Puts the recipients failed in this attempt back to pending (their bounce could not be
    /// stored; they will be attempted, and fail, again).
    pub fn revert_failures(&mut self) {
        for (index, fate) in &mut self.fates {
            if *fate == Fate::Bounced {
                if let Some(status) = self.recipients.get_mut(*index) {
                    status.state = RecipientState::Pending;
                }
                *fate = Fate::Deferred;
            }
        }
    }

    /// True when some attempted recipient was deferred.
    pub fn has_deferred(&self) -> bool {
        self.fates.iter().any(|(_, fate)| *fate == Fate::Deferred)
    }

    /// True when some recipient (attempted now or not) is still pending.
    pub fn has_pending(&self) -> bool {
        self.recipients.iter().any(RecipientStatus::is_pending)
    }

    /// The recipients that failed in this attempt, with their replies.
    pub fn failures(&self) -> Vec<Failure> {
        self.fates
            .iter()
            .filter(|(_, fate)| *fate == Fate::Bounced)
            .filter_map(|(index, _)| Some((*index, self.recipients.get(*index)?)))
            .map(|(index, status)| Failure {
                recipient: status.recipient.clone(),
                action: Action::Failed,
                reply: status
                    .last_reply
                    .clone()
                    .unwrap_or_else(|| Reply::with_default_code(550, "")),
                remote_host: status.remote_host.clone(),
                origin: if self.local.contains(&index) {
                    ReplyOrigin::Local
                } else {
                    ReplyOrigin::Remote
                },
            })
            .collect()
    }
}

impl Verdict {
    /// The recipients delivered in this attempt that are owed a report on success, with
    /// the next hop's reply.
    pub fn successes(&self) -> Vec<Failure> {
        self.successes
            .iter()
            .filter_map(|&(index, action)| {
                let status = self.recipients.get(index)?;
                Some(Failure {
                    recipient: status.recipient.clone(),
                    action,
                    reply: status.last_reply.clone()?,
                    remote_host: status.remote_host.clone(),
                    origin: ReplyOrigin::Remote,
                })
            })
            .collect()
    }

    /// Where the relay's time went for recipient `index`, when its outcome said.
    pub fn timings(&self, index: usize) -> Option<Timings> {
        self.timings
            .iter()
            .find(|(i, _)| *i == index)
            .map(|(_, spent)| *spent)
    }

    /// The recipients still pending, as a delay warning lists them: the last reply each got
    /// (or, never attempted, `reply`).
    pub fn delayed(&self, reply: &Reply) -> Vec<Failure> {
        self.recipients
            .iter()
            .enumerate()
            .filter(|(_, status)| status.is_pending())
            .map(|(index, status)| Failure {
                recipient: status.recipient.clone(),
                action: Action::Delayed,
                reply: status.last_reply.clone().unwrap_or_else(|| reply.clone()),
                remote_host: status.remote_host.clone(),
                origin: if self.local.contains(&index) || status.remote_host.is_none() {
                    ReplyOrigin::Local
                } else {
                    ReplyOrigin::Remote
                },
            })
            .collect()
    }

    /// What this attempt did to each recipient it attempted, for the message's history.
    pub fn attempt_replies(&self) -> Vec<AttemptReply> {
        self.fates
            .iter()
            .filter_map(|(index, _)| self.recipients.get(*index))
            .filter_map(|status| {
                Some(AttemptReply {
                    recipient: status.recipient.clone(),
                    reply: status.last_reply.clone()?,
                    remote_host: status.remote_host.clone(),
                })
            })
            .collect()
    }
}

/// One outcome per attempted recipient, whatever the relay returned.
fn outcomes_for(count: usize, answer: Result<Delivery, RelayError>) -> Vec<Outcome> {
    match answer {
        Ok(Delivery::Whole(outcome)) => vec![outcome; count],
        Ok(Delivery::PerRecipient(outcomes)) if outcomes.len() == count => outcomes,
        Ok(Delivery::PerRecipient(outcomes)) => {
            let detail = format!(
                "relay gave {} replies for {count} recipients",
                outcomes.len()
            );
            vec![Outcome::new(relay_failure_reply(&detail), None); count]
        }
        Err(error) => vec![Outcome::new(relay_failure_reply(&error.0), None); count],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use envoi_types::Address;

    fn statuses(n: usize) -> Vec<RecipientStatus> {
        (0..n)
            .map(|i| RecipientStatus::pending(Address::parse(&format!("r{i}@x.org")).unwrap()))
            .collect()
    }

    fn out(code: u16) -> Outcome {
        Outcome::new(Reply::with_default_code(code, "t"), Some("mx.x.org".into()))
    }

    #[test]
    fn per_recipient_outcomes_count_on_their_own() {
        let v = Verdict::judge(
            &statuses(3),
            &[0, 1, 2],
            Ok(Delivery::PerRecipient(vec![out(250), out(450), out(550)])),
        );
        let states: Vec<_> = v.recipients.iter().map(|r| r.state).collect();
        assert_eq!(
            states,
            vec![
                RecipientState::Delivered,
                RecipientState::Pending,
                RecipientState::Failed
            ]
        );
        assert!(v.has_deferred());
        assert_eq!(v.failures().len(), 1);
        assert_eq!(v.failures()[0].recipient.as_str(), "r2@x.org");
    }

    #[test]
    fn wrong_reply_count_and_errors_are_transient() {
        let v = Verdict::judge(
            &statuses(2),
            &[0, 1],
            Ok(Delivery::PerRecipient(vec![out(250)])),
        );
        assert!(v.recipients.iter().all(|r| r.is_pending()));
        let v = Verdict::judge(&statuses(1), &[0], Err(RelayError("boom".into())));
        let reply = v.recipients[0].last_reply.clone().unwrap();
        assert_eq!(
            (reply.code, reply.enhanced.to_string()),
            (450, "4.0.0".into())
        );
    }

    #[test]
    fn give_up_marks_deferred_as_failed_with_suffix() {
        let mut v = Verdict::judge(&statuses(1), &[0], Ok(Delivery::Whole(out(451))));
        v.give_up(" (Too many retries)");
        assert!(!v.has_pending());
        assert!(v.failures()[0].reply.text().ends_with("(Too many retries)"));
    }
}
