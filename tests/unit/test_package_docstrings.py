"""Every package's ``__init__`` docstring names every module and subpackage it holds, so the
story a package tells cannot drift from what it contains."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import cio_pipeline


def _packages() -> list[str]:
    names = ["cio_pipeline"]
    for info in pkgutil.walk_packages(cio_pipeline.__path__, "cio_pipeline."):
        if info.ispkg:
            names.append(info.name)
    return names


@pytest.mark.parametrize("package", _packages())
def test_the_package_docstring_names_every_module(package: str) -> None:
    module = importlib.import_module(package)
    doc = module.__doc__ or ""
    children = [
        info.name
        for info in pkgutil.iter_modules(module.__path__)
        if info.name not in ("__main__",)
    ]
    missing = [name for name in children if f".{name}`" not in doc and f"{name}`" not in doc]
    assert not missing, f"{package}'s docstring does not name {missing}"
