"""Progress for notebooks and terminals: the CLI's stage lines and its search bar.

The engine reports progress as JSON lines (``microlearn run --progress json``); the server as
server-sent events. Both end up here. With tqdm installed the search is a bar (tqdm.auto picks
the notebook widget or the terminal one); without it the same information comes out as plain
lines, as the CLI prints in a log.
"""

from __future__ import annotations

import sys
from typing import Any, Callable, Optional, TextIO, Union

#: What ``progress=`` accepts: ``True`` (bar or lines), ``False``/``None`` (silent), or a
#: callable that receives every event as a dict (``event`` names it).
ProgressArg = Union[bool, None, Callable[[dict[str, Any]], None]]


def _tqdm() -> Optional[Any]:
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    return tqdm


class Progress:
    """Renders engine events; ``close()`` must be called when the run ends (or fails)."""

    def __init__(self, setting: ProgressArg, stream: Optional[TextIO] = None) -> None:
        self.callback = setting if callable(setting) else None
        self.enabled = bool(setting) and self.callback is None
        self.stream = stream or sys.stderr
        self.tqdm = _tqdm() if self.enabled else None
        self.bar: Any = None
        self.trials_shown = 0

    def _line(self, text: str) -> None:
        if self.bar is not None:
            self.bar.write(text, file=self.stream)
        else:
            print(text, file=self.stream, flush=True)

    def handle(self, event: dict[str, Any]) -> None:
        """One event from the engine (``microlearn run --progress json``)."""
        if self.callback is not None:
            self.callback(event)
            return
        if not self.enabled:
            return
        kind = event.get("event")
        if kind == "stage_finished":
            if event.get("stage") == "optimizing":
                self._close_bar()
            self._line(f"✓ {event['stage']:<11} {event['summary']} ({event['secs']:.1f} s)")
        elif kind == "note":
            self._line(f"  note: {event['message']}")
        elif kind == "search_started" and self.tqdm is not None:
            budget = float(event.get("budget_secs") or 0.0)
            self.bar = self.tqdm(
                total=round(budget, 1),
                desc="search",
                unit="s",
                file=self.stream,
                leave=False,
                bar_format="{desc} |{bar}| {n:.0f}/{total:.0f} s {postfix}",
            )
        elif kind == "trial":
            self._trial(event)

    def _trial(self, e: dict[str, Any]) -> None:
        best = e.get("best")
        best_text = "–" if best is None else f"{best:.4f}"
        if self.bar is not None:
            failed = f" ({e['failed']} failed)" if e.get("failed") else ""
            self.bar.set_postfix_str(
                f"{e['trials']} trials{failed} · best {e['metric']} {best_text}", refresh=False
            )
            self.bar.update(max(0.0, min(e["search_secs"], self.bar.total) - self.bar.n))
            return
        # Without a bar: the first trials and then every power of two, as the CLI's log does.
        n = int(e.get("trials", 0))
        if n <= 3 or n & (n - 1) == 0:
            score = e.get("score")
            if e.get("status") == "failed" or score is None:
                what = f"failed: {e.get('error') or '?'}"
            elif e.get("status") == "pruned":
                what = f"{score:.4f} (pruned at {100 * e['fidelity']:.0f}% fidelity)"
            else:
                what = f"{score:.4f}"
            self._line(
                f"  trial {e['number']:>4} {e['kind']:<8} {e['metric']} = {what}"
                f" · {n} trials, best {best_text}"
            )

    def server_event(self, kind: str, message: str, data: dict[str, Any]) -> None:
        """One event from ``/v1/pipelines/{id}/events``."""
        if self.callback is not None:
            self.callback({"event": kind, "message": message, "data": data})
            return
        if not self.enabled:
            return
        if kind == "trial_finished":
            self.trials_shown += 1
            n = self.trials_shown
            if self.bar is not None:
                self.bar.update(1)
                self.bar.set_postfix_str(message, refresh=False)
            elif n <= 3 or n & (n - 1) == 0:
                self._line(f"  trial {n}: {message}")
            return
        if kind == "stage_started" and data.get("stage") == "optimizing" and self.tqdm:
            # The server's events carry no budget clock; count trials instead.
            self.bar = self.tqdm(desc="search", unit=" trials", file=self.stream, leave=False)
            return
        if kind == "stage_finished":
            if data.get("stage") == "optimizing":
                self._close_bar()
            self._line(f"✓ {message}")
        elif kind in ("deployment", "log") and self.bar is None:
            self._line(f"  {message}")

    def _close_bar(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def close(self) -> None:
        self._close_bar()
