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
    RETURNING m.id, m.next_ns, m.arrival_ns, m.held";

/// Reschedules after an attempt, only under the lease it was claimed with (fencing). Without
/// a claim (an administrator's bounce reads the message unclaimed), only while no other node
/// holds it.
pub(crate) const RESCHEDULE: &str = "UPDATE envoi_message
       SET next_ns = $2, attempts = $3, recipients = $4, history = $7, lease_owner = NULL,
           lease_until_ns = NULL
     WHERE id = $1 AND (lease_owner = $5 AND fence = $6
            OR $6::bigint IS NULL AND (lease_owner IS NULL OR lease_owner = $5))";

/// Removes after an attempt, under the same condition as [`RESCHEDULE`].
pub(crate) const FINISH: &str = "DELETE FROM envoi_message
     WHERE id = $1 AND (lease_owner = $2 AND fence = $3
            OR $3::bigint IS NULL AND (lease_owner IS NULL OR lease_owner = $2))";

/// Whether a message is stored at all.
pub(crate) const EXISTS: &str = "SELECT 1 FROM envoi_message WHERE id = $1";

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

/// A page of admin columns in id order after `$1`.
pub(crate) const LIST_PAGE: &str =
    "SELECT id, sender, recipients, attempts, next_ns, arrival_ns, held, size
      FROM envoi_message WHERE id > $1 ORDER BY id LIMIT $2";

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
