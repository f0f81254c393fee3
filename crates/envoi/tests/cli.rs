//! `envoi queue ...` and `envoi config check` against the real binary.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::process::Command;

use support::queue_cli::{attempts, deferrals, deferring_daemon, json, queued_ids, stdout};
use support::{free_port, message, send, wait_for};

#[test]
fn every_queue_command_works_and_unknown_ids_are_clear() {
    let dir = tempfile::tempdir().unwrap();
    let (daemon, _hop) = deferring_daemon(dir.path(), "");
    for i in 0..3 {
        let reply = send(
            daemon.smtp,
            "sender@src.test",
            &[&format!("r{i}@dst.test")],
            &message(&format!("cli-{i}")),
        );
        assert!(reply.starts_with("250 "), "{reply}");
    }
    let ids = wait_for("three deferred messages", || {
        let ids = queued_ids(&daemon);
        (ids.len() == 3 && ids.iter().all(|id| attempts(&daemon, id) == 1)).then_some(ids)
    });

    // One `accepted` line per message, with its Message-ID; the edge says how it came.
    let log = daemon.log_text();
    let accepted: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("event=\"accepted\""))
        .collect();
    assert_eq!(accepted.len(), 3, "{log}");
    for id in &ids {
        assert_eq!(
            accepted.iter().filter(|l| l.contains(id.as_str())).count(),
            1,
            "{log}"
        );
    }
    assert!(
        accepted
            .iter()
            .any(|l| l.contains("message_id=\"<cli-1@src.test>\"")
                && l.contains("rcpts=1")
                && l.contains("size=")),
        "{log}"
    );
    assert_eq!(log.matches("event=\"received\"").count(), 3, "{log}");

    let summary = json(&daemon.queue_cli(&["summary", "--json"]));
    assert_eq!(summary["by_state"]["deferred"], 3, "{summary}");
    let table = stdout(&daemon.queue_cli(&["summary"]));
    assert!(table.contains("deferred"), "{table}");

    let listed = stdout(&daemon.queue_cli(&["list"]));
    assert!(
        ids.iter().all(|id| listed.contains(id.as_str())),
        "{listed}"
    );
    let filtered = json(&daemon.queue_cli(&["list", "--recipient", "r1@", "--json"]));
    assert_eq!(filtered["messages"].as_array().unwrap().len(), 1);

    let shown = stdout(&daemon.queue_cli(&["show", &ids[0]]));
    assert!(
        shown.contains("r0@dst.test") && shown.contains("4.4.1"),
        "{shown}"
    );

    // postcat: the stored text, Received header first, the dot-stuffing undone.
    let body = stdout(&daemon.queue_cli(&["show", &ids[0], "--body"]));
    assert!(body.starts_with("Received: from "), "{body}");
    assert!(
        body.ends_with("Subject: cli-0\r\nMessage-ID: <cli-0@src.test>\r\n\r\nHello cli-0.\r\n.leading dot line\r\n"),
        "{body}"
    );

    stdout(&daemon.queue_cli(&["hold", &ids[0]]));
    assert_eq!(
        json(&daemon.queue_cli(&["show", &ids[0], "--json"]))["held"],
        true
    );
    let held = json(&daemon.queue_cli(&["list", "--state", "held", "--json"]));
    assert_eq!(held["messages"].as_array().unwrap().len(), 1);
    stdout(&daemon.queue_cli(&["release", &ids[0]]));
    assert_eq!(
        json(&daemon.queue_cli(&["show", &ids[0], "--json"]))["held"],
        false
    );

    // Forced attempts are logged but not counted: they do not use up the backoff.
    stdout(&daemon.queue_cli(&["retry", &ids[1]]));
    wait_for("the retried message's second attempt", || {
        (deferrals(&daemon, &ids[1]) == 2).then_some(())
    });
    stdout(&daemon.queue_cli(&["flush"]));
    wait_for("flushed messages attempted again", || {
        (deferrals(&daemon, &ids[0]) >= 2 && deferrals(&daemon, &ids[2]) >= 2).then_some(())
    });
    assert_eq!(
        attempts(&daemon, &ids[1]),
        1,
        "a forced attempt was counted"
    );

    stdout(&daemon.queue_cli(&["delete", &ids[2]]));
    stdout(&daemon.queue_cli(&["bounce", &ids[1]]));
    wait_for("the bounce in the log", || {
        daemon.log_text().contains("admin-bounce").then_some(())
    });

    let unknown = "01JZZZZZZZZZZZZZZZZZZZZZZZ";
    for command in [
        &["show", unknown][..],
        &["show", unknown, "--body"],
        &["retry", unknown],
        &["hold", unknown],
        &["release", unknown],
        &["delete", unknown],
        &["bounce", unknown],
    ] {
        let output = daemon.queue_cli(command);
        assert!(
            !output.status.success(),
            "{command:?} of an unknown id succeeded"
        );
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains(&format!("no message {unknown} in the queue")),
            "{command:?}: {stderr}"
        );
    }
    let output = daemon.queue_cli(&["show", "not-an-id"]);
    assert!(!output.status.success());
}

#[test]
fn the_admin_token_is_checked() {
    let smtp = std::net::SocketAddr::from(([127, 0, 0, 1], free_port()));
    let admin = std::net::SocketAddr::from(([127, 0, 0, 1], free_port()));
    // The admin section is written by the harness; a token needs a config of its own.
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("token.toml");
    std::fs::write(
        &config,
        format!(
            "[admin]\naddress = \"{admin}\"\ntoken = \"s3cret\"\n[storage]\nkind = \"memory\"\n[[smtp.listener]]\naddress = \"{smtp}\"\n"
        ),
    )
    .unwrap();
    let log = dir.path().join("log");
    let mut child = Command::new(env!("CARGO_BIN_EXE_envoi"))
        .args(["serve", "--config"])
        .arg(&config)
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    wait_for("envoi ready", || {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("envoi ready")
            .then_some(())
    });
    let cli = |token: Option<&str>| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_envoi"));
        command.args(["queue", "--admin", &format!("http://{admin}"), "summary"]);
        command.env_remove("ENVOI_ADMIN_TOKEN");
        if let Some(token) = token {
            command.args(["--token", token]);
        }
        command.output().unwrap()
    };
    let missing = cli(None);
    assert!(!missing.status.success());
    assert!(
        String::from_utf8_lossy(&missing.stderr).contains("refused the token"),
        "{missing:?}"
    );
    let wrong = cli(Some("guess"));
    assert!(!wrong.status.success());
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("refused the token"));
    assert!(cli(Some("s3cret")).status.success());
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn a_daemon_that_is_not_running_is_named() {
    let port = free_port();
    let output = Command::new(env!("CARGO_BIN_EXE_envoi"))
        .args([
            "queue",
            "--admin",
            &format!("http://127.0.0.1:{port}"),
            "list",
        ])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("cannot reach envoi") && stderr.contains("envoi serve"),
        "{stderr}"
    );
}

#[test]
fn config_check_names_the_key_and_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "hostname = \"mx.test\"\n\n[relay]\nsmarthots = \"smtp://x:25\"\n",
    )
    .unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_envoi"))
        .args(["config", "check"])
        .arg(&bad)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("line 4") && stderr.contains("smarthots"),
        "{stderr}"
    );

    let missing = dir.path().join("missing.toml");
    let output = Command::new(env!("CARGO_BIN_EXE_envoi"))
        .args(["config", "check"])
        .arg(&missing)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&output.stderr).contains("cannot read config file"));

    let bad_value = dir.path().join("value.toml");
    std::fs::write(&bad_value, "[queue]\nmax_lifetime = \"forever\"\n").unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_envoi"))
        .args(["config", "check"])
        .arg(&bad_value)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("line 2") && stderr.contains("max_lifetime") && stderr.contains("\"5m\""),
        "{stderr}"
    );
}

#[test]
fn config_check_refuses_an_unknown_log_level() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("level.toml");
    std::fs::write(&bad, "[log]\nlevel = \"verbose\"\n").unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_envoi"))
        .args(["config", "check"])
        .arg(&bad)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("log.level") && stderr.contains("unknown level \"verbose\""),
        "{stderr}"
    );
}

#[test]
fn a_list_limit_out_of_range_is_an_error_not_a_cap() {
    for bad in ["0", "1001"] {
        let output = Command::new(env!("CARGO_BIN_EXE_envoi"))
            .args(["queue", "list", "--limit", bad])
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{bad}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("--limit") && stderr.contains("1 to 1000"),
            "{stderr}"
        );
    }
}

/// Drives `envoi config hash-password` on a pseudo-terminal: waits for each prompt and for echo
/// to be off before typing, and prints everything the terminal showed.
const TYPE_ON_A_TERMINAL: &str = r#"
import os, pty, select, signal, sys, termios, time
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], [sys.argv[1], "config", "hash-password"])
seen = b""
def until(token):
    global seen
    deadline = time.time() + 10
    while token not in seen:
        if time.time() > deadline:
            os.kill(pid, signal.SIGKILL)
            sys.stdout.write("no prompt " + repr(token) + "; saw: " + seen.decode())
            sys.exit(1)
        if select.select([fd], [], [], 0.1)[0]:
            seen += os.read(fd, 1024)
def type_when_silent(text):
    deadline = time.time() + 10
    while termios.tcgetattr(fd)[3] & termios.ECHO and time.time() < deadline:
        time.sleep(0.01)
    os.write(fd, text)
until(b"Password: ")
type_when_silent(b"s3cret-word\n")
until(b"Again: ")
type_when_silent(b"s3cret-word\n")
try:
    while True:
        chunk = os.read(fd, 1024)
        if not chunk:
            break
        seen += chunk
except OSError:
    pass
os.waitpid(pid, 0)
sys.stdout.write(seen.decode())
"#;

#[test]
fn hash_password_does_not_echo_on_a_terminal() {
    let output = Command::new("python3")
        .args(["-c", TYPE_ON_A_TERMINAL, env!("CARGO_BIN_EXE_envoi")])
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&output.stdout);
    assert!(shown.contains("$argon2"), "{shown}");
    assert!(!shown.contains("s3cret-word"), "{shown}");

    let mut piped = Command::new(env!("CARGO_BIN_EXE_envoi"))
        .args(["config", "hash-password"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    piped
        .stdin
        .take()
        .unwrap()
        .write_all(b"s3cret-word\n")
        .unwrap();
    let output = piped.wait_with_output().unwrap();
    assert!(String::from_utf8_lossy(&output.stdout).starts_with("$argon2"));
}

#[test]
fn the_example_configurations_are_valid() {
    for name in ["envoi.toml", "demo.toml"] {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../examples")
            .join(name);
        let output = Command::new(env!("CARGO_BIN_EXE_envoi"))
            .args(["config", "check"])
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

/// `envoi ARGS`: its standard output, after checking it succeeded.
fn envoi_ok(args: &[&std::ffi::OsStr]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_envoi"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn config_show_prints_the_effective_configuration_which_reads_back_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.toml");
    std::fs::write(
        &input,
        "hostname = \"mx.test\"\n[queue]\nmax_lifetime = \"2d\"\n\
         [queue.backoff]\nkind = \"schedule\"\ndelays = [\"1m\", \"1h 30m\"]\n\
         [relay.routes]\n\"corp.test\" = [\"smtp://10.1.2.3:25\"]\n\
         [relay.timeouts]\nconnect = \"10s\"\n[storage]\nmin_free = 1000\n\
         [log]\nformat = \"json\"\nlevel = \"info,envoi_relay=debug\"\n",
    )
    .unwrap();
    let shown = envoi_ok(&["config".as_ref(), "show".as_ref(), input.as_os_str()]);
    // The file's own values, and defaults it does not state.
    for line in [
        "hostname = \"mx.test\"",
        "max_lifetime = \"2d\"",
        "delays = [\"1m\", \"1h 30m\"]",
        "connect = \"10s\"",
        "min_free = 1000",
        "max_message_size = 26214400",
        "banner = \"5m\"",
    ] {
        assert!(shown.lines().any(|l| l == line), "no {line:?} in\n{shown}");
    }
    let output = dir.path().join("shown.toml");
    std::fs::write(&output, &shown).unwrap();
    let checked = envoi_ok(&["config".as_ref(), "check".as_ref(), output.as_os_str()]);
    assert!(checked.ends_with(": OK\n"), "{checked}");
    // Read back, it is the same configuration.
    let again = envoi_ok(&["config".as_ref(), "show".as_ref(), output.as_os_str()]);
    assert_eq!(again, shown);
    // Without a file: the defaults, which read back the same too.
    let defaults = envoi_ok(&["config".as_ref(), "show".as_ref()]);
    assert!(
        defaults.contains("address = \"127.0.0.1:8025\""),
        "{defaults}"
    );
}

#[test]
fn bulk_actions_take_ids_stdin_filters_and_all() {
    let dir = tempfile::tempdir().unwrap();
    let (daemon, _hop) = deferring_daemon(dir.path(), "");
    for i in 0..4 {
        let to = if i < 3 {
            format!("r{i}@a.test")
        } else {
            "r@b.test".to_owned()
        };
        let reply = send(
            daemon.smtp,
            "s@src.test",
            &[&to],
            &message(&format!("bulk-{i}")),
        );
        assert!(reply.starts_with("250 "), "{reply}");
    }
    let ids = wait_for("four deferred messages", || {
        let ids = queued_ids(&daemon);
        (ids.len() == 4 && ids.iter().all(|id| attempts(&daemon, id) == 1)).then_some(ids)
    });
    let held = |id: &str| json(&daemon.queue_cli(&["show", id, "--json"]))["held"] == true;

    let out = stdout(&daemon.queue_cli(&["hold", &ids[0], &ids[1]]));
    assert_eq!(out, "held 2 of 2 matched messages\n");
    assert!(held(&ids[0]) && held(&ids[1]) && !held(&ids[2]));

    let mut release = Command::new(env!("CARGO_BIN_EXE_envoi"))
        .args(["queue", "--admin", &format!("http://{}", daemon.admin)])
        .args(["release", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let ids_text = format!("{}\n\n{}\n", ids[0], ids[1]);
    std::io::Write::write_all(&mut release.stdin.take().unwrap(), ids_text.as_bytes()).unwrap();
    let out = stdout(&release.wait_with_output().unwrap());
    assert_eq!(out, "released 2 of 2 matched messages\n");
    assert!(!held(&ids[0]) && !held(&ids[1]));

    let out = stdout(&daemon.queue_cli(&["hold", "--domain", "a.test"]));
    assert_eq!(out, "held 3 of 3 matched messages\n");
    assert!(held(&ids[2]) && !held(&ids[3]));
    let tally = json(&daemon.queue_cli(&["release", "--all", "--json"]));
    assert_eq!(
        (tally["matched"].as_u64(), tally["changed"].as_u64()),
        (Some(4), Some(4))
    );

    let refused = daemon.queue_cli(&["delete", "--domain", "b.test"]);
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("add --yes"), "{stderr}");
    let refused = daemon.queue_cli(&["hold"]);
    assert!(String::from_utf8_lossy(&refused.stderr).contains("exactly one choice"));
    let refused = daemon.queue_cli(&["hold", &ids[0], "--all"]);
    assert!(!refused.status.success());

    let out = stdout(&daemon.queue_cli(&["delete", "--domain", "b.test", "--yes"]));
    assert_eq!(out, "deleted 1 of 1 matched message\n");
    assert_eq!(queued_ids(&daemon).len(), 3);
    let line = daemon
        .log_text()
        .lines()
        .find(|line| line.contains("bulk admin action") && line.contains("action=\"delete\""))
        .map(str::to_owned)
        .unwrap();
    assert!(
        line.contains("client=127.0.0.1:") && line.contains("b.test"),
        "{line}"
    );
}
