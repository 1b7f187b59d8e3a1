"""Health checks of the seed config's Galera VIP (`listen mariadb` of
../shared/seed-configs/openstack-vip.cfg: one active node, two backups, checked on the
clustercheck port 9200) and `option allbackups`, on loopback stand-ins.

The mariadb section is taken from the seed file's text and only its addresses are rewritten:
the VIP becomes 127.0.0.1:<free port>, node 20.20.0.2X becomes 127.0.0.2X (same data port
for all, like 3306 in the seed) and `port 9200` becomes one free port, on which each node
listens on its own address. inter/downinter/rise/fall/slowstart are the seed's.

Every stand-in node accepts, writes its name and closes, so a client connecting through the
proxy reads which node served it. (The checks themselves cannot be counted at the listener:
HAProxy's layer-4 check turns off TCP_QUICKACK and resets the connection as soon as the SYN-ACK
arrives, so the server never completes the handshake and accept() never sees it. Timings are
therefore measured from the proxy's messages.)

Timing tolerance (as in test_health.py): a transition must happen after at least (n-1)
intervals and at most n intervals + 1 s from the failure/recovery (n = fall or rise; the
recovery also waits `downinter` for the first check), which absorbs start-up spread and
scheduling on this shared 2-core machine. Where the phase of the checks is known (the recovery:
the port is back before the first check after the DOWN, which is due exactly `downinter`
after it), the UP must come within -0.3 s/+1 s of downinter + (rise-1) * fastinter."""

import re
import socket
import threading
import time
from collections import Counter

import pytest

from test_health import ProxyWithMessages
from harness import SEEDS
from test_process import free_port, port_open, wait_for, write_cfg
SEED = SEEDS / "openstack-vip.cfg"

SECTION_RE = re.compile(r"^(global|defaults|frontend|backend|listen|peers|resolvers|userlist|"
                        r"program|mailers|cache|ring|http-errors)\b(.*)$")


class NamedServer:
    """Listens on host:port; each accepted connection gets `name` and is closed. The accept
    times are recorded (monotonic). Stops by itself at stop() (and is a daemon thread)."""

    def __init__(self, host, port, name):
        self.host, self.port, self.name = host, port, name
        self.accepts = []
        self.s = socket.socket()
        self.s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.s.bind((host, port))
        self.s.listen(64)
        self.s.settimeout(0.05)
        self.running = True
        self.t = threading.Thread(target=self._loop, daemon=True)
        self.t.start()

    def _loop(self):
        while self.running:
            try:
                c, _ = self.s.accept()
            except OSError:
                continue
            self.accepts.append(time.monotonic())
            try:
                c.settimeout(1)
                c.sendall(self.name.encode())
            except OSError:
                pass  # an L4 health check closes at once (often with a reset)
            finally:
                c.close()

    def stop(self):
        if self.running:
            self.running = False
            self.t.join(2)
            self.s.close()  # from now on: "Connection refused"


def ask(port, timeout=5.0):
    """Connect through the proxy and return the name of the node that answered ('' if none)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        data = b""
        while True:
            try:
                chunk = s.recv(4096)
            except ConnectionResetError:
                break
            if not chunk:
                break
            data += chunk
    return data.decode()


def free_port_on(hosts):
    """A port that is free on every one of `hosts` (loopback addresses)."""
    for _ in range(50):
        socks = []
        try:
            first = socket.socket()
            socks.append(first)
            first.bind((hosts[0], 0))
            port = first.getsockname()[1]
            for h in hosts[1:]:
                s = socket.socket()
                socks.append(s)
                s.bind((h, port))
            return port
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise AssertionError(f"no port free on all of {hosts}")


def seed_sections(text):
    """{'listen mariadb': [lines...], 'defaults': [...], ...} of a config's text."""
    sections, current = {}, None
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        m = SECTION_RE.match(line)
        if m:
            current = (m.group(1) + " " + m.group(2).strip()).strip()
            sections[current] = []
        elif current is not None:
            sections[current].append(line.strip())
    return sections


def mariadb_cfg(vip_port, data_port, check_port):
    """The seed's `listen mariadb` with loopback addresses, and a minimal global + defaults.
    Returns (config text, [(server name, loopback address), ...] in config order)."""
    sections = seed_sections(SEED.read_text())
    listen = sections["listen mariadb"]
    defaults = [l for l in sections["defaults"] if not re.match(r"log\b|option\s+httplog\b", l)]
    assert "default-server port 9200 inter 2s downinter 5s rise 3 fall 2 slowstart 60s" in listen, listen
    out, servers = [], []
    for line in listen:
        if line.startswith("bind "):
            assert line == "bind 20.20.0.5:3306", line
            line = f"bind 127.0.0.1:{vip_port}"
        elif line.startswith("server "):
            m = re.match(r"server (\S+) \d+\.\d+\.\d+\.(\d+):3306(.*)$", line)
            assert m, line
            addr = f"127.0.0.{m.group(2)}"
            servers.append((m.group(1), addr))
            line = f"server {m.group(1)} {addr}:{data_port}{m.group(3)}"
        elif line.startswith("default-server "):
            line = line.replace("port 9200", f"port {check_port}")
        out.append(line)
    assert [a for _, a in servers] == ["127.0.0.20", "127.0.0.21", "127.0.0.22"], servers
    text = "global\n    nbthread 1\n    maxconn 4000\n"
    text += "defaults\n" + "".join(f"    {l}\n" for l in defaults)
    text += "listen mariadb\n" + "".join(f"    {l}\n" for l in out)
    return text, servers


def test_seed_mariadb_vip_fails_over_to_the_first_backup_and_back(tmp_path, impl):
    inter, downinter, rise, fall = 2.0, 5.0, 3, 2
    hosts = ["127.0.0.20", "127.0.0.21", "127.0.0.22"]
    data_port, check_port, vip = free_port_on(hosts), free_port_on(hosts), free_port()
    while check_port == data_port:
        check_port = free_port_on(hosts)
    text, servers = mariadb_cfg(vip, data_port, check_port)
    (n1, a1), (n2, a2), (n3, a3) = servers
    data = {n: NamedServer(a, data_port, n) for n, a in servers}
    checks = {n: NamedServer(a, check_port, n) for n, a in servers}
    proxy = ProxyWithMessages(impl, write_cfg(tmp_path, text))
    try:
        wait_for(lambda: port_open(vip), what="VIP listener")

        # (a) only the active node serves while it is UP (the backups are UP too, but unused).
        # This runs for one full `inter` so that the active node has passed a check and is at
        # full health (HAProxy starts a server at health = rise: "up, but will fall down at
        # first failure"; one good check raises it to rise + fall - 1).
        served, until = [], time.monotonic() + inter + 0.3
        while time.monotonic() < until:
            served.append(ask(vip))
            time.sleep(0.05)
        assert set(served) == {n1}, Counter(served)
        assert proxy.state_lines() == [], proxy.state_lines()

        # (b) clustercheck port of the active node closed (the data port stays open):
        # DOWN after fall (2) refused checks, `inter` (2 s) apart.
        checks[n1].stop()
        closed = time.monotonic()
        at_down = proxy.wait_line(rf"Server mariadb/{n1} is DOWN", timeout=fall * inter + 2)
        print(f"\n{impl}: DOWN {at_down - closed:.2f}s after the check port closed")
        assert (fall - 1) * inter <= at_down - closed <= fall * inter + 1.0, at_down - closed
        # The port answers again at once; the next check is only due `downinter` after the DOWN.
        checks[n1] = NamedServer(a1, check_port, n1)
        reopened = time.monotonic()
        # Traffic goes to the first backup only (no `option allbackups`), never the second.
        assert Counter(ask(vip) for _ in range(6)) == {n2: 6}
        assert data[n3].accepts == []
        assert proxy.state_lines() == [
            f'WARNING: Server mariadb/{n1} is DOWN, reason: Layer4 connection problem, info: "Connection refused", '
            f'check duration: Nms. 0 active and 2 backup servers left. Running on backup. '
            f'0 sessions active, 0 requeued, 0 remaining in queue.',
        ], proxy.state_lines()

        # (c) UP again after rise (3) good checks: the first one `downinter` (5 s) after the
        # DOWN (the node is fully down), then two more at fastinter (= inter, 2 s) while it
        # rises: UP 5 + 2 + 2 = 9 s after the DOWN (with inter for both it would be 6 s, with
        # downinter for all three 15 s).
        expected = downinter + (rise - 1) * inter
        at_up = proxy.wait_line(rf"Server mariadb/{n1} is UP", timeout=expected + 2, after=reopened)
        print(f"{impl}: UP {at_up - at_down:.2f}s after the DOWN, {at_up - reopened:.2f}s after the port reopened")
        assert (rise - 1) * inter <= at_up - reopened <= expected + 1.0, at_up - reopened
        assert expected - 0.3 <= at_up - at_down <= expected + 1.0, at_up - at_down
        # slowstart 60s only lowers the active node's weight: as the only active server UP it
        # still takes every new connection at once; the backups are left.
        assert Counter(ask(vip) for _ in range(6)) == {n1: 6}
        assert data[n3].accepts == []
        assert proxy.state_lines()[1:] == [
            f"WARNING: Server mariadb/{n1} is UP, reason: Layer4 check passed, check duration: Nms. "
            f"1 active and 2 backup servers online. 0 sessions requeued, 0 total in queue.",
        ], proxy.state_lines()
        print("\n".join(line for _, line in proxy.lines))
    finally:
        proxy.stop()
        for s in [*data.values(), *checks.values()]:
            s.stop()


@pytest.mark.parametrize("allbackups", [True, False], ids=["allbackups", "first-backup-only"])
def test_allbackups_spreads_over_every_backup_and_hands_back(tmp_path, impl, allbackups):
    inter, rise, fall = 0.3, 2, 1
    ports = {n: free_port() for n in ("a", "b1", "b2")}
    port = free_port()
    nodes = {n: NamedServer("127.0.0.1", p, n) for n, p in ports.items()}
    opts = "    option allbackups\n" if allbackups else ""
    text = f"""
global
    nbthread 1
defaults
    mode tcp
    timeout connect 500ms
    timeout client 5s
    timeout server 5s
listen be
    bind 127.0.0.1:{port}
    balance roundrobin
{opts}    server a 127.0.0.1:{ports['a']} check inter 300ms rise {rise} fall {fall}
    server b1 127.0.0.1:{ports['b1']} check inter 300ms rise {rise} fall {fall} backup
    server b2 127.0.0.1:{ports['b2']} check inter 300ms rise {rise} fall {fall} backup
"""
    proxy = ProxyWithMessages(impl, write_cfg(tmp_path, text))
    try:
        wait_for(lambda: port_open(port), what="listener")
        # fall 1, rise 2: a server starts at full health (rise + fall - 1 = rise), no warm-up.
        assert Counter(ask(port) for _ in range(6)) == {"a": 6}

        nodes["a"].stop()
        stopped = time.monotonic()
        at = proxy.wait_line(r"Server be/a is DOWN", timeout=fall * inter + 2)
        down_after = at - stopped
        assert (fall - 1) * inter <= down_after <= fall * inter + 1.0, down_after
        served = [ask(port) for _ in range(6)]
        if allbackups:
            assert Counter(served) == {"b1": 3, "b2": 3}, served  # roundrobin over both backups
            assert all(x != y for x, y in zip(served, served[1:])), served
        else:
            assert Counter(served) == {"b1": 6}, served  # the first backup only

        nodes["a"] = NamedServer("127.0.0.1", ports["a"], "a")
        restarted = time.monotonic()
        at = proxy.wait_line(r"Server be/a is UP", timeout=rise * inter + 2, after=restarted)
        up_after = at - restarted
        assert (rise - 1) * inter <= up_after <= rise * inter + 1.0, up_after
        assert Counter(ask(port) for _ in range(6)) == {"a": 6}
        # "Running on backup." in both cases: allbackups does not change the message.
        assert proxy.state_lines() == [
            'WARNING: Server be/a is DOWN, reason: Layer4 connection problem, info: "Connection refused", '
            'check duration: Nms. 0 active and 2 backup servers left. Running on backup. '
            '0 sessions active, 0 requeued, 0 remaining in queue.',
            "WARNING: Server be/a is UP, reason: Layer4 check passed, check duration: Nms. "
            "1 active and 2 backup servers online. 0 sessions requeued, 0 total in queue.",
        ], proxy.state_lines()
        print(f"\n{impl} {'allbackups' if allbackups else 'first backup only'}: served while a was DOWN: {served}; "
              f"DOWN {down_after:.2f}s after a stopped, UP {up_after:.2f}s after it restarted")
        print("\n".join(line for _, line in proxy.lines))
    finally:
        proxy.stop()
        for n in nodes.values():
            n.stop()
