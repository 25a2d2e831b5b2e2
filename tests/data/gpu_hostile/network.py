# Cheat: phone home, e.g. to fetch answers (static: socket is not an allowed import; runtime:
# the audit hook refuses sockets, and the sandbox has no network).
import socket


def kernel(X, Y):
    socket.create_connection(("203.0.113.1", 80), timeout=1)
