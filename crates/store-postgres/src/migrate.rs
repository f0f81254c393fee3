//! Versioned schema migrations, applied at start under an advisory lock.
//!
//! Each migration runs in its own transaction with the version row it sets, so a crash leaves
//! the schema at a whole version. The advisory lock (keyed by the schema's name) makes nodes
//! that start together apply each migration once: the others wait, then find nothing to do.
//! A database whose version is newer than [`MIGRATIONS`] knows is refused: this binary would
//! not know what the newer columns mean.

use deadpool_postgres::Object;

use crate::error::PgError;

/// The schema, version by version (version = index + 1). Never edit a released entry: add one.
pub const MIGRATIONS: &[&str] = &[V1, V2, V3, V4, V5, V6, V7];

/// Version 1: message rows (small, updated), bodies (written once), quarantine, nodes.
///
/// The message table is updated on every attempt, hold and lease: its fillfactor leaves room
/// for HOT updates and its autovacuum runs on a small share of dead rows, so a busy queue
/// stays small. Bodies are inserted once and deleted once: they are never rewritten.
const V1: &str = r#"
CREATE TABLE envoi_message (
    id          bytea   PRIMARY KEY,
    arrival_ns  bigint  NOT NULL,
    next_ns     bigint  NOT NULL,
    attempts    integer NOT NULL,
    held        boolean NOT NULL,
    sender      text    NOT NULL,
    size        bigint  NOT NULL,
    recipients  bytea   NOT NULL,
    lease_owner text,
    lease_until_ns bigint,
    fence       bigint  NOT NULL DEFAULT 0
) WITH (fillfactor = 70,
        autovacuum_vacuum_scale_factor = 0.01,
        autovacuum_vacuum_threshold = 200,
        autovacuum_vacuum_cost_delay = 0,
        autovacuum_analyze_scale_factor = 0.02);

-- Claimable rows only: held messages never enter it, so a large hold does not slow claims.
CREATE INDEX envoi_message_due ON envoi_message (next_ns, id)
    INCLUDE (lease_owner, lease_until_ns) WHERE NOT held;

CREATE TABLE envoi_body (
    id       bytea PRIMARY KEY REFERENCES envoi_message (id) ON DELETE CASCADE,
    envelope bytea NOT NULL
) WITH (autovacuum_vacuum_scale_factor = 0.02, autovacuum_vacuum_cost_delay = 0);

CREATE TABLE envoi_quarantine (
    key    text  PRIMARY KEY,
    reason text  NOT NULL,
    row_bytes bytea,
    body   bytea
);

CREATE TABLE envoi_node (
    name      text        PRIMARY KEY,
    heartbeat timestamptz NOT NULL
) WITH (fillfactor = 50);
"#;

/// Version 2: message counts per admin state, kept by statement-level triggers, so that the
/// admin summary reads at most 16 rows instead of counting the queue.
///
/// Each statement adds its net change to one of 16 rows, chosen by the session's process id,
/// so concurrent commits rarely wait on the same counter row; a statement that changes no
/// state (a lease) writes nothing.
const V2: &str = r#"
CREATE TABLE envoi_count (
    shard    integer PRIMARY KEY,
    active   bigint  NOT NULL DEFAULT 0,
    deferred bigint  NOT NULL DEFAULT 0,
    held     bigint  NOT NULL DEFAULT 0
) WITH (fillfactor = 20, autovacuum_vacuum_threshold = 1000, autovacuum_vacuum_cost_delay = 0);

INSERT INTO envoi_count (shard) SELECT generate_series(0, 15);
UPDATE envoi_count SET
    active   = (SELECT count(*) FROM envoi_message WHERE NOT held AND attempts = 0),
    deferred = (SELECT count(*) FROM envoi_message WHERE NOT held AND attempts > 0),
    held     = (SELECT count(*) FROM envoi_message WHERE held)
  WHERE shard = 0;

CREATE FUNCTION envoi_count_rows() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    a bigint := 0; d bigint := 0; h bigint := 0;
    na bigint; nd bigint; nh bigint;
BEGIN
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        SELECT count(*) FILTER (WHERE NOT held AND attempts = 0),
               count(*) FILTER (WHERE NOT held AND attempts > 0),
               count(*) FILTER (WHERE held)
          INTO na, nd, nh FROM new_rows;
        a := a + na; d := d + nd; h := h + nh;
    END IF;
    IF TG_OP IN ('DELETE', 'UPDATE') THEN
        SELECT count(*) FILTER (WHERE NOT held AND attempts = 0),
               count(*) FILTER (WHERE NOT held AND attempts > 0),
               count(*) FILTER (WHERE held)
          INTO na, nd, nh FROM old_rows;
        a := a - na; d := d - nd; h := h - nh;
    END IF;
    IF a <> 0 OR d <> 0 OR h <> 0 THEN
        UPDATE envoi_count
           SET active = active + a, deferred = deferred + d, held = held + h
         WHERE shard = pg_backend_pid() % 16;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER envoi_count_insert AFTER INSERT ON envoi_message
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION envoi_count_rows();
CREATE TRIGGER envoi_count_update AFTER UPDATE ON envoi_message
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION envoi_count_rows();
CREATE TRIGGER envoi_count_delete AFTER DELETE ON envoi_message
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION envoi_count_rows();
"#;

/// Brings the connected schema to the newest version this binary knows; returns it.
pub async fn migrate(client: &mut Object) -> Result<usize, PgError> {
    client
        .batch_execute(
            "SELECT pg_advisory_lock(hashtext('envoi:' || current_schema()));
             CREATE TABLE IF NOT EXISTS envoi_schema (version integer NOT NULL)",
        )
        .await?;
    let result = apply_missing(client).await;
    let unlock = client
        .batch_execute("SELECT pg_advisory_unlock(hashtext('envoi:' || current_schema()))")
        .await;
    let version = result?;
    unlock?;
    Ok(version)
}

async fn apply_missing(client: &mut Object) -> Result<usize, PgError> {
    let row = client
        .query_one("SELECT coalesce(max(version), 0) FROM envoi_schema", &[])
        .await?;
    let found = usize::try_from(row.get::<_, i32>(0)).unwrap_or(0);
    if found > MIGRATIONS.len() {
        return Err(PgError::NewerSchema {
            found,
            known: MIGRATIONS.len(),
        });
    }
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(found) {
        let version = i32::try_from(index + 1).unwrap_or(i32::MAX);
        let tx = client.transaction().await?;
        tx.batch_execute(sql).await?;
        tx.execute(
            "INSERT INTO envoi_schema (version) VALUES ($1)",
            &[&version],
        )
        .await?;
        tx.commit().await?;
        tracing::info!(version, "applied schema migration");
    }
    Ok(MIGRATIONS.len())
}

/// Version 3: destinations an administrator suspended, cluster-wide (a handful of rows).
const V3: &str = r#"
CREATE TABLE envoi_suspension (
    destination text   PRIMARY KEY,
    until_nanos bigint,
    reason      text   NOT NULL
);
"#;

/// Version 4: what the sender asked of delivery status notifications (RFC 3461: `RET`,
/// `ENVID`, per-recipient `NOTIFY` and `ORCPT`), written once with the body, and the
/// message's history (its last attempts, the delay warnings sent), rewritten with the row at
/// each attempt. Both postcard; NULL when empty, as every row stored before this version is.
const V4: &str = r#"
ALTER TABLE envoi_body ADD COLUMN dsn bytea;
ALTER TABLE envoi_message ADD COLUMN history bytea;
"#;

/// Version 5: partial indexes for the admin listings filtered by state, so that listing the
/// held or the deferred messages reads those rows only, however many others are queued.
/// New messages (unheld, never attempted) enter neither.
const V5: &str = r#"
CREATE INDEX envoi_message_held ON envoi_message (id) WHERE held;
CREATE INDEX envoi_message_deferred ON envoi_message (id) WHERE NOT held AND attempts > 0;
"#;

/// Version 6: destinations a node could not reach, backed off for every node (one row per
/// destination, rewritten on a failure, deleted when it is reached or flushed).
const V6: &str = r#"
CREATE TABLE envoi_backoff (
    destination text    PRIMARY KEY,
    until_ns    bigint  NOT NULL,
    failures    integer NOT NULL,
    error       text    NOT NULL
) WITH (fillfactor = 50);
"#;

/// Version 7: `envoi_message.recipients` may hold recipient states with their TLS reports
/// (`crate::codec`: the two octets `00 02`, then the states, then the reports). No column
/// changes; the version makes an older envoi refuse the database rather than misread such a
/// row as a message without recipients.
const V7: &str = r#"
COMMENT ON COLUMN envoi_message.recipients IS
    'postcard recipient states; from schema 7 prefixed 00 02 and followed by their TLS reports';
"#;
