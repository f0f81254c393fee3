//! What a reload changed: the configuration file's keys compared with those running, each
//! changed key sorted into "applied" or "needs a restart".

use toml::Value;

/// Key prefixes a reload replaces; every other key needs a restart.
const RELOADABLE: [&str; 5] = [
    "relay",
    "queue.backoff",
    "queue.policies",
    "queue.aliases",
    "dkim",
];

/// The configuration file's content as TOML, or an empty table without a file.
///
/// # Errors
/// The file cannot be read or is not TOML (the configuration check would already have said).
pub fn file_keys(path: Option<&std::path::Path>) -> anyhow::Result<Value> {
    let Some(path) = path else {
        return Ok(Value::Table(toml::Table::new()));
    };
    let text = std::fs::read_to_string(path)?;
    Ok(Value::Table(toml::from_str(&text)?))
}

/// The dotted keys whose values differ between `old` and `new` (added and removed keys
/// included), sorted into (applied by a reload, needing a restart).
pub fn classify(old: &Value, new: &Value) -> (Vec<String>, Vec<String>) {
    let mut changed = Vec::new();
    differences("", old, new, &mut changed);
    changed.sort();
    changed.into_iter().partition(|key| reloadable(key))
}

fn reloadable(key: &str) -> bool {
    RELOADABLE.iter().any(|prefix| {
        key == *prefix
            || key.starts_with(&format!("{prefix}."))
            || key.starts_with(&format!("{prefix}["))
    })
}

/// Tables are compared key by key; any other value (arrays of tables included) as a whole.
fn differences(path: &str, old: &Value, new: &Value, out: &mut Vec<String>) {
    match (old, new) {
        (Value::Table(old), Value::Table(new)) => {
            let keys: std::collections::BTreeSet<&String> = old.keys().chain(new.keys()).collect();
            for key in keys {
                let child = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                match (old.get(key), new.get(key)) {
                    (Some(a), Some(b)) => differences(&child, a, b, out),
                    _ => out.push(child),
                }
            }
        }
        (a, b) if a != b => out.push(path.to_owned()),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toml(text: &str) -> Value {
        Value::Table(toml::from_str(text).unwrap())
    }

    #[test]
    fn changed_keys_are_sorted_into_applied_and_restart() {
        let old = toml(
            "hostname = \"a\"\n[relay]\nsmarthost = \"smtp://x:25\"\n[queue]\nmax_lifetime = \"5d\"\n\
             [queue.backoff]\nkind = \"schedule\"\ndelays = [\"1m\"]\n",
        );
        let new = toml(
            "hostname = \"b\"\n[relay]\nsmarthost = \"smtp://y:25\"\nmx_port = 2525\n[queue]\n\
             max_lifetime = \"5d\"\n[queue.backoff]\nkind = \"schedule\"\ndelays = [\"2m\"]\n\
             [smtp]\nmax_recipients = 5\n",
        );
        let (applied, restart) = classify(&old, &new);
        assert_eq!(
            applied,
            ["queue.backoff.delays", "relay.mx_port", "relay.smarthost"]
        );
        assert_eq!(restart, ["hostname", "smtp"]);
        assert_eq!(classify(&old, &old), (vec![], vec![]));
    }
}
