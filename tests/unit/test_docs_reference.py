"""The generated reference pages cover everything: every command and option the
``cio-pipeline`` parser reaches, every variable the code declares (docs/hooks/reference.py)."""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from cio_pipeline.producer.variables import VARIABLES
from cio_pipeline.worker.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def reference() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "docs_reference_hook", ROOT / "docs" / "hooks" / "reference.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _parsers(
    prefix: str, parser: argparse.ArgumentParser
) -> list[tuple[str, argparse.ArgumentParser]]:
    found = [(prefix, parser)]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found += _parsers(f"{prefix} {name}", sub)
    return found


def test_every_command_and_option_is_in_the_cli_reference(reference: ModuleType) -> None:
    page = reference.cli_markdown()
    parsers = _parsers("cio-pipeline", build_parser())
    assert len(parsers) > 10
    for path, parser in parsers[1:]:
        assert f"`{path}`" in page, f"{path} missing from the CLI reference"
        for action in parser._actions:
            for option in action.option_strings:
                if option in ("-h", "--help"):
                    continue
                assert f"`{option}`" in page, f"{path} {option} missing from the CLI reference"


def test_every_declared_variable_is_in_the_settings_reference(reference: ModuleType) -> None:
    page = reference.settings_markdown()
    for variable in VARIABLES:
        assert f"| `{variable.name}` |" in page, f"{variable.name} missing"


def test_every_variable_has_a_section_and_a_meaning(reference: ModuleType) -> None:
    _explanation, section_of = reference._example_env()
    page = reference.settings_markdown()
    for variable in VARIABLES:
        assert section_of.get(variable.name), f"{variable.name} has no section in example.env"
        row = next(line for line in page.splitlines() if line.startswith(f"| `{variable.name}` |"))
        assert row.rstrip(" |").rsplit("|", 1)[1].strip(), f"{variable.name} has no meaning"
