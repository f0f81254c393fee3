//! `envoi reload`: the daemon re-reads its configuration, through the admin API.

use std::process::ExitCode;

use envoi_admin::{render, AdminClient};

use crate::cli::AdminArgs;

/// Asks the daemon to reload and prints what changed. A refused configuration exits 1.
///
/// # Errors
/// The daemon cannot be reached or refuses the token.
pub async fn run(args: AdminArgs) -> anyhow::Result<ExitCode> {
    let client = AdminClient::new(&args.admin, args.token.clone())?;
    let report = client.reload().await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", render::reload(&report));
    }
    Ok(if report.refused.is_some() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
