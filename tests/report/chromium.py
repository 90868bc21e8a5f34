"""Headless Chromium driven over the DevTools protocol (``--remote-debugging-pipe``), to
render a page, screenshot it and record every network request the *page* makes.

Chromium's own background traffic (component updates, time sync) is not page traffic and
does not appear in the page's ``Network`` domain, so it cannot make the check flaky.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import select
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--remote-debugging-pipe",
]


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


class Browser:
    """One Chromium process; commands go to its fd 3, replies and events come from fd 4."""

    def __init__(self, exe: str, profile: Path) -> None:
        cmd_r, self._cmd_w = os.pipe()
        self._ev_r, ev_w = os.pipe()

        def wire() -> None:  # in the child: the pipe ends become fds 3 and 4
            high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 10) for fd in (cmd_r, ev_w)]
            for fd, target in zip(high, (3, 4), strict=True):
                os.dup2(fd, target)  # clears close-on-exec on the copy
                os.set_inheritable(target, True)

        self.proc = subprocess.Popen(
            [exe, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
            preexec_fn=wire,
            close_fds=False,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(cmd_r)
        os.close(ev_w)
        self._buf = b""
        self._next = 0
        self.events: list[dict[str, Any]] = []

    def send(self, method: str, params: dict | None = None, session: str | None = None) -> dict:
        self._next += 1
        msg: dict[str, Any] = {"id": self._next, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self._cmd_w, json.dumps(msg).encode() + b"\0")
        while True:
            reply = self._read(timeout=30)
            if reply.get("id") == self._next:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})

    def _read(self, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while b"\0" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._ev_r], [], [], left)[0]:
                raise TimeoutError("no reply from chromium")
            chunk = os.read(self._ev_r, 1 << 20)
            if not chunk:
                raise RuntimeError("chromium exited")
            self._buf += chunk
        raw, self._buf = self._buf.split(b"\0", 1)
        msg = json.loads(raw)
        if "method" in msg:
            self.events.append(msg)
        return msg

    def wait_event(self, method: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not any(e["method"] == method for e in self.events):
            self._read(max(0.01, deadline - time.monotonic()))

    def drain(self, seconds: float) -> None:
        """Collect events for a while (late requests after the load event)."""
        deadline = time.monotonic() + seconds
        try:
            while time.monotonic() < deadline:
                self._read(deadline - time.monotonic())
        except TimeoutError:
            pass

    def close(self) -> None:
        try:
            self.send("Browser.close")
        except (RuntimeError, TimeoutError, OSError):
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._cmd_w)
        os.close(self._ev_r)


def render(
    exe: str,
    url: str,
    png: Path,
    profile: Path,
    width: int = 1280,
    height: int = 2000,
    evaluate: str | None = None,
) -> Any:
    """Load ``url`` in a ``width`` x ``height`` viewport; write a full-page screenshot to
    ``png``; return the URLs the page requested or, with ``evaluate`` (a JavaScript
    expression), ``(urls, value)`` where value is the expression's JSON-serializable result,
    evaluated after the load event (``Runtime.evaluate``, ``returnByValue``)."""
    browser = Browser(exe, profile)
    try:
        target = browser.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = browser.send("Target.attachToTarget", {"targetId": target, "flatten": True})[
            "sessionId"
        ]
        for method in ("Network.enable", "Page.enable"):
            browser.send(method, session=session)
        browser.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
            session=session,
        )
        browser.send("Page.navigate", {"url": url}, session=session)
        browser.wait_event("Page.loadEventFired")
        browser.drain(0.5)
        value = None
        if evaluate is not None:
            res = browser.send(
                "Runtime.evaluate", {"expression": evaluate, "returnByValue": True}, session
            )
            if "exceptionDetails" in res:
                raise RuntimeError(f"page script failed: {res['exceptionDetails']}")
            value = res["result"].get("value")
        shot = browser.send(
            "Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True}, session
        )
        png.write_bytes(base64.b64decode(shot["data"]))
        urls = [
            e["params"]["request"]["url"]
            for e in browser.events
            if e["method"] == "Network.requestWillBeSent" and e.get("sessionId") == session
        ]
        return urls if evaluate is None else (urls, value)
    finally:
        browser.close()
