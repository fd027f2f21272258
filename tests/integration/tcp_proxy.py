"""A TCP proxy between one node and its etcd that a test can cut and
restore: a partition of that node from etcd while the others still reach it
(tc netem does not work here, and a SIGSTOP of etcd would cut every node)."""

import socket
import threading

from broker import free_port


class TcpProxy:
    def __init__(self, target_port, host="127.0.0.1"):
        self.target = (host, target_port)
        self.port = free_port()
        self._cut = threading.Event()
        self._lock = threading.Lock()
        self._sockets = set()
        self._listener = None
        self._stopped = threading.Event()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def start(self):
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", self.port))
        self._listener.listen(64)
        self._listener.settimeout(0.2)
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def cut(self):
        """Closes every forwarded connection; new ones are closed at once."""
        self._cut.set()
        with self._lock:
            for s in list(self._sockets):
                self._close(s)

    def restore(self):
        self._cut.clear()

    def stop(self):
        self._stopped.set()
        self.cut()
        self._listener.close()

    def _close(self, s):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        s.close()
        self._sockets.discard(s)

    def _accept(self):
        while not self._stopped.is_set():
            try:
                client, _ = self._listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            if self._cut.is_set():
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=2)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                self._sockets.update((client, upstream))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, src, dst):
        try:
            while True:
                data = src.recv(65536)
                if not data or self._cut.is_set():
                    break
                dst.sendall(data)
        except OSError:
            pass
        with self._lock:
            self._close(src)
            self._close(dst)
