"""The rating page: a stdlib HTTP server on 127.0.0.1 that shows one comparison at a time.

The page (``page.html``) never learns which model made which output: images are addressed by comparison
id and screen side (``/image/<rater>/<comparison>/left``), and the server maps a side to a model with the
rater's fixed coin flip (``Study.sides``). Answers are recorded by :class:`AnswerLog` before the reply,
so stopping the server (Ctrl-C) at any time loses nothing.

JSON API (used by the page; handy for scripted checks):
  ``GET  /api/next?rater=R``  → ``{"done", "answered", "total", "comparison", "images"}``
  ``POST /api/answer`` ``{"rater", "comparison", "choice": left|right|tie, "latency_ms"}`` → the next one
"""

from __future__ import annotations

import json
import math
import mimetypes
import signal
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib.resources import files
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from adaptive_st.judge.study import AnswerLog, Study, StudyError, check_rater

HOST = "127.0.0.1"
DEFAULT_PORT = 8765
_MAX_BODY = 4096


class JudgeServer(ThreadingHTTPServer):
    """Serves one study; ``default_rater`` pre-fills the page's rater field."""

    daemon_threads = True

    def __init__(self, study: Study, port: int = DEFAULT_PORT, default_rater: str | None = None) -> None:
        self.study = study
        self.log = AnswerLog(study)
        self.default_rater = default_rater
        self.page = files("adaptive_st.judge").joinpath("page.html").read_text(encoding="utf-8")
        super().__init__((HOST, port), JudgeHandler)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.server_address[1]}/"

    def next_task(self, rater: str) -> dict[str, Any]:
        """What the page shows next for ``rater`` (never a model name)."""
        check_rater(rater)
        comparison = self.log.next(rater)
        task: dict[str, Any] = {"rater": rater, "done": comparison is None, "answered": self.log.answered(rater),
                                "total": len(self.study.comparisons)}
        if comparison is not None:
            base = f"/image/{rater}/{comparison.id}"
            task["comparison"] = comparison.id
            task["images"] = {slot: f"{base}/{slot}" for slot in ("content", "style", "left", "right")}
        return task

    def image_path(self, rater: str, comparison_id: str, slot: str) -> Path:
        check_rater(rater)
        comparison = self.study.comparison_by_id.get(comparison_id)
        if comparison is None:
            raise StudyError(f"unknown comparison {comparison_id!r}")
        pair = self.study.pair_by_id[comparison.pair]
        if slot in ("content", "style"):
            return self.study.file(pair.content_image if slot == "content" else pair.style_image)
        if slot not in ("left", "right"):
            raise StudyError(f"unknown image slot {slot!r}")
        left, right = self.study.sides(rater, comparison)
        return self.study.file(pair.outputs[(left if slot == "left" else right).id])


class JudgeHandler(BaseHTTPRequestHandler):
    server: JudgeServer
    server_version = "adaptive-st-judge"

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: one line per request would bury the server's own messages."""

    def _send(self, status: int, body: bytes, content_type: str, cache: bool = False) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "private, max-age=3600" if cache else "no-store")
        self.end_headers()
        self.wfile.write(body)

    def _json(self, data: dict[str, Any], status: int = HTTPStatus.OK) -> None:
        self._send(status, json.dumps(data).encode(), "application/json")

    def _error(self, status: int, message: str) -> None:
        self._json({"error": message}, status)

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        parts = [p for p in url.path.split("/") if p]
        try:
            if not parts:
                config = json.dumps({"defaultRater": self.server.default_rater})
                page = self.server.page.replace("/*CONFIG*/null", config)
                self._send(HTTPStatus.OK, page.encode(), "text/html; charset=utf-8")
            elif parts == ["api", "next"]:
                rater = parse_qs(url.query).get("rater", [""])[0]
                self._json(self.server.next_task(rater))
            elif len(parts) == 4 and parts[0] == "image":
                path = self.server.image_path(*parts[1:])
                kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
                self._send(HTTPStatus.OK, path.read_bytes(), kind, cache=True)
            else:
                self._error(HTTPStatus.NOT_FOUND, f"no such page: {url.path}")
        except StudyError as err:
            self._error(HTTPStatus.BAD_REQUEST, str(err))
        except OSError as err:
            self._error(HTTPStatus.NOT_FOUND, f"study file missing: {err}")

    def do_POST(self) -> None:
        if urlsplit(self.path).path != "/api/answer":
            self._error(HTTPStatus.NOT_FOUND, f"no such endpoint: {self.path}")
            return
        try:
            length = int(self.headers.get("Content-Length") or 0)
            if not 0 < length <= _MAX_BODY:
                raise StudyError("an answer is a small JSON object")
            data = json.loads(self.rfile.read(length))
            if not isinstance(data, dict):
                raise StudyError("an answer is a JSON object")
            latency = data.get("latency_ms")
            if latency is not None and not (isinstance(latency, int | float) and math.isfinite(latency)
                                            and latency >= 0):
                raise StudyError(f"latency_ms {latency!r}: expected a non-negative number of milliseconds")
            rater = str(data.get("rater", ""))
            recorded = self.server.log.record(rater, str(data.get("comparison", "")), str(data.get("choice", "")),
                                              None if latency is None else float(latency))
            self._json({**self.server.next_task(rater), "recorded": recorded})
        except (StudyError, ValueError) as err:  # json.JSONDecodeError is a ValueError
            self._error(HTTPStatus.BAD_REQUEST, str(err))


def serve(study: Study, port: int = DEFAULT_PORT, default_rater: str | None = None,
          announce: Any = print) -> None:
    """Serve until Ctrl-C; ``port=0`` picks a free port (the announced URL says which)."""
    try:
        server = JudgeServer(study, port, default_rater)
    except OSError as err:
        raise StudyError(f"cannot listen on {HOST}:{port} ({err.strerror}); pick another --port") from None
    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, stop)  # `kill` stops as cleanly as Ctrl-C
    with server:
        announce(f"serving {study.root} ({len(study.comparisons)} comparisons) at {server.url} — Ctrl-C to stop")
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            announce("stopped; every answer is in " + str(study.root / "answers"))
