//! Tells a service manager (systemd's `Type=notify`) when envoi is ready, reloading or
//! stopping. Without `NOTIFY_SOCKET` in the environment these do nothing.

use sd_notify::NotifyState;

/// Every listener is bound and the queue is running: mail can be taken now.
pub fn ready(status: &str) {
    send(&[NotifyState::Ready, NotifyState::Status(status)]);
}

/// A SIGHUP reload is starting; [`ready`] follows when it is done.
pub fn reloading() {
    match NotifyState::monotonic_usec_now() {
        Ok(now) => send(&[NotifyState::Reloading, now]),
        Err(error) => tracing::warn!(%error, "cannot read the monotonic clock for systemd"),
    }
}

/// The daemon is stopping.
pub fn stopping() {
    send(&[NotifyState::Stopping]);
}

fn send(states: &[NotifyState]) {
    // A manager that cannot be told is not a reason to stop delivering mail.
    if let Err(error) = sd_notify::notify(states) {
        tracing::warn!(%error, "cannot notify the service manager");
    }
}
