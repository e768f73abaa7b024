"""Loaded by Python at start-up in processes launched with `llmsight run`: set up tracing first.

Chains to any other sitecustomize on the path, as opentelemetry-instrument does.
"""

import importlib.util
import os
import sys


def _chain_other_sitecustomize() -> None:
    here = os.path.dirname(os.path.abspath(__file__))
    for entry in sys.path:
        if os.path.abspath(entry or ".") == here:
            continue
        candidate = os.path.join(entry or ".", "sitecustomize.py")
        if os.path.isfile(candidate):
            spec = importlib.util.spec_from_file_location("_llmsight_chained_sitecustomize", candidate)
            if spec and spec.loader:
                spec.loader.exec_module(importlib.util.module_from_spec(spec))
            return


def _start() -> None:
    try:
        from llmsight.sdk import configure

        configure()
    except Exception as exc:  # tracing must never stop the app from starting
        print(f"llmsight: tracing disabled: {exc}", file=sys.stderr)


_chain_other_sitecustomize()
_start()
