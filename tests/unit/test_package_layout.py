"""The product (cio_pipeline.producer, cio_pipeline.worker) holds no development tooling and
never imports it: the emulator and the demo live in cio_pipeline.devtools."""

from __future__ import annotations

import importlib.util
import pkgutil
import subprocess
import sys
import textwrap

import cio_pipeline.worker

PRODUCT = ("cio_pipeline.producer", "cio_pipeline.worker")


def test_the_worker_package_has_no_emulator_or_demo() -> None:
    names = [
        m.name for m in pkgutil.walk_packages(cio_pipeline.worker.__path__, "cio_pipeline.worker.")
    ]
    assert len(names) > 50  # the walk really ran over the worker package
    assert not [n for n in names if {"emulator", "demo"} & set(n.split("."))]
    for name in ("cio_pipeline.worker.emulator", "cio_pipeline.worker.demo"):
        assert importlib.util.find_spec(name) is None


def test_importing_every_product_module_does_not_import_devtools() -> None:
    # A fresh interpreter: this test session has imported devtools already.
    code = textwrap.dedent(
        f"""
        import importlib, pkgutil, sys
        imported = 0
        for root in {PRODUCT!r}:
            package = importlib.import_module(root)
            for module in pkgutil.walk_packages(package.__path__, root + "."):
                if not module.name.endswith(".__main__"):  # __main__ runs the command
                    importlib.import_module(module.name)
                    imported += 1
        print(imported)
        print(sorted(m for m in sys.modules if m.startswith("cio_pipeline.devtools")))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    imported, devtools = result.stdout.splitlines()
    assert int(imported) > 70
    assert devtools == "[]"
