//! Numbers for people: short durations (`4m 12s`), relative times (`in 4m`, `3h ago`), sizes.

use std::time::{Duration, SystemTime};

/// The two most significant units of `d`: `45s`, `4m 12s`, `3h 5m`, `2d 4h`.
pub fn duration(d: Duration) -> String {
    let secs = d.as_secs();
    let units = [(86_400, "d"), (3_600, "h"), (60, "m"), (1, "s")];
    let Some(first) = units.iter().position(|(size, _)| secs >= *size) else {
        return "0s".to_owned();
    };
    let (size, unit) = units[first];
    let mut text = format!("{}{unit}", secs / size);
    if let Some(&(next_size, next_unit)) = units.get(first + 1) {
        let rest = (secs % size) / next_size;
        if rest > 0 {
            text.push_str(&format!(" {rest}{next_unit}"));
        }
    }
    text
}

/// How long ago `time` was at `now`: `3m ago` (`just now` under a second, or in the future).
pub fn ago(now: SystemTime, time: SystemTime) -> String {
    match now.duration_since(time) {
        Ok(d) if d.as_secs() > 0 => format!("{} ago", duration(d)),
        _ => "just now".to_owned(),
    }
}

/// How long until `time` from `now`: `in 4m`, or `now` when it is due.
pub fn until(now: SystemTime, time: SystemTime) -> String {
    match time.duration_since(now) {
        Ok(d) if d.as_secs() > 0 => format!("in {}", duration(d)),
        _ => "now".to_owned(),
    }
}

/// A size in octets: `512 B`, `1.5 KiB`, `3.2 MiB`.
pub fn size(octets: u64) -> String {
    const KIB: f64 = 1024.0;
    let value = octets as f64;
    if value < KIB {
        format!("{octets} B")
    } else if value < KIB * KIB {
        format!("{:.1} KiB", value / KIB)
    } else {
        format!("{:.1} MiB", value / (KIB * KIB))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_keep_two_units() {
        assert_eq!(duration(Duration::from_secs(0)), "0s");
        assert_eq!(duration(Duration::from_secs(45)), "45s");
        assert_eq!(duration(Duration::from_secs(252)), "4m 12s");
        assert_eq!(
            duration(Duration::from_secs(3 * 3600 + 5 * 60 + 9)),
            "3h 5m"
        );
        assert_eq!(duration(Duration::from_secs(2 * 86_400)), "2d");
    }

    #[test]
    fn relative_times() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        assert_eq!(ago(now, now - Duration::from_secs(180)), "3m ago");
        assert_eq!(ago(now, now), "just now");
        assert_eq!(until(now, now + Duration::from_secs(240)), "in 4m");
        assert_eq!(until(now, now - Duration::from_secs(5)), "now");
    }

    #[test]
    fn sizes() {
        assert_eq!(size(512), "512 B");
        assert_eq!(size(1536), "1.5 KiB");
        assert_eq!(size(3 * 1024 * 1024), "3.0 MiB");
    }
}
