//! Suite rows about what the sender is told: DSN parameters honoured and kept, delay
//! warnings once per threshold across a restart, success reports only when asked, and the
//! attempt history capped.

use std::sync::Arc;
use std::time::Duration;

use envoi_types::{DsnRequest, Envelope, Notify, OriginalRecipient, RecipientDsn, Ret};

use super::relay::ScriptedRelay;
use super::suite::{envelope, fixed, run_for, start_queue};
use crate::bounce::Action;
use crate::clock::Clock;
use crate::queue::Queue;
use crate::storage::Storage;

const MINUTE: Duration = Duration::from_secs(60);

fn queue(
    store: &Arc<dyn Storage>,
    relay: &Arc<ScriptedRelay>,
    clock: Clock,
) -> crate::QueueBuilder {
    start_queue(store, relay, fixed(25 * MINUTE), clock)
        .delay_warnings(vec![60 * MINUTE, 120 * MINUTE])
        .history_limit(3)
}

fn with_notify(queue: &Queue, sender: &str, rcpt: &str, notify: Option<Notify>) -> Envelope {
    let mut env = envelope(queue, sender, &[rcpt]);
    let recipient = env.recipients[0].clone();
    env.dsn.add_recipient(RecipientDsn {
        recipient,
        notify,
        orcpt: None,
    });
    env
}

/// Row "delay warning": one per threshold (60 and 120 minutes; attempts every 25), listing
/// the pending recipient as `delayed`; none again for a threshold after a restart; the DSN
/// parameters survive in the store; the history keeps the last 3 attempts.
pub async fn delay_warnings_once_per_threshold_across_a_restart(store: Arc<dyn Storage>) {
    let relay = ScriptedRelay::new();
    relay.always("a@dst.test", "451 4.2.0 mailbox busy");
    let clock = Clock::new();
    let first = queue(&store, &relay, clock).start().await.unwrap();
    let mut env = envelope(&first, "s@src.test", &["a@dst.test"]);
    let recipient = env.recipients[0].clone();
    env.dsn = DsnRequest {
        ret: Some(Ret::Headers),
        envid: Some("ENV-1".into()),
        recipients: vec![RecipientDsn {
            recipient: recipient.clone(),
            notify: Some(Notify::parse("FAILURE,DELAY").unwrap()),
            orcpt: Some(OriginalRecipient::of(&recipient)),
        }],
    };
    let dsn = env.dsn.clone();
    let id = first.enqueue(env).await.unwrap()[0];
    // Attempts at 0, 25, 50, 75 minutes: the one at 75 has waited an hour.
    run_for(80 * MINUTE).await;
    let warnings = relay.bounces_to("s@src.test");
    assert_eq!(warnings.len(), 1, "one warning for the first threshold");
    let text = String::from_utf8_lossy(warnings[0].message.as_bytes()).into_owned();
    assert!(text.contains("Action: delayed\r\n"), "{text}");
    assert!(text.contains("Will-Retry-Until: "), "{text}");
    assert!(
        text.contains("Diagnostic-Code: smtp; 451 4.2.0 mailbox busy\r\n"),
        "{text}"
    );
    first.shutdown(Duration::from_secs(5)).await;

    // A restart: the attempt at 100 minutes warns of nothing new.
    let second = queue(&store, &relay, clock).start().await.unwrap();
    run_for(25 * MINUTE).await;
    assert_eq!(
        relay.bounces_to("s@src.test").len(),
        1,
        "warned twice for one threshold"
    );
    run_for(25 * MINUTE).await;
    assert_eq!(
        relay.bounces_to("s@src.test").len(),
        2,
        "exactly one more warning, at the 125-minute attempt (120-minute threshold)"
    );
    run_for(100 * MINUTE).await;
    assert_eq!(relay.bounces_to("s@src.test").len(), 2, "no third warning");
    second.shutdown(Duration::from_secs(5)).await;

    let stored = store.get(id).await.unwrap().expect("still queued");
    assert_eq!(stored.envelope.dsn, dsn, "DSN parameters lost by the store");
    let history = &stored.meta.history;
    assert_eq!(history.delay_warnings_sent, 2);
    assert_eq!(history.attempts.len(), 3, "history not capped at 3");
    let last = history.attempts.last().unwrap();
    assert_eq!(last.replies.len(), 1);
    assert_eq!(last.replies[0].recipient, recipient);
    assert_eq!(last.replies[0].reply.to_string(), "451 4.2.0 mailbox busy");
    assert_eq!(last.replies[0].remote_host.as_deref(), Some("mx.test"));
    let times: Vec<_> = history.attempts.iter().map(|a| a.at).collect();
    assert!(times.windows(2).all(|w| w[0] < w[1]), "oldest first");
}

/// Row "NOTIFY": `NEVER` gets neither a delay warning nor a bounce; the null sender gets no
/// warning; a success is reported only to a recipient that asked for it, as relayed when the
/// relay says the next hop will not report it.
pub async fn notify_decides_every_report(store: Arc<dyn Storage>) {
    let relay = ScriptedRelay::new();
    relay.always("late@dst.test", "451 4.2.0 busy");
    relay.then(
        "gone@dst.test",
        &["451 4.2.0 busy", "550 5.1.1 no such user"],
    );
    relay.set_success_action(Some(Action::Relayed));
    let q = queue(&store, &relay, Clock::new()).start().await.unwrap();
    let never = Some(Notify::NEVER);
    let success = Some(Notify::parse("SUCCESS").unwrap());
    q.enqueue(with_notify(&q, "never@src.test", "late@dst.test", never))
        .await
        .unwrap();
    q.enqueue(with_notify(&q, "never@src.test", "gone@dst.test", never))
        .await
        .unwrap();
    q.enqueue(with_notify(&q, "", "late@dst.test", None))
        .await
        .unwrap();
    q.enqueue(with_notify(&q, "asked@src.test", "ok@dst.test", success))
        .await
        .unwrap();
    q.enqueue(with_notify(&q, "quiet@src.test", "ok@dst.test", None))
        .await
        .unwrap();
    run_for(180 * MINUTE).await;
    assert!(
        relay.bounces_to("never@src.test").is_empty(),
        "NOTIFY=NEVER reported"
    );
    assert!(
        relay.bounces_to("quiet@src.test").is_empty(),
        "success reported unasked"
    );
    let reports = relay.bounces_to("asked@src.test");
    assert_eq!(reports.len(), 1);
    let text = String::from_utf8_lossy(reports[0].message.as_bytes()).into_owned();
    assert!(
        text.contains("Action: relayed\r\nStatus: 2.0.0\r\n"),
        "{text}"
    );
    assert!(
        text.contains("Content-Type: text/rfc822-headers\r\n"),
        "{text}"
    );
    let null_sender_reports = relay
        .calls()
        .into_iter()
        .filter(|c| c.envelope.sender.is_null())
        .filter(|c| {
            c.envelope
                .recipients
                .iter()
                .all(|r| r.domain() == "src.test")
        })
        .count();
    assert_eq!(null_sender_reports, 1, "only the success report was sent");
}
