"""A TCP proxy the tests control: put it between the app and PostgreSQL or Redis, then cut it."""

from __future__ import annotations

import contextlib
import selectors
import socket
import threading
import time


class TcpProxy:
    """Forward 127.0.0.1:<port> to a target; `cut()` drops every connection and refuses new ones.

    `hang()` is the nastier fault: connections are still accepted, but nothing is
    forwarded either way (a frozen server, a black-holed network path), so a client
    without its own deadline waits forever. `restore()` ends either fault; connections
    held during a hang are then dropped.
    """

    def __init__(self, target_host: str, target_port: int):
        self.target = (target_host, target_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._open = True
        self._hung = False
        self._held: set[socket.socket] = set()
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def url_for(self, url: str) -> str:
        """Rewrite a service URL so it goes through this proxy."""
        host, port = self.target
        return url.replace(f"{host}:{port}", f"127.0.0.1:{self.port}")

    def cut(self) -> None:
        """Drop every open connection and refuse new ones, like a network partition."""
        with self._lock:
            self._open = False
            for sock in list(self._sockets):
                _close(sock)
            self._sockets.clear()

    def hang(self) -> None:
        """Accept connections but answer nothing, on new and open connections alike."""
        with self._lock:
            self._hung = True

    def restore(self) -> None:
        with self._lock:
            self._open = True
            if self._hung:
                self._hung = False
                for sock in list(self._sockets | self._held):
                    _close(sock)
                self._sockets.clear()
                self._held.clear()

    def close(self) -> None:
        self.cut()
        self._closed = True
        _close(self._listener)

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                if not self._open:
                    _close(client)
                    continue
                if self._hung:
                    self._held.add(client)  # accepted, never answered
                    continue
                try:
                    upstream = socket.create_connection(self.target, timeout=5)
                except OSError:
                    _close(client)
                    continue
                self._sockets.update((client, upstream))
            threading.Thread(target=self._pipe, args=(client, upstream), daemon=True).start()

    def _pipe(self, client: socket.socket, upstream: socket.socket) -> None:
        selector = selectors.DefaultSelector()
        selector.register(client, selectors.EVENT_READ, upstream)
        selector.register(upstream, selectors.EVENT_READ, client)
        try:
            while True:
                if self._hung:  # leave the bytes unread: neither side hears from the other
                    time.sleep(0.05)  # not select(): unread bytes would wake it at once, a busy loop
                    with self._lock:
                        if client not in self._sockets:
                            return
                    continue
                for key, _ in selector.select(timeout=0.5):
                    data = key.fileobj.recv(65536)
                    if not data:
                        return
                    key.data.sendall(data)
                with self._lock:
                    if client not in self._sockets:
                        return
        except (OSError, ValueError):
            return
        finally:
            selector.close()
            with self._lock:
                self._sockets.discard(client)
                self._sockets.discard(upstream)
            _close(client)
            _close(upstream)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()
