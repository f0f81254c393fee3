//! Every statement the store runs, in one place (each is prepared once per session).

/// Message rows from column arrays, in one statement; leased by the writing node from the
/// start, so that its first attempt needs no claim by another node to be safe.
pub(crate) const INSERT_MESSAGES: &str = "INSERT INTO envoi_message
    (id, arrival_ns, next_ns, attempts, held, sender, size, recipients, history, lease_owner,
     lease_until_ns)
    SELECT id, arrival_ns, next_ns, attempts, held, sender, size, recipients, history, $9, $10
      FROM unnest($1::bytea[], $2::bigint[], $3::bigint[], $4::integer[], $5::boolean[],
                  $6::text[], $7::bigint[], $8::bytea[], $11::bytea[])
           AS r (id, arrival_ns, next_ns, attempts, held, sender, size, recipients, history)";

/// Bodies from column arrays: written once, never updated, deleted with their message.
pub(crate) const INSERT_BODIES: &str = "INSERT INTO envoi_body (id, envelope, dsn)
    SELECT * FROM unnest($1::bytea[], $2::bytea[], $3::bytea[])";

/// Every entry for the scheduler, without bodies.
pub(crate) const SCHEDULE: &str =
    "SELECT id, next_ns, arrival_ns, held, attempts FROM envoi_message ORDER BY next_ns, id";

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

/// A message this node wrote, read for its first attempt without a write: only while the
/// write's lease (fencing counter 0, never claimed since) lasts until `$3`, the attempt's own
/// lease end, and the message is not held. No other node can take it meanwhile, so no claim is
/// needed; otherwise the caller claims ([`CLAIM`]).
pub(crate) const READ_OWN: &str = "SELECT m.attempts, m.next_ns, m.held, m.recipients, b.envelope,
           b.dsn, m.history
      FROM envoi_message m LEFT JOIN envoi_body b ON b.id = m.id
     WHERE m.id = $1 AND m.lease_owner = $2 AND m.fence = 0 AND m.lease_until_ns >= $3
       AND NOT m.held";

/// Due, unheld, unleased (or lapsed) messages, claimed in one batch. The CTE fixes the set
/// (`LIMIT` with `SKIP LOCKED` inside it) before the update: the planner cannot claim more
/// than the limit, and two nodes never wait on, or take, each other's rows.
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
       SET lease_owner = $4, lease_until_ns = $5
      FROM due WHERE m.id = due.id
    RETURNING m.id, m.next_ns, m.arrival_ns, m.held, m.attempts";

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

/// This node's heartbeat.
pub(crate) const HEARTBEAT: &str =
    "INSERT INTO envoi_node (name, heartbeat) VALUES ($1, clock_timestamp())
    ON CONFLICT (name) DO UPDATE SET heartbeat = excluded.heartbeat";
