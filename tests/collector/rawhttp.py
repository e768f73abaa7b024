"""Raw-socket HTTP for the abuse tests: requests no well-behaved client library would send."""

from __future__ import annotations

import socket


def exchange(port: int, raw: bytes, timeout: float = 10.0) -> tuple[int | None, bytes]:
    """Send `raw` bytes and read one answer (head + Content-Length body, or until the server closes);
    (status, whole answer). Status None: the connection was dropped without an HTTP answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        try:
            sock.sendall(raw)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered (and closed) before reading everything
        return read_answer(sock)


def read_answer(sock: socket.socket) -> tuple[int | None, bytes]:
    answer = b""
    try:
        while True:
            head, sep, body = answer.partition(b"\r\n\r\n")
            if sep:
                lengths = [line.split(b":", 1)[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")]
                if lengths and len(body) >= int(lengths[0]):
                    break
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
    except (ConnectionResetError, TimeoutError, socket.timeout):
        pass
    return status_of(answer), answer


def status_of(answer: bytes) -> int | None:
    if not answer.startswith(b"HTTP/1."):
        return None
    return int(answer.split(b" ", 2)[1])


def request(method: str, path: str, port: int, headers: dict[str, str] | list[tuple[str, str]], body: bytes = b"") -> bytes:
    """A request's bytes; headers exactly as given (no Content-Length unless given)."""
    items = headers.items() if isinstance(headers, dict) else headers
    head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n".encode()
    for name, value in items:
        head += name.encode() + b": " + value.encode("utf-8") + b"\r\n"
    return head + b"\r\n" + body


def chunked(body: bytes, size: int = 1000) -> bytes:
    parts = [body[i : i + size] for i in range(0, len(body), size)]
    return b"".join(f"{len(p):x}\r\n".encode() + p + b"\r\n" for p in parts) + b"0\r\n\r\n"
