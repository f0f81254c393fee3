"""The processes one benchmark run starts: smtp-sink, envoi, a private Postfix instance.

Each class starts its process(es) on 127.0.0.1, knows the pids to sample for CPU and memory, and
stops everything it started (the caller also has an atexit/signal net in bench.py).

Layout:
- helpers: free ports, waiting for a LISTEN socket via /proc/net/tcp, /proc readers.
- Sink: smtp-sink -c, with a reader thread that timestamps every change of its message counter.
- Envoi: `envoi serve --config` with a TOML written per run.
- Postfix: main.cf/master.cf in a temp dir, `postfix -c DIR start|stop`.
"""

import asyncio
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time

SINK = "/usr/sbin/smtp-sink"
SOURCE = "/usr/sbin/smtp-source"
POSTFIX = "/usr/sbin/postfix"
POSTCONF = "/usr/sbin/postconf"
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


# ---------------------------------------------------------------- helpers

# envoi's edge ends a session after 1000 messages (421 4.7.0, not configurable), and
# smtp-source spreads messages unevenly over its sessions: above this many messages per
# session, each message goes over a connection of its own (no -d).
REUSE_MAX_PER_SESSION = 900


def source_reuse(messages, sessions):
    """smtp-source's -d (several messages per connection) when the edge's limit allows."""
    return ["-d"] if messages <= REUSE_MAX_PER_SESSION * sessions else []


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def listening(port):
    """True when something LISTENs on 127.0.0.1:port (or 0.0.0.0:port); no connection made."""
    want = {f"0100007F:{port:04X}", f"00000000:{port:04X}"}
    try:
        with open("/proc/net/tcp") as f:
            next(f)
            for line in f:
                p = line.split()
                if p[3] == "0A" and p[1] in want:
                    return True
    except OSError:
        pass
    return False


def wait_listening(port, seconds, proc=None):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if listening(port):
            return
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before listening on {port}")
        time.sleep(0.02)
    raise RuntimeError(f"nothing listening on 127.0.0.1:{port} after {seconds}s")


def listening_or_stop(server, port, seconds):
    """Waits until `server.proc` listens on `port`; stops the server and re-raises if it never does."""
    try:
        wait_listening(port, seconds, server.proc)
    except Exception:
        server.stop()
        raise


def _stat_fields(pid):
    """The fields of /proc/PID/stat after the command name (field 3 onwards), or None if gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            data = f.read()
    except OSError:
        return None
    return data[data.rindex(")") + 2:].split()


def proc_stat(pid):
    """(ppid, utime+stime, cutime+cstime) in seconds, or None if gone."""
    rest = _stat_fields(pid)
    if rest is None:
        return None
    # rest[0] is field 3 (state); utime is field 14 -> rest[11]
    ppid = int(rest[1])
    own = (int(rest[11]) + int(rest[12])) / CLK_TCK
    children = (int(rest[13]) + int(rest[14])) / CLK_TCK
    return ppid, own, children


def alive(pid):
    """True while the process exists and is not a zombie."""
    rest = _stat_fields(pid)
    return rest is not None and rest[0] != "Z"


def children_of(pid):
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            st = proc_stat(int(d))
            if st and st[0] == pid:
                out.append(int(d))
    return out


def rss_pss(pid):
    """(VmRSS, VmHWM, Pss) in bytes for one process; zeros if gone."""
    rss = hwm = pss = 0
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    rss = int(line.split()[1]) * 1024
                elif line.startswith("VmHWM:"):
                    hwm = int(line.split()[1]) * 1024
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    pss = int(line.split()[1]) * 1024
                    break
    except OSError:
        pass
    return rss, hwm, pss


def stop_proc(proc, sig=signal.SIGTERM, seconds=10):
    if proc is None or proc.poll() is not None:
        return
    try:
        proc.send_signal(sig)
        proc.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)
    except ProcessLookupError:
        pass


# ---------------------------------------------------------------- slow hop

class SlowHop:
    """A next hop that waits `delay` seconds before every reply (greeting included), in an
    asyncio loop on its own thread; counts the messages it accepted. No PIPELINING offered, so
    every command waits for its own delayed reply."""

    def __init__(self, port, delay):
        self.port, self.delay, self.count = port, delay, 0
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        if not self.ready.wait(10):
            raise RuntimeError(f"slow hop not listening on {port}")

    def _run(self):
        asyncio.set_event_loop(self.loop)
        start = asyncio.start_server(self._serve, "127.0.0.1", self.port, limit=1 << 20)
        self.server = self.loop.run_until_complete(start)
        self.ready.set()
        self.loop.run_forever()

    async def _serve(self, reader, writer):
        async def reply(text):
            await asyncio.sleep(self.delay)
            writer.write(text)
            await writer.drain()
        try:
            await reply(b"220 slow.bench.test ESMTP\r\n")
            while True:
                line = await reader.readline()
                if not line:
                    break
                verb = line[:4].upper()
                if verb == b"DATA":
                    await reply(b"354 go ahead\r\n")
                    while True:
                        body = await reader.readline()
                        if not body or body == b".\r\n":
                            break
                    self.count += 1
                    await reply(b"250 2.0.0 ok\r\n")
                elif verb == b"QUIT":
                    await reply(b"221 bye\r\n")
                    break
                else:
                    await reply(b"250 slow.bench.test\r\n")
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()

    async def _shutdown(self):
        self.server.close()
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def stop(self):
        if self.loop.is_running():
            done = asyncio.run_coroutine_threadsafe(self._shutdown(), self.loop)
            try:
                done.result(10)
            except Exception:  # noqa: BLE001 - best effort at exit
                pass
            self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


# ---------------------------------------------------------------- sink

class Sink:
    """smtp-sink with -c; a thread parses "sess=N quit=N mesg=N" updates (CR-separated)."""

    MESG = re.compile(rb"mesg=(\d+)")
    SESS = re.compile(rb"sess=(\d+)")

    def __init__(self, port):
        self.port = port
        self.count = 0
        self.sessions = 0          # SMTP sessions ended at the sink (connection churn shows here)
        self.first_t = None        # monotonic time of the first counted message
        self.times = []            # (monotonic, count) at each change
        self.cond = threading.Condition()
        self.proc = subprocess.Popen(
            [SINK, "-c", "-u", "postfix", "-m", "1024", f"127.0.0.1:{port}", "1024"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
        )
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()
        listening_or_stop(self, port, 10)

    def _read(self):
        buf = b""
        fd = self.proc.stdout.fileno()
        while True:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            now = time.monotonic()
            buf += chunk
            parts = buf.split(b"\r")
            buf = parts.pop()
            last = None
            for p in parts:
                m = self.MESG.search(p)
                if m:
                    last = int(m.group(1))
                m = self.SESS.search(p)
                if m:
                    self.sessions = int(m.group(1))
            if last is not None and last != self.count:
                with self.cond:
                    if self.first_t is None and last > 0:
                        self.first_t = now
                    self.count = last
                    self.times.append((now, last))
                    self.cond.notify_all()

    def wait_for(self, target, seconds):
        """Block until the count reaches target; return the monotonic time it did, or None."""
        deadline = time.monotonic() + seconds
        with self.cond:
            while self.count < target:
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.cond.wait(min(left, 0.5))
            for t, c in self.times:
                if c >= target:
                    return t
        return None

    def cpu(self):
        st = proc_stat(self.proc.pid)
        return st[1] if st else 0.0

    def stop(self):
        stop_proc(self.proc)


# ---------------------------------------------------------------- envoi

class Envoi:
    def __init__(self, binary, workdir, port, sink_port, sessions, extra_env=None, wrapper=None,
                 storage="spool", storage_keys="", queue_keys="", extra=""):
        self.port = port
        self.dir = os.path.join(workdir, "envoi")
        os.makedirs(self.dir, exist_ok=True)
        admin = free_port()
        conc = max(20, sessions)
        cfg = os.path.join(self.dir, "envoi.toml")
        with open(cfg, "w") as f:
            f.write(f"""hostname = "envoi.bench.test"

[smtp]
max_connections = {sessions + 64}
max_connections_per_ip = {sessions + 16}
max_messages_per_session = 1000000
reverse_dns = false

[[smtp.listener]]
address = "127.0.0.1:{port}"

[queue]
max_deliveries = {max(64, 2 * sessions)}
{queue_keys}

[relay]
smarthost = "smtp://127.0.0.1:{sink_port}"
tls = "none"
max_connections_per_destination = {conc}

[storage]
kind = "{storage}"
path = "{self.dir}/spool"
{storage_keys}

[admin]
address = "127.0.0.1:{admin}"

[log]
level = "warn"
{extra}
""")
        self.config = cfg
        self.log = open(os.path.join(self.dir, "stderr.log"), "wb")
        cmd = [binary, "serve", "--config", cfg]
        if wrapper:
            cmd = wrapper + cmd
        env = dict(os.environ, **(extra_env or {}))
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env=env)
        listening_or_stop(self, port, 60)

    def pids(self):
        return [self.proc.pid] if self.proc.poll() is None else []

    def cpu(self):
        st = proc_stat(self.proc.pid)
        return st[1] if st else 0.0

    def stop(self):
        stop_proc(self.proc, seconds=40)
        self.log.close()


# ---------------------------------------------------------------- postfix

MASTER_CF = """\
# service type  private unpriv  chroot  wakeup  maxproc command + args
127.0.0.1:{port} inet n       -       n       -       -       smtpd
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
{postlog}"""


def postfix_main_cf(base, sink_port, sessions, maillog):
    # smtp_connection_cache_destinations names a relay host without [] and port
    # (CONNECTION_CACHE_README), so "127.0.0.1" caches every connection to the sink.
    conc = max(20, sessions)
    lines = f"""\
compatibility_level = 3.6
config_directory = {base}/etc
queue_directory = {base}/spool
data_directory = {base}/data
meta_directory = /etc/postfix
mail_owner = postfix
setgid_group = postdrop
myhostname = postfix.bench.test
mydomain = bench.test
myorigin = $myhostname
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mydestination =
local_recipient_maps =
local_transport = error:local delivery is disabled
relay_domains =
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
relayhost = [127.0.0.1]:{sink_port}
disable_dns_lookups = yes
smtp_host_lookup = native
smtp_dns_support_level = disabled
smtpd_peername_lookup = no
message_size_limit = 52428800
in_flow_delay = 0
initial_destination_concurrency = {sessions}
default_destination_concurrency_limit = {conc}
smtp_destination_concurrency_limit = {conc}
default_destination_rate_delay = 0
smtp_connection_cache_on_demand = yes
smtp_connection_cache_destinations = 127.0.0.1
default_process_limit = {sessions + 50}
smtpd_client_connection_count_limit = 0
smtpd_client_connection_rate_limit = 0
smtpd_client_message_rate_limit = 0
smtpd_tls_security_level = none
smtp_tls_security_level = none
biff = no
append_dot_mydomain = no
smtputf8_enable = no
"""
    if maillog:
        lines += f"maillog_file_prefixes = {base}\nmaillog_file = {base}/maillog\n"
    return lines


class Postfix:
    def __init__(self, workdir, port, sink_port, sessions, maillog=False):
        self.port = port
        self.base = os.path.join(workdir, "postfix")
        self.etc = os.path.join(self.base, "etc")
        os.chmod(workdir, 0o755)  # the postfix user must traverse it (mkdtemp makes it 0700)
        for d in ("etc", "spool", "data"):
            os.makedirs(os.path.join(self.base, d), exist_ok=True)
        shutil.chown(os.path.join(self.base, "data"), "postfix", "postfix")
        with open(os.path.join(self.etc, "main.cf"), "w") as f:
            f.write(postfix_main_cf(self.base, sink_port, sessions, maillog))
        postlog = ("postlog   unix-dgram n  -       n       -       1       postlogd\n"
                   if maillog else "")
        with open(os.path.join(self.etc, "master.cf"), "w") as f:
            f.write(MASTER_CF.format(port=port, postlog=postlog))
        # postconf must accept the whole configuration without complaint.
        chk = subprocess.run([POSTCONF, "-c", self.etc, "-n"], capture_output=True, text=True,
                             timeout=30)
        if chk.returncode != 0 or "warning" in chk.stderr:
            raise RuntimeError(f"postconf -c {self.etc} rejected main.cf: {chk.stderr.strip()}")
        self.started = False
        r = subprocess.run([POSTFIX, "-c", self.etc, "start"], capture_output=True, text=True,
                           timeout=60)
        if r.returncode != 0:
            # postfix writes its reasons to syslog only, unless stderr is a tty.
            why = subprocess.run(["script", "-qc", f"{POSTFIX} -c {self.etc} check", "/dev/null"],
                                 capture_output=True, text=True, timeout=60)
            raise RuntimeError(f"postfix start failed: {r.stdout}{r.stderr}{why.stdout}")
        self.started = True
        self.master = None
        try:
            self.master = self._master_pid()
            wait_listening(port, 30)
        except Exception:
            self.stop()
            raise

    def _master_pid(self):
        path = os.path.join(self.base, "spool", "pid", "master.pid")
        for _ in range(100):
            try:
                with open(path) as f:
                    return int(f.read().split()[0])
            except (OSError, ValueError, IndexError):
                time.sleep(0.05)
        raise RuntimeError(f"no master pid in {path}")

    def pids(self):
        return [self.master] + children_of(self.master)

    def cpu(self):
        """master's own + reaped children's CPU, plus live children's."""
        st = proc_stat(self.master)
        if not st:
            return 0.0
        total = st[1] + st[2]
        for pid in children_of(self.master):
            c = proc_stat(pid)
            if c:
                total += c[1]
        return total

    def queued(self):
        n = 0
        for sub in ("incoming", "active", "deferred", "maildrop", "hold"):
            for _, _, files in os.walk(os.path.join(self.base, "spool", sub)):
                n += len(files)
        return n

    def stop(self):
        if not self.started:
            return
        subprocess.run([POSTFIX, "-c", self.etc, "stop"], capture_output=True, timeout=60)
        self.started = False
        if self.master is None:
            return
        # postfix stop signals master and returns; wait (bounded) until it is gone.
        for _ in range(200):
            if not alive(self.master):
                break
            time.sleep(0.05)
        else:
            try:
                os.kill(self.master, signal.SIGKILL)
            except ProcessLookupError:
                pass


# ---------------------------------------------------------------- postgres

def postgres_cpu():
    """CPU seconds (user + system) of every running `postgres` process: the server's share of a
    run is the difference over it (envoi's pooled sessions live through the whole run)."""
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        name = stat[stat.find("(") + 1:stat.rfind(")")]
        if name != "postgres" and not name.startswith("postgres:"):
            continue
        fields = stat[stat.rfind(")") + 2:].split()
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


def psql(url, sql):
    subprocess.run(["psql", url, "-qAt", "-v", "ON_ERROR_STOP=1", "-c", sql], check=True,
                   env=dict(os.environ, PGOPTIONS="-c client_min_messages=warning"),
                   stdout=subprocess.DEVNULL)
