"""A TCP proxy to PostgreSQL that loses the server's reply to a COMMIT, on demand.

The server has committed by the time it answers ``COMMIT``; dropping the connection
there leaves the client not knowing whether its transaction is stored: the fault that
makes a naive retry store a batch twice.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from urllib.parse import urlsplit

__all__ = ["LossyProxy"]

# A CommandComplete message: 'C', its length (4 + 7), and the tag "COMMIT\0".
COMMIT_DONE = b"C\x00\x00\x00\x0bCOMMIT\x00"


class LossyProxy:
    """Forwards 127.0.0.1:``port`` to the server of ``url``.

    While ``lose_commits`` is above zero, a server reply holding a completed COMMIT is
    not forwarded: the connection is cut instead, and ``lose_commits`` decreases.
    """

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self._target = (parts.hostname or "127.0.0.1", parts.port or 5432)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self.url = parts._replace(netloc=f"{parts.username}@127.0.0.1:{self.port}").geturl()
        self.lose_commits = 0
        self.lost = 0
        self._lock = threading.Lock()
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(self._target)
            threading.Thread(target=self._pump, args=(client, server, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, True), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, replies: bool) -> None:
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                if replies and COMMIT_DONE in data and self._take_loss():
                    break
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()

    def _take_loss(self) -> bool:
        with self._lock:
            if self.lose_commits <= 0:
                return False
            self.lose_commits -= 1
            self.lost += 1
            return True

    def close(self) -> None:
        self._closed = True
        self._listener.close()
