//! Every statement the store runs, in one place, and [`prepared`]: each is prepared once per
//! session.

use deadpool_postgres::GenericClient;
use tokio_postgres::Statement;

use crate::error::PgError;

/// `sql` prepared on `client`'s session, from the session's cache after the first time. Passing
/// the text instead would prepare it again at every call: one more round trip each.
pub(crate) async fn prepared<C: GenericClient>(
    client: &C,
    sql: &str,
) -> Result<Statement, PgError> {
    Ok(client.prepare_cached(sql).await?)
}

/// Message rows and their bodies from column arrays, in one statement (one round trip; on a
/// session outside a transaction, its own commit). Each message is leased by the writing node
/// from the start, so that its first attempt needs no claim by another node to be safe.
/// Bodies are written once, never updated, and deleted with their message.
pub(crate) const INSERT_MESSAGES: &str = "WITH messages AS (
        INSERT INTO envoi_message
            (id, arrival_ns, next_ns, attempts, held, sender, size, recipients, history,
             lease_owner, lease_until_ns)
        SELECT id, arrival_ns, next_ns, attempts, held, sender, size, recipients, history, $9, $10
          FROM unnest($1::bytea[], $2::bigint[], $3::bigint[], $4::integer[], $5::boolean[],
                      $6::text[], $7::bigint[], $8::bytea[], $11::bytea[])
               AS r (id, arrival_ns, next_ns, attempts, held, sender, size, recipients, history)
        RETURNING id)
    INSERT INTO envoi_body (id, envelope, dsn)
    SELECT * FROM unnest($1::bytea[], $12::bytea[], $13::bytea[])";

/// Every entry for the scheduler, without bodies.
pub(crate) const SCHEDULE: &str =
    "SELECT id, next_ns, arrival_ns, held FROM envoi_message ORDER BY next_ns, id";

/// Takes the lease on one message (free, ours, or lapsed: `$4` is now), bumps its fencing
/// counter, and returns it with its body in the same round trip. A held message is returned
/// unleased: it is not attempted, and the node that releases it must be able to take it.
pub(crate) const CLAIM: &str = "WITH claimed AS (
        UPDATE envoi_message
           SET lease_owner = CASE WHEN held THEN NULL ELSE $2::text END,
               lease_until_ns = CASE WHEN held THEN NULL ELSE $3::bigint END,
               fence = fence + 1
         WHERE id = $1
           AND (lease_owner IS NULL OR lease_owner = $2 OR lease_until_ns < $4
                OR lease_owner IN (SELECT name FROM envoi_node
                                    WHERE heartbeat < clock_timestamp() - $5::bigint * interval '1 millisecond'))
     RETURNING id, fence, attempts, next_ns, held, recipients, history)
    SELECT c.fence, c.attempts, c.next_ns, c.held, c.recipients, b.envelope, b.dsn, c.history
      FROM claimed c LEFT JOIN envoi_body b ON b.id = c.id";

/// A message this node holds leased (from its write, or a batch claim), read for an attempt
/// without a write: only while the lease still carries this node's name and the fencing
/// counter `$4` it took, lasts until `$3` (the attempt's own lease end), and the message is
/// not held. No other node can take it meanwhile, so no claim is needed; otherwise the caller
/// claims ([`CLAIM`]).
pub(crate) const READ_LEASED: &str =
    "SELECT m.attempts, m.next_ns, m.held, m.recipients, b.envelope,
           b.dsn, m.history
      FROM envoi_message m LEFT JOIN envoi_body b ON b.id = m.id
     WHERE m.id = $1 AND m.lease_owner = $2 AND m.fence = $4 AND m.lease_until_ns >= $3
       AND NOT m.held";

/// Due, unheld, unleased (or lapsed) messages, claimed in one batch. The CTE fixes the set
/// (`LIMIT` with `SKIP LOCKED` inside it) before the update: the planner cannot claim more
/// than the limit, and two nodes never wait on, or take, each other's rows. Each lease bumps
/// the fencing counter, as a single claim does, so the attempt reads its message under it
/// ([`READ_LEASED`]) without a second write.
pub(crate) const CLAIM_DUE: &str = "WITH due AS (
        SELECT id FROM envoi_message
         WHERE NOT held AND next_ns <= $1
           AND (lease_owner IS NULL OR lease_until_ns < $2
                OR lease_owner IN (SELECT name FROM envoi_node
                                    WHERE heartbeat < clock_timestamp() - $6::bigint * interval '1 millisecond'))
         ORDER BY next_ns, id
         LIMIT $3
           FOR UPDATE SKIP LOCKED)
    UPDATE envoi_message m
       SET lease_owner = $4, lease_until_ns = $5, fence = m.fence + 1
      FROM due WHERE m.id = due.id
    RETURNING m.id, m.next_ns, m.arrival_ns, m.held, m.fence";

/// Which of an outcome's conditions hold for row `m` and request `r`: this node's lease with
/// the counter its claim or write read (fencing); without a lease (an administrator's bounce
/// reads the message unclaimed), only while no other node holds it.
/// `$node` is the parameter naming this node.
macro_rules! under_lease {
    ($node:literal) => {
        concat!(
            "(m.lease_owner = ",
            $node,
            " AND m.fence = r.fence OR r.fence IS NULL AND (m.lease_owner IS NULL OR m.lease_owner = ",
            $node,
            "))"
        )
    };
}

/// Removes the messages of a batch of outcomes (`$1` ids, `$2` fences, `$3` this node), each
/// only under its lease; returns the ids removed.
pub(crate) const FINISH_MANY: &str = concat!(
    "DELETE FROM envoi_message m
      USING unnest($1::bytea[], $2::bigint[]) AS r (id, fence)
      WHERE m.id = r.id AND ",
    under_lease!("$3"),
    " RETURNING m.id"
);

/// Reschedules the messages of a batch of outcomes (`$1` ids, `$2` fences, `$3` next attempts,
/// `$4` attempts, `$5` recipient states, `$6` this node, `$7` histories) and releases their leases, each only
/// under its lease; returns the ids rescheduled.
pub(crate) const RESCHEDULE_MANY: &str = concat!(
    "UPDATE envoi_message m
        SET next_ns = r.next_ns, attempts = r.attempts, recipients = r.recipients,
            history = r.history, lease_owner = NULL, lease_until_ns = NULL
       FROM unnest($1::bytea[], $2::bigint[], $3::bigint[], $4::integer[], $5::bytea[],
                   $7::bytea[])
            AS r (id, fence, next_ns, attempts, recipients, history)
      WHERE m.id = r.id AND ",
    under_lease!("$6"),
    " RETURNING m.id"
);

/// Which of the ids `$1` are stored.
pub(crate) const STORED_OF: &str = "SELECT id FROM envoi_message WHERE id = ANY($1::bytea[])";

/// Admin delete (the body goes with it).
pub(crate) const DELETE: &str = "DELETE FROM envoi_message WHERE id = $1";

/// Hold or release.
pub(crate) const SET_HELD: &str = "UPDATE envoi_message SET held = $2 WHERE id = $1";

/// One message's row and body, unclaimed.
pub(crate) const GET: &str = "SELECT m.attempts, m.next_ns, m.held, m.recipients, b.envelope,
           b.dsn, m.history
      FROM envoi_message m LEFT JOIN envoi_body b ON b.id = m.id WHERE m.id = $1";

/// The admin columns of one message (no body).
pub(crate) const INFO: &str =
    "SELECT id, sender, recipients, attempts, next_ns, arrival_ns, held, size
      FROM envoi_message WHERE id = $1";

/// The admin columns listed.
macro_rules! list_columns {
    () => {
        "SELECT id, sender, recipients, attempts, next_ns, arrival_ns, held, size FROM envoi_message "
    };
}

/// A page of admin columns in id order after `$1`, at most `$2` rows.
pub(crate) const LIST_PAGE: &str = concat!(list_columns!(), "WHERE id > $1 ORDER BY id LIMIT $2");

/// A page of held messages, over their partial index (`envoi_message_held`).
pub(crate) const LIST_PAGE_HELD: &str = concat!(
    list_columns!(),
    "WHERE held AND id > $1 ORDER BY id LIMIT $2"
);

/// A page of deferred messages, over their partial index (`envoi_message_deferred`).
pub(crate) const LIST_PAGE_DEFERRED: &str = concat!(
    list_columns!(),
    "WHERE NOT held AND attempts > 0 AND id > $1 ORDER BY id LIMIT $2"
);

/// A page of active messages (most of a queue: the primary key's order, filtered).
pub(crate) const LIST_PAGE_ACTIVE: &str = concat!(
    list_columns!(),
    "WHERE NOT held AND attempts = 0 AND id > $1 ORDER BY id LIMIT $2"
);

/// Counts per admin state, from the 16 counter rows the triggers keep (never a count of the
/// queue itself).
pub(crate) const COUNTS: &str =
    "SELECT sum(active)::bigint, sum(deferred)::bigint, sum(held)::bigint FROM envoi_count";

/// Sets a record aside with its bytes and removes it from the queue.
pub(crate) const QUARANTINE: &str =
    "WITH gone AS (DELETE FROM envoi_message WHERE id = $1 RETURNING recipients)
    INSERT INTO envoi_quarantine (key, reason, row_bytes, body)
    SELECT $2, $3, gone.recipients, $4 FROM gone
    ON CONFLICT (key) DO NOTHING";

/// The records set aside.
pub(crate) const QUARANTINED: &str = "SELECT key, reason FROM envoi_quarantine ORDER BY key";

/// Every suspension.
pub(crate) const SUSPENSIONS: &str =
    "SELECT destination, until_nanos, reason FROM envoi_suspension ORDER BY destination";

/// Stores a suspension, replacing one of the same destination.
pub(crate) const SUSPEND: &str =
    "INSERT INTO envoi_suspension (destination, until_nanos, reason) VALUES ($1, $2, $3)
    ON CONFLICT (destination) DO UPDATE
    SET until_nanos = excluded.until_nanos, reason = excluded.reason";

/// Removes a suspension.
pub(crate) const RESUME: &str = "DELETE FROM envoi_suspension WHERE destination = $1";

/// Backs a destination off for every node; a back-off ending later is kept. Ended back-offs
/// of other destinations go in the same statement (there is one row per destination).
pub(crate) const SHARE_BACKOFF: &str = "WITH ended AS (
        DELETE FROM envoi_backoff WHERE until_ns < $5 AND destination <> $1)
    INSERT INTO envoi_backoff (destination, until_ns, failures, error) VALUES ($1, $2, $3, $4)
    ON CONFLICT (destination) DO UPDATE
    SET until_ns = excluded.until_ns, failures = excluded.failures, error = excluded.error
    WHERE envoi_backoff.until_ns < excluded.until_ns";

/// Ends one destination's shared back-off.
pub(crate) const CLEAR_BACKOFF: &str = "DELETE FROM envoi_backoff WHERE destination = $1";

/// Ends every shared back-off (a flush).
pub(crate) const CLEAR_BACKOFFS: &str = "DELETE FROM envoi_backoff";

/// The shared back-offs still running at `$1`.
pub(crate) const BACKOFFS: &str =
    "SELECT destination, until_ns, failures, error FROM envoi_backoff WHERE until_ns > $1";

/// This node's heartbeat.
pub(crate) const HEARTBEAT: &str =
    "INSERT INTO envoi_node (name, heartbeat) VALUES ($1, clock_timestamp())
    ON CONFLICT (name) DO UPDATE SET heartbeat = excluded.heartbeat";
