//! `envoi queue ...`: a client of the admin API; tables for people, `--json` for scripts.

use std::process::ExitCode;
use std::time::SystemTime;

use anyhow::Context;
use envoi_admin::api::{Action, MessageFilter, ShapeBy, ShapeQuery, SuspendRequest};
use envoi_admin::{render, AdminClient};
use envoi_queue::MessageState;
use serde::Serialize;

use super::bulk::Answer;
use crate::cli::{BulkArgs, FilterArgs, QueueArgs, QueueCommand, ShapeByArg};

/// Runs a queue subcommand against the daemon's admin API.
///
/// # Errors
/// The daemon cannot be reached, refuses the token, or does not know the id; the message
/// says which.
pub async fn run(args: QueueArgs) -> anyhow::Result<ExitCode> {
    let client = AdminClient::new(&args.admin, args.token.clone())?;
    let now = SystemTime::now();
    let json = args.json;
    let output = match args.command {
        QueueCommand::Summary => {
            let summary = client.summary().await?;
            show(json, &summary, || render::summary(&summary))?
        }
        QueueCommand::Shape { by, sender, top } => {
            let by = match (by, sender) {
                (_, true) | (ShapeByArg::Sender, _) => ShapeBy::Sender,
                (ShapeByArg::Domain, false) => ShapeBy::Domain,
                (ShapeByArg::Reply, false) => ShapeBy::Reply,
            };
            let query = ShapeQuery { by, top: Some(top) };
            let shape = client.shape(&query).await?;
            show(json, &shape, || render::shape(&shape))?
        }
        QueueCommand::List {
            filter,
            after,
            limit,
            long,
        } => {
            let mut filter = message_filter(&filter)?;
            filter.after = after
                .map(|a| {
                    a.parse()
                        .with_context(|| format!("--after {a:?} is not a queue id"))
                })
                .transpose()?;
            filter.limit = Some(limit);
            let page = client.list(&filter).await?;
            let table = if long {
                render::list_long
            } else {
                render::list
            };
            show(json, &page, || table(&page, now))?
        }
        QueueCommand::Show { id, body: true } => {
            let bytes = client.body(&id).await?;
            std::io::Write::write_all(&mut std::io::stdout().lock(), &bytes)?;
            return Ok(ExitCode::SUCCESS);
        }
        QueueCommand::Show { id, body: false } => {
            let message = client.show(&id, true).await?;
            show(json, &message, || render::show(&message, now))?
        }
        QueueCommand::Flush { filter } => {
            let result = client.flush(&message_filter(&filter)?).await?;
            show(json, &result, || render::flush(&result))?
        }
        QueueCommand::Retry(args) => act(json, &client, Action::Retry, args).await?,
        QueueCommand::Hold(args) => act(json, &client, Action::Hold, args).await?,
        QueueCommand::Release(args) => act(json, &client, Action::Release, args).await?,
        QueueCommand::Delete(args) => act(json, &client, Action::Delete, args).await?,
        QueueCommand::Bounce(args) => act(json, &client, Action::Bounce, args).await?,
        QueueCommand::Destinations => {
            let list = client.destinations().await?;
            show(json, &list, || render::destinations(&list, now))?
        }
        QueueCommand::Suspend {
            destination,
            duration,
            reason,
        } => {
            let duration = duration
                .as_deref()
                .map(|text| {
                    crate::config::duration::parse(text).map_err(|e| anyhow::anyhow!("--for: {e}"))
                })
                .transpose()?;
            let request = SuspendRequest { duration, reason };
            let suspension = client.suspend(&destination, &request).await?;
            show(json, &suspension, || render::suspension(&suspension, now))?
        }
        QueueCommand::Resume { destination } => {
            let result = client.resume(&destination).await?;
            show(json, &result, || render::resumed(&result))?
        }
    };
    print!("{output}");
    if !output.ends_with('\n') {
        println!();
    }
    Ok(ExitCode::SUCCESS)
}

async fn act(
    json: bool,
    client: &AdminClient,
    action: Action,
    args: BulkArgs,
) -> anyhow::Result<String> {
    match super::bulk::run(client, action, args).await? {
        Answer::One(result) => show(json, &result, || render::action(&result)),
        Answer::Many(result) => show(json, &result, || render::bulk(&result)),
    }
}

/// JSON for scripts, or the human rendering.
fn show<T: Serialize>(
    json: bool,
    value: &T,
    human: impl FnOnce() -> String,
) -> anyhow::Result<String> {
    if json {
        Ok(serde_json::to_string_pretty(value)?)
    } else {
        Ok(human())
    }
}

/// The admin API's filter for the command-line filters.
///
/// # Errors
/// A bad `--state` or `--min-age`, named.
pub fn message_filter(args: &FilterArgs) -> anyhow::Result<MessageFilter> {
    let state = match args.state.as_deref() {
        None => None,
        Some("active") => Some(MessageState::Active),
        Some("deferred") => Some(MessageState::Deferred),
        Some("held") => Some(MessageState::Held),
        Some(other) => anyhow::bail!("--state {other:?}: expected active, deferred or held"),
    };
    let min_age = args
        .min_age
        .as_deref()
        .map(|text| {
            crate::config::duration::parse(text).map_err(|e| anyhow::anyhow!("--min-age: {e}"))
        })
        .transpose()?;
    Ok(MessageFilter {
        state,
        sender: args.sender.clone(),
        recipient: args.recipient.clone(),
        domain: args.domain.clone(),
        min_age,
        after: None,
        limit: None,
    })
}
