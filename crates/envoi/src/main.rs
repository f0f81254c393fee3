//! The envoi daemon and its admin tools.

fn main() -> anyhow::Result<()> {
    Ok(())
}
