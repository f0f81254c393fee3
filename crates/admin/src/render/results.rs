//! One-line answers: actions, flush, injection, quarantine, health.

use std::fmt::Write as _;

use super::table::table;
use crate::api::{
    Action, ActionResult, BulkResult, FlushResult, Health, InjectResponse, QuarantineList,
    ReloadReport,
};

/// `message ID held` (or `deleted`, `released`, ...).
pub fn action(result: &ActionResult) -> String {
    format!("message {} {}\n", result.id, result.action.outcome())
}

/// `held 9998 of 10000 matched messages`, then one line per reason some were left alone.
pub fn bulk(result: &BulkResult) -> String {
    let verb = match result.action {
        Action::Retry => "made due",
        Action::Hold => "held",
        Action::Release => "released",
        Action::Delete => "deleted",
        Action::Bounce => "bounced",
    };
    let mut out = format!(
        "{verb} {} of {} matched message{}\n",
        result.changed,
        result.matched,
        if result.matched == 1 { "" } else { "s" }
    );
    for skipped in &result.skipped {
        let examples: Vec<String> = skipped.examples.iter().map(ToString::to_string).collect();
        let _ = writeln!(
            out,
            "  {} skipped: {} (e.g. {})",
            skipped.count,
            skipped.reason,
            examples.join(", ")
        );
    }
    out
}

/// What a reload changed, or why it was refused.
pub fn reload(report: &ReloadReport) -> String {
    if let Some(why) = &report.refused {
        return format!("reload refused, the running configuration is kept: {why}\n");
    }
    if report.applied.is_empty() && report.needs_restart.is_empty() {
        return "reloaded: nothing changed\n".to_owned();
    }
    let mut out = String::new();
    if !report.applied.is_empty() {
        let _ = writeln!(out, "applied: {}", report.applied.join(", "));
    }
    if !report.needs_restart.is_empty() {
        let _ = writeln!(
            out,
            "changed, needs a restart: {}",
            report.needs_restart.join(", ")
        );
    }
    out
}

/// `N messages flushed`, and how many matches were skipped.
pub fn flush(result: &FlushResult) -> String {
    let mut out = format!(
        "{} message{} flushed",
        result.flushed,
        if result.flushed == 1 { "" } else { "s" }
    );
    if result.skipped > 0 {
        let _ = write!(
            out,
            "; {} skipped (held, being delivered, or gone)",
            result.skipped
        );
    }
    out.push('\n');
    out
}

/// `queued as ID`, one line per id.
pub fn injected(response: &InjectResponse) -> String {
    if response.ids.is_empty() {
        return "accepted, but a prequeue policy dropped the message\n".to_owned();
    }
    response
        .ids
        .iter()
        .map(|id| format!("queued as {id}\n"))
        .collect()
}

/// The quarantined records as a table.
pub fn quarantine(list: &QuarantineList) -> String {
    if list.records.is_empty() {
        return "no quarantined records\n".to_owned();
    }
    let rows: Vec<Vec<String>> = list
        .records
        .iter()
        .map(|r| vec![r.key.clone(), r.reason.clone()])
        .collect();
    table(&["KEY", "REASON"], &rows)
}

/// `envoi is ok: N messages queued`.
pub fn health(health: &Health) -> String {
    let mut out = format!("envoi is {}", health.status);
    if let Some(queued) = health.queued {
        let _ = write!(out, ": {queued} messages queued");
    }
    if let Some(error) = &health.error {
        let _ = write!(out, ": {error}");
    }
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::Action;
    use envoi_types::QueueId;

    #[test]
    fn one_liners() {
        let id = QueueId::new();
        assert_eq!(
            action(&ActionResult {
                id,
                action: Action::Hold
            }),
            format!("message {id} held\n")
        );
        assert_eq!(
            flush(&FlushResult {
                flushed: 1,
                skipped: 2
            }),
            "1 message flushed; 2 skipped (held, being delivered, or gone)\n"
        );
        assert_eq!(
            injected(&InjectResponse { ids: vec![id] }),
            format!("queued as {id}\n")
        );
    }
}
