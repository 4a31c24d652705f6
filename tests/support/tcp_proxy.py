"""A loopback TCP proxy that a test can cut: one process loses a server (its connections
reset, new ones refused) while others reach it directly. Or black-hole it: connections
are accepted and read, and nothing is forwarded or answered (a network that drops the
packets, a server that hangs), until `heal()`. Threads, no dependencies."""

from __future__ import annotations

import socket
import struct
import threading
from contextlib import suppress

from tests.infra._proc import free_ports


class CuttableProxy:
    """127.0.0.1:`port` forwards to 127.0.0.1:`target` until `cut()`."""

    def __init__(self, target: int) -> None:
        self.target = target
        self.port = free_ports(1)[0]
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._hole = threading.Event()  # set: read everything, forward nothing
        self.swallowed = 0  # bytes read and dropped while black-holed
        self._listener = socket.create_server(("127.0.0.1", self.port))
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # cut
            if self._hole.is_set():
                with self._lock:
                    self._sockets.append(client)
                threading.Thread(target=self._pump, args=(client, None), daemon=True).start()
                continue
            try:
                server = socket.create_connection(("127.0.0.1", self.target))
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets += [client, server]
            for src, dst in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket | None) -> None:
        with suppress(OSError):
            while data := src.recv(65536):
                if dst is None or self._hole.is_set():
                    self.swallowed += len(data)  # black hole: no answer, no error
                    continue
                dst.sendall(data)
        for sock in (src, dst):
            if sock is not None:
                with suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def black_hole(self) -> None:
        """From now on nothing gets through in either direction, on the open connections
        and on new ones (accepted, then silent); nobody is told."""
        self._hole.set()

    def heal(self) -> None:
        """Forward again. Connections open during the hole lost bytes, so they are reset
        (as a server that timed them out would); new ones go through."""
        self._reset_all()
        self._hole.clear()

    def cut(self) -> None:
        """Refuse new connections and reset the open ones."""
        with suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the accept (close alone does not)
        with suppress(OSError):
            self._listener.close()
        self._reset_all()

    def _reset_all(self) -> None:
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            with suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                sock.close()
