"""PEP 517 backend: maturin, after laying the first-party plugin components into the wheel.

maturin builds the `microlearn` binary and packs it with the Python module, but the plugins are
WebAssembly components from a second cargo workspace (``plugins/``, target wasm32-wasip2) that
maturin knows nothing about. Before each wheel this backend builds them with
``scripts/build-plugins.sh`` (incremental: a warm cargo cache makes it a no-op) into
``$CARGO_TARGET_DIR/microlearn-plugins`` -- the folder the rest of the repository uses -- and
copies the first-party ones to ``build/wheel-data/data/share/microlearn/plugins``, maturin's
``data`` folder. ``MICROLEARN_WHEEL_PLUGINS=DIR`` uses already built ones instead.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Optional

import maturin

HERE = Path(__file__).resolve().parent.parent
REPO = HERE.parent
STAGE = HERE / "build" / "wheel-data" / "data" / "share" / "microlearn" / "plugins"


def _target_dir() -> Path:
    configured = os.environ.get("CARGO_TARGET_DIR")
    return Path(configured) if configured else REPO / "target"


def _build_plugins() -> Path:
    prebuilt = os.environ.get("MICROLEARN_WHEEL_PLUGINS")
    if prebuilt:
        return Path(prebuilt)
    out = _target_dir() / "microlearn-plugins"
    if shutil.which("rustup"):
        installed = subprocess.run(
            ["rustup", "target", "list", "--installed"], capture_output=True, text=True
        ).stdout.split()
        if "wasm32-wasip2" not in installed:
            subprocess.run(["rustup", "target", "add", "wasm32-wasip2"], check=True)
    # Progress to stderr: pip shows a build backend's stderr with -v and on failure.
    subprocess.run(
        ["bash", str(REPO / "scripts" / "build-plugins.sh"), str(out)],
        check=True,
        stdout=sys.stderr,
    )
    return out


def _stage_plugins() -> None:
    src = _build_plugins()
    manifests = sorted(src.glob("*/plugin.toml"))
    if not manifests:
        raise RuntimeError(
            f"no plugins (*/plugin.toml) in {src}: scripts/build-plugins.sh should have built them"
        )
    if STAGE.exists():
        shutil.rmtree(STAGE)
    STAGE.mkdir(parents=True)
    for manifest in manifests:
        shutil.copytree(manifest.parent, STAGE / manifest.parent.name)
    print(
        f"microlearn_build: {len(manifests)} plugins from {src} go into the wheel",
        file=sys.stderr,
    )


def build_wheel(
    wheel_directory: str,
    config_settings: Optional[dict[str, Any]] = None,
    metadata_directory: Optional[str] = None,
) -> str:
    _stage_plugins()
    return maturin.build_wheel(wheel_directory, config_settings, metadata_directory)


def build_editable(
    wheel_directory: str,
    config_settings: Optional[dict[str, Any]] = None,
    metadata_directory: Optional[str] = None,
) -> str:
    _stage_plugins()
    return maturin.build_editable(wheel_directory, config_settings, metadata_directory)


def build_sdist(sdist_directory: str, config_settings: Optional[dict[str, Any]] = None) -> str:
    return maturin.build_sdist(sdist_directory, config_settings)


get_requires_for_build_wheel = maturin.get_requires_for_build_wheel
get_requires_for_build_sdist = maturin.get_requires_for_build_sdist
get_requires_for_build_editable = maturin.get_requires_for_build_editable


def prepare_metadata_for_build_wheel(
    metadata_directory: str, config_settings: Optional[dict[str, Any]] = None
) -> str:
    # maturin checks that the data folder exists before it writes metadata; the plugins
    # themselves are laid in by build_wheel.
    STAGE.mkdir(parents=True, exist_ok=True)
    return maturin.prepare_metadata_for_build_wheel(metadata_directory, config_settings)


def prepare_metadata_for_build_editable(
    metadata_directory: str, config_settings: Optional[dict[str, Any]] = None
) -> str:
    STAGE.mkdir(parents=True, exist_ok=True)
    return maturin.prepare_metadata_for_build_editable(metadata_directory, config_settings)
