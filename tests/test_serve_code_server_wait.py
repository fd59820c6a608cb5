"""``flywheel serve`` waiting for its code server (issue 22, item 14): when the port answers but the
server never loads, the timeout reports the last real error instead of only "did not answer"."""

from __future__ import annotations

import socket
import threading

import pytest

from orchestration.serve import ServeError, Server
from orchestration.settings import get_settings


def test_the_timeout_names_the_last_error(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLYWHEEL_HOME", str(tmp_path))
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    stop = threading.Event()

    def refuse() -> None:  # accepts and hangs up at once: the port is open, no gRPC behind it
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                listener.accept()[0].close()
            except OSError:
                continue

    thread = threading.Thread(target=refuse, daemon=True)
    thread.start()
    try:
        server = Server(settings=get_settings(), code_server_timeout=3.0, log=lambda _m: None)
        with pytest.raises(ServeError) as caught:
            server.wait_for_code_server(listener.getsockname()[1])
    finally:
        stop.set()
        thread.join()
        listener.close()
    assert "did not answer within 3s" in str(caught.value)
    assert "the last error was" in str(caught.value)
