"""Finding and running the native ``microlearn`` command.

The wheel installs the command beside the interpreter's scripts (``<prefix>/bin``) and the
first-party plugins under ``<prefix>/share/microlearn/plugins``; ``MICROLEARN_BIN`` points at
another build (a source checkout's ``target/release/microlearn``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import threading
import warnings
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

from .errors import MicroLearnError

_EXE = "microlearn.exe" if os.name == "nt" else "microlearn"


def binary() -> Path:
    """The ``microlearn`` executable this package drives."""
    configured = os.environ.get("MICROLEARN_BIN")
    if configured:
        path = Path(configured)
        if not path.is_file():
            raise MicroLearnError(f"MICROLEARN_BIN={configured}: no such file")
        return path
    candidates = [Path(sysconfig.get_path("scripts")) / _EXE, Path(sys.prefix) / "bin" / _EXE]
    if sys.platform != "win32":
        candidates.append(Path(sysconfig.get_path("scripts", f"{os.name}_user")) / _EXE)
    for path in candidates:
        if path.is_file():
            return path
    found = shutil.which("microlearn")
    if found:
        return Path(found)
    raise MicroLearnError(
        "the microlearn command is not installed: `pip install microlearn` (or ./python from a "
        "checkout) installs it, or set MICROLEARN_BIN to a built target/release/microlearn"
    )


def plugin_dir(exe: Path) -> Optional[Path]:
    """The first-party plugins installed with ``exe`` by the wheel, if it was."""
    path = exe.resolve().parent.parent / "share" / "microlearn" / "plugins"
    return path if path.is_dir() else None


def cache_dir() -> Path:
    """One precompiled-component cache for every fit: each fit has its own data directory,
    and compiling the plugins anew each time would cost about a second per fit."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "microlearn" / "python-plugin-cache"


def environment() -> dict[str, str]:
    """The engine's environment: the caller's, plus where the plugins and the cache are."""
    env = dict(os.environ)
    exe = binary()
    plugins = plugin_dir(exe)
    if plugins is not None:
        extra = env.get("MICROLEARN_PLUGIN_PATH")
        # Later folders win by id, so the user's own folders override the bundled ones.
        env["MICROLEARN_PLUGIN_PATH"] = f"{plugins}{os.pathsep}{extra}" if extra else str(plugins)
    env.setdefault("MICROLEARN_CACHE_DIR", str(cache_dir()))
    return env


def _error_message(lines: list[str]) -> str:
    errors = [line[len("error: ") :] for line in lines if line.startswith("error: ")]
    if errors:
        return "\n".join(errors)
    tail = [line for line in lines if line.strip()]
    return "\n".join(tail[-5:]) or "the microlearn command failed without a message"


def run(
    args: Sequence[str],
    *,
    on_event: Optional[Callable[[dict[str, Any]], None]] = None,
    rename: Optional[dict[str, str]] = None,
) -> str:
    """Run ``microlearn ARGS``; return its stdout.

    stderr is read line by line while the engine runs: JSON objects (``--progress json``) go to
    ``on_event``, ``warning:`` lines become Python warnings, and on a non-zero exit the
    ``error:`` lines become a :class:`MicroLearnError`. ``rename`` maps temporary file names in
    messages back to what the caller passed (``<DataFrame>``), so errors name the user's data.
    """
    exe = binary()
    env = environment()

    def readable(text: str) -> str:
        for old, new in (rename or {}).items():
            text = text.replace(old, new)
        return text

    try:
        proc = subprocess.Popen(
            [str(exe), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            env=env,
            text=True,
            encoding="utf-8",
            errors="replace",
        )
    except OSError as e:
        raise MicroLearnError(f"cannot start {exe}: {e}") from e
    out: list[str] = []
    # stdout is drained on its own thread so a large --json outcome cannot block the engine
    # while this thread waits on stderr.
    reader = threading.Thread(target=lambda: out.append(proc.stdout.read()), daemon=True)  # type: ignore[union-attr]
    reader.start()
    lines: list[str] = []
    try:
        for raw in proc.stderr:  # type: ignore[union-attr]
            line = readable(raw.rstrip("\n"))
            if line.startswith("{"):
                try:
                    event = json.loads(line)
                except ValueError:
                    event = None
                if isinstance(event, dict) and "event" in event:
                    if on_event is not None:
                        on_event(event)
                    continue
            lines.append(line)
            if line.startswith("warning: "):
                warnings.warn(line[len("warning: ") :], RuntimeWarning, stacklevel=3)
        code = proc.wait()
    except BaseException:
        # Ctrl-C in a notebook: stop the engine rather than leave it training.
        proc.kill()
        proc.wait()
        raise
    reader.join()
    if code != 0:
        raise MicroLearnError(_error_message(lines), returncode=code, stderr="\n".join(lines))
    return "".join(out)


class Workdir:
    """A temporary folder for one engine call (inputs, outputs, data directory)."""

    def __init__(self) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="microlearn-")
        self.path = Path(self._tmp.name)

    def __enter__(self) -> "Workdir":
        return self

    def __exit__(self, *exc: object) -> None:
        self._tmp.cleanup()
