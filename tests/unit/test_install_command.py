"""The install command the missing-extra messages print works for how cio-pipeline was
installed (it is not on PyPI: ``pip install 'cio-pipeline[x]'`` only fits an index install)."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import pytest

from cio_pipeline.worker.core.extras import MissingExtra
from cio_pipeline.worker.core.install import (
    InstallOrigin,
    install_command,
    install_origin,
    origin_from_direct_url,
    script_command,
)

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("record", "origin"),
    [
        (  # pip install -e . / uv sync
            {"url": "file:///src/cio%20pipeline", "dir_info": {"editable": True}},
            InstallOrigin("/src/cio pipeline", editable=True, installer="pip"),
        ),
        (  # pip install /path/to/checkout
            {"url": "file:///src/cio-pipeline", "dir_info": {}},
            InstallOrigin("/src/cio-pipeline", editable=False, installer="pip"),
        ),
        (  # pip install dist/cio_pipeline-0.1.0-py3-none-any.whl
            {"url": "file:///dist/cio_pipeline-0.1.0-py3-none-any.whl", "archive_info": {}},
            InstallOrigin("/dist/cio_pipeline-0.1.0-py3-none-any.whl", False, "pip"),
        ),
        (  # pip install git+https://...
            {
                "url": "https://git.example.com/cio-pipeline.git",
                "vcs_info": {"vcs": "git", "commit_id": "abc123"},
            },
            InstallOrigin("git+https://git.example.com/cio-pipeline.git@abc123", False, "pip"),
        ),
    ],
)
def test_the_origin_is_readorigin_from_direct_url(
    record: dict[str, object], origin: InstallOrigin
) -> None:
    assert origin_from_direct_url(record, "pip") == origin


@pytest.mark.parametrize(
    ("origin", "tail"),
    [
        (InstallOrigin("/src/cio pipeline", True, "pip"), ["-e", "/src/cio pipeline[metrics]"]),
        (InstallOrigin("/d/c-0.1.0.whl", False, "pip"), ["/d/c-0.1.0.whl[metrics]"]),
        (InstallOrigin("git+https://g/c@a", False, "pip"), ["cio-pipeline[metrics] @ git+https://g/c@a"]),
        (InstallOrigin("cio-pipeline", False, "pip"), ["cio-pipeline[metrics]"]),
    ],
)  # fmt: skip
def test_pip_installs_get_the_same_source_with_the_extra_into_this_interpreter(
    origin: InstallOrigin, tail: list[str]
) -> None:
    words = shlex.split(install_command("metrics", origin))
    assert words == [sys.executable, "-m", "pip", "install", *tail]


def test_uv_installs_get_uv_pip_for_this_interpreter() -> None:
    # uv's venvs have no pip, so `python -m pip` would fail there
    words = shlex.split(install_command("dashboard", InstallOrigin("/src", True, "uv")))
    assert words[1:] == ["pip", "install", "--python", sys.executable, "-e", "/src[dashboard]"]
    assert Path(words[0]).name == "uv"


def test_this_checkout_is_an_editable_install_of_itself() -> None:
    origin = install_origin()
    assert origin.editable
    assert Path(origin.requirement).resolve() == ROOT
    assert f"{ROOT}[ops]" in shlex.split(str(MissingExtra("ops", "rich")).split("): ")[1])


def test_an_egg_info_left_in_the_current_folder_does_not_hide_the_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # what a build leaves in a checkout; `python -m ...` run there finds it first
    egg = tmp_path / "cio_pipeline.egg-info"
    egg.mkdir()
    (egg / "PKG-INFO").write_text("Metadata-Version: 2.1\nName: cio-pipeline\nVersion: 0.1.0\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    origin = install_origin()
    assert origin.editable
    assert Path(origin.requirement).resolve() == ROOT


def test_scripts_are_named_by_their_path_beside_this_interpreter(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    script = Path(sys.executable).parent / "cio-pipeline"
    assert script.is_file()
    monkeypatch.chdir(tmp_path)
    assert script_command("cio-pipeline") == shlex.quote(str(script.absolute()))
    monkeypatch.chdir(script.parent.parent.parent)  # the folder holding .venv
    assert script_command("cio-pipeline") == f"{script.parent.parent.name}/bin/cio-pipeline"
    # an extra's script not installed yet goes beside cio-pipeline when it is
    assert (
        script_command("rq-dashboard-later")
        == f"{script.parent.parent.name}/bin/rq-dashboard-later"
    )
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))  # a bin without ours
    assert script_command("cio-pipeline") == "cio-pipeline"


@pytest.mark.parametrize(("has_pip", "tool"), [(True, "pip"), (False, "uv")])
def test_a_uv_install_with_no_uv_to_be_found_falls_back_to_pip_when_there_is_one(
    monkeypatch: pytest.MonkeyPatch, has_pip: bool, tool: str
) -> None:
    from cio_pipeline.worker.core import install

    monkeypatch.setattr(install, "_uv", lambda: "uv")  # neither on PATH nor pinned
    monkeypatch.setattr(install, "_has_pip", lambda: has_pip)
    words = shlex.split(install_command("metrics", InstallOrigin("/src", False, "uv")))
    if tool == "pip":
        assert words == [sys.executable, "-m", "pip", "install", "/src[metrics]"]
    else:  # nothing better to offer: the tool that installed it
        assert words == ["uv", "pip", "install", "--python", sys.executable, "/src[metrics]"]
