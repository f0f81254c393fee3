//! `envoi queue retry|hold|release|delete|bounce`: one id keeps the single-message answer;
//! several ids, ids on standard input, filters or `--all` go through the bulk API.

use std::io::{BufRead, IsTerminal, Write};

use anyhow::Context;
use envoi_admin::api::{Action, BulkRequest, BulkResult, BulkSkipped, MAX_BULK_IDS};
use envoi_admin::AdminClient;
use envoi_types::QueueId;

use crate::cli::BulkArgs;

/// What the command prints: the single answer, or the bulk tally.
pub enum Answer {
    /// One message by id.
    One(envoi_admin::api::ActionResult),
    /// Several.
    Many(BulkResult),
}

/// Runs `action` on the messages `args` select.
///
/// # Errors
/// No selection or more than one, an unconfirmed destructive filter, a bad id, or the API's
/// error.
pub async fn run(client: &AdminClient, action: Action, args: BulkArgs) -> anyhow::Result<Answer> {
    let filter = super::queue::message_filter(&args.filter)?;
    let by_filter = filter.is_selective();
    let given = usize::from(!args.ids.is_empty()) + usize::from(by_filter) + usize::from(args.all);
    if given != 1 {
        anyhow::bail!(
            "{} needs exactly one choice of messages: queue ids (- reads them from standard \
             input), filters (--state, --sender, --recipient, --domain, --min-age) or --all",
            action.name()
        );
    }
    if (by_filter || args.all) && action.is_destructive() && !args.yes {
        anyhow::bail!(
            "{} by filter or --all removes every message it matches: add --yes",
            action.name()
        );
    }
    if let [id] = args.ids.as_slice() {
        if id != "-" {
            return Ok(Answer::One(client.act(id, action).await?));
        }
    }
    if !args.ids.is_empty() {
        let ids = read_ids(&args.ids)?;
        return Ok(Answer::Many(by_ids(client, action, &ids).await?));
    }
    let request = BulkRequest {
        filter: by_filter.then_some(filter),
        all: args.all,
        confirm: args.yes,
        ..BulkRequest::default()
    };
    let terminal = std::io::stderr().is_terminal();
    if terminal {
        eprint!(
            "{}: selecting and changing the matching messages...",
            action.name()
        );
    }
    let result = client.bulk(action, &request).await;
    if terminal {
        eprintln!();
    }
    Ok(Answer::Many(result?))
}

/// The ids named on the command line, with `-` replaced by those on standard input.
fn read_ids(args: &[String]) -> anyhow::Result<Vec<QueueId>> {
    let mut ids = Vec::new();
    for arg in args {
        if arg == "-" {
            for (number, line) in std::io::stdin().lock().lines().enumerate() {
                let line = line.context("cannot read ids from standard input")?;
                let text = line.trim();
                if !text.is_empty() {
                    ids.push(parse(text).with_context(|| {
                        format!("standard input, line {}", number.saturating_add(1))
                    })?);
                }
            }
        } else {
            ids.push(parse(arg)?);
        }
    }
    Ok(ids)
}

fn parse(text: &str) -> anyhow::Result<QueueId> {
    text.parse()
        .with_context(|| format!("{text:?} is not a queue id"))
}

/// Sends the ids in requests of at most [`MAX_BULK_IDS`], showing progress on a terminal.
async fn by_ids(
    client: &AdminClient,
    action: Action,
    ids: &[QueueId],
) -> anyhow::Result<BulkResult> {
    let terminal = std::io::stderr().is_terminal();
    let mut total = BulkResult {
        action,
        matched: 0,
        changed: 0,
        skipped: Vec::new(),
    };
    for chunk in ids.chunks(MAX_BULK_IDS / 10) {
        let request = BulkRequest {
            ids: chunk.to_vec(),
            ..BulkRequest::default()
        };
        merge(&mut total, client.bulk(action, &request).await?);
        if terminal {
            eprint!(
                "\r{}: {} of {} done",
                action.name(),
                total.matched,
                ids.len()
            );
            let _ = std::io::stderr().flush();
        }
    }
    if terminal {
        eprintln!();
    }
    Ok(total)
}

fn merge(total: &mut BulkResult, part: BulkResult) {
    total.matched = total.matched.saturating_add(part.matched);
    total.changed = total.changed.saturating_add(part.changed);
    for skipped in part.skipped {
        match total
            .skipped
            .iter_mut()
            .find(|s| s.reason == skipped.reason)
        {
            Some(known) => {
                known.count = known.count.saturating_add(skipped.count);
                let room = BulkSkipped::MAX_EXAMPLES.saturating_sub(known.examples.len());
                known
                    .examples
                    .extend(skipped.examples.into_iter().take(room));
            }
            None => total.skipped.push(skipped),
        }
    }
}
