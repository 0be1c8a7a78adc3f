#!/usr/bin/env python3
"""Opens an HTML report in headless Chromium (DevTools protocol over a pipe, stdlib only) and
checks it as a reader's browser would show it:

- no console error, no uncaught exception, no log entry of level error (a blocked request or a
  Content-Security-Policy violation is one);
- no network request attempted besides the report's own file:// URL and its embedded data: images
  (every request the page
  makes is recorded with Network.requestWillBeSent; the browser also runs with a dead proxy and
  no name resolution, so nothing could leave the machine anyway);
- at least MIN_CHARTS charts (svg.chart), each with a non-zero rendered size, on screen and in
  print layout; no chart left out;
- clicking a sortable table's header sorts it without an error;
- a screenshot (written to SHOT) is not blank.

- no JavaScript dialog opened (an injected `alert()` would open one);
- with TEXT, the page shows TEXT as text (e.g. a model named `<script>alert(1)</script>`).

Usage: report_browser.py CHROMIUM REPORT.html SHOT.png MIN_CHARTS [TEXT]
Prints one line per check; exits non-zero on the first failure.
"""

import base64
import json
import os
import struct
import subprocess
import sys
import tempfile
import time
import zlib

TIMEOUT_S = 30


class Cdp:
    """The DevTools protocol over --remote-debugging-pipe: NUL-terminated JSON messages, the
    browser reading fd 3 and writing fd 4."""

    def __init__(self, chromium, profile):
        to_browser_r, self.to_browser = os.pipe()
        self.from_browser, from_browser_w = os.pipe()
        # Park the child's ends at high numbers, then move them to 3 and 4 in the child.
        os.dup2(to_browser_r, 100)
        os.dup2(from_browser_w, 101)
        os.close(to_browser_r)
        os.close(from_browser_w)

        def child():
            os.dup2(100, 3)
            os.dup2(101, 4)

        self.proc = subprocess.Popen(
            [
                chromium,
                "--headless",
                "--remote-debugging-pipe",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-extensions",
                "--proxy-server=127.0.0.1:9",
                "--host-resolver-rules=MAP * ~NOTFOUND",
                f"--user-data-dir={profile}",
                "about:blank",
            ],
            close_fds=False,
            preexec_fn=child,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(100)
        os.close(101)
        self.buf = b""
        self.next_id = 0
        self.events = []

    def _read_message(self, deadline):
        while b"\0" not in self.buf:
            if time.monotonic() > deadline:
                raise TimeoutError("no answer from the browser")
            chunk = os.read(self.from_browser, 1 << 20)
            if not chunk:
                raise RuntimeError("the browser closed the pipe")
            self.buf += chunk
        msg, self.buf = self.buf.split(b"\0", 1)
        return json.loads(msg)

    def send(self, method, params=None, session=None):
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self.to_browser, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + TIMEOUT_S
        while True:
            m = self._read_message(deadline)
            if m.get("id") == self.next_id:
                if "error" in m:
                    raise RuntimeError(f"{method}: {m['error']}")
                return m.get("result", {})
            self.events.append(m)

    def wait_event(self, method):
        deadline = time.monotonic() + TIMEOUT_S
        for m in self.events:
            if m.get("method") == method:
                return m
        while True:
            m = self._read_message(deadline)
            self.events.append(m)
            if m.get("method") == method:
                return m

    def close(self):
        try:
            self.send("Browser.close")
        except Exception:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def png_pixels(data):
    """(width, height, rows of RGBA bytes) of an 8-bit RGB/RGBA PNG (what Chromium writes)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, width = 8, b"", 0
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour = struct.unpack(">IIBB", body[:10])
            assert depth == 8 and colour in (2, 6), f"PNG depth {depth} colour {colour}"
            bpp = 4 if colour == 6 else 3
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = width * bpp
    rows, prev = [], bytearray(stride)
    for y in range(height):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = line
    return width, height, bpp, rows


def main():
    chromium, report, shot, min_charts = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    text = sys.argv[5] if len(sys.argv) > 5 else None
    url = "file://" + os.path.abspath(report)
    failures = []

    def check(ok, what):
        print(("ok   " if ok else "FAIL ") + what)
        if not ok:
            failures.append(what)

    with tempfile.TemporaryDirectory() as profile:
        cdp = Cdp(chromium, profile)
        try:
            target = cdp.send("Target.createTarget", {"url": "about:blank"})["targetId"]
            s = cdp.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
            for domain in ("Page", "Runtime", "Log", "Network"):
                cdp.send(f"{domain}.enable", session=s)
            cdp.send(
                "Emulation.setDeviceMetricsOverride",
                {"width": 1366, "height": 900, "deviceScaleFactor": 1, "mobile": False},
                session=s,
            )
            cdp.events.clear()
            cdp.send("Page.navigate", {"url": url}, session=s)
            cdp.wait_event("Page.loadEventFired")

            def js(expr):
                r = cdp.send(
                    "Runtime.evaluate", {"expression": expr, "returnByValue": True}, session=s
                )
                if "exceptionDetails" in r:
                    raise RuntimeError(f"{expr}: {r['exceptionDetails']}")
                return r["result"].get("value")

            sizes_js = (
                "JSON.stringify(Array.from(document.querySelectorAll('svg.chart'))"
                ".map(function(e){var r=e.getBoundingClientRect();return [r.width,r.height]}))"
            )
            sizes = json.loads(js(sizes_js))
            check(len(sizes) >= min_charts, f"{len(sizes)} charts (svg.chart), at least {min_charts}")
            zero = [i for i, (w, h) in enumerate(sizes) if not (w > 0 and h > 0)]
            check(not zero, f"every chart has a non-zero rendered size (smallest {min(sizes, default=[0, 0])})")
            left_out = js("document.body.innerText.indexOf('chart left out')")
            check(left_out == -1, "no chart was left out as unsafe")
            if text is not None:
                shown = js(f"document.body.innerText.includes({json.dumps(text)})")
                check(shown, f"the page shows {text!r} as text")
            rows = js("document.querySelectorAll('table.verdicts tbody tr').length")
            check(rows > 0 or min_charts == 0, f"{rows} verdict table rows")
            png = base64.b64decode(cdp.send("Page.captureScreenshot", {"format": "png"}, session=s)["data"])
            with open(shot, "wb") as f:
                f.write(png)
            small = base64.b64decode(
                cdp.send(
                    "Page.captureScreenshot",
                    {"format": "png", "clip": {"x": 0, "y": 0, "width": 1366, "height": 900, "scale": 0.25}},
                    session=s,
                )["data"]
            )
            w, h, bpp, px = png_pixels(small)
            colours, ink = set(), 0
            for row in px:
                for i in range(0, len(row), bpp):
                    rgb = row[i : i + 3]
                    colours.add(rgb)
                    if sum(rgb) < 600:
                        ink += 1
            share = ink / (w * h)
            check(
                len(colours) > 8 and share > 0.005,
                f"screenshot not blank: {len(colours)} colours, {share:.1%} dark pixels ({shot})",
            )
            # Sorting: a click on a sortable table's first header sorts by it (numerically where
            # the cells carry numbers), a second click reverses.
            order = js(
                "var t=document.querySelector('table.sortable');var out=[];"
                "if(t){var th=t.querySelector('th');var col=function(){return Array.from(t.tBodies[0].rows)"
                ".map(function(r){var c=r.cells[0];return c.dataset.v!==undefined?parseFloat(c.dataset.v):c.textContent.trim()})};"
                "th.click();out.push(col());th.click();out.push(col());}JSON.stringify(out)"
            )
            order = json.loads(order)
            if order:
                up, down = order
                check(
                    up == sorted(up) and down == sorted(up, reverse=True),
                    f"sorting by the first column: {up[:4]} then {down[:4]}",
                )
            # Print layout keeps every chart.
            cdp.send("Emulation.setEmulatedMedia", {"media": "print"}, session=s)
            psizes = json.loads(js(sizes_js))
            check(
                len(psizes) == len(sizes) and all(w > 0 and h > 0 for w, h in psizes),
                "every chart has a non-zero size in print layout",
            )
            cdp.send("Emulation.setEmulatedMedia", {"media": ""}, session=s)
            resources = js("performance.getEntriesByType('resource').length")
            check(resources == 0, f"{resources} resources loaded by the page (performance API)")

            # Events gathered while loading and checking.
            requests = [
                e["params"]["request"]["url"]
                for e in cdp.events
                if e.get("method") == "Network.requestWillBeSent"
            ]
            # data: URLs (the run timelines the report embeds as images) are content of the
            # page itself, not requests that could leave the machine.
            others = [u for u in requests if u != url and not u.startswith("data:")]
            dialogs = [e for e in cdp.events if e.get("method") == "Page.javascriptDialogOpening"]
            check(not dialogs, f"no JavaScript dialog opened ({len(dialogs)})")
            check(not others, f"no network request besides the report itself ({len(others)} other request(s): {[u[:80] for u in others[:5]]})")
            errors = []
            for e in cdp.events:
                m, p = e.get("method"), e.get("params", {})
                if m == "Runtime.exceptionThrown":
                    errors.append(json.dumps(p.get("exceptionDetails", {}))[:300])
                elif m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert", "warning"):
                    errors.append(json.dumps(p.get("args", []))[:300])
                elif m == "Log.entryAdded" and p.get("entry", {}).get("level") in ("error", "warning"):
                    errors.append(p["entry"].get("text", "")[:300])
                elif m == "Network.loadingFailed":
                    errors.append("loading failed: " + json.dumps(p)[:300])
            check(not errors, f"no console error or warning ({errors[:3]})")
        finally:
            cdp.close()
    if failures:
        print(f"report_browser: {len(failures)} check(s) failed for {report}")
        sys.exit(1)
    print(f"report_browser: every check passed for {report}")


if __name__ == "__main__":
    main()
