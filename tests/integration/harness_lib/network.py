# SPDX-License-Identifier: MIT
"""Stand-ins on the network: ConnectionCounter (a URL that must never be
used) and TcpProxy (PagerDuty going down and coming back)."""

import select
import socket
import threading

from .settings import HarnessError


class ConnectionCounter:
    """A TCP listener on 127.0.0.1 that counts connections and answers
    nothing: a URL for configs that must never be used."""

    def __init__(self):
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self._sock.settimeout(0.2)
        self.count = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self._sock.getsockname()[1]

    def _run(self):
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self.count += 1
            conn.close()

    def close(self):
        self._stop.set()
        self._thread.join(timeout=5)
        self._sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


class TcpProxy:
    """A TCP forwarder on 127.0.0.1 in front of the simulator, to take
    PagerDuty "down" (connections refused, open ones reset) and bring it
    back on the same port with the simulator's state intact.

        with TcpProxy(sim.port) as proxy:
            url = proxy.url        # give this to the plugin
            proxy.down(); ...; proxy.up()
    """

    def __init__(self, target_port, target_host="127.0.0.1"):
        self.target = (target_host, target_port)
        self.port = None
        self._listener = None
        self._thread = None
        self._conns = set()
        self._lock = threading.Lock()
        self.connections = 0  # accepted so far (was the proxy used at all?)
        self.up()

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    @property
    def is_up(self):
        return self._listener is not None

    def up(self):
        if self._listener is not None:
            return
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", self.port or 0))
        except OSError as e:
            sock.close()
            raise HarnessError("proxy cannot listen on port %s again: %s"
                               % (self.port, e))
        sock.listen(64)
        sock.settimeout(0.1)
        self.port = sock.getsockname()[1]
        self._listener = sock
        self._thread = threading.Thread(target=self._accept, args=(sock,),
                                         daemon=True)
        self._thread.start()

    def down(self):
        """Stops listening (new connections are refused) and resets every
        open connection."""
        sock, self._listener = self._listener, None
        if sock is None:
            return
        self._thread.join(timeout=5)
        sock.close()
        with self._lock:
            conns, self._conns = self._conns, set()
        for c in conns:
            try:
                c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                             b"\x01\x00\x00\x00\x00\x00\x00\x00")
                c.close()
            except OSError:
                pass

    def close(self):
        self.down()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def _accept(self, listener):
        while self._listener is listener:
            try:
                client, _ = listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self.connections += 1
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._conns.update((client, upstream))
            threading.Thread(target=self._pump, args=(client, upstream),
                             daemon=True).start()

    def _pump(self, a, b):
        peers = {a: b, b: a}
        try:
            while True:
                ready, _, _ = select.select([a, b], [], [], 1.0)
                for s in ready:
                    data = s.recv(65536)
                    if not data:
                        return
                    peers[s].sendall(data)
        except (OSError, ValueError):
            pass
        finally:
            with self._lock:
                self._conns.discard(a)
                self._conns.discard(b)
            for s in (a, b):
                try:
                    s.close()
                except OSError:
                    pass
