"""Post-import hooks: call a function once a module has been imported (at once if it already is).

The design of wrapt's `register_post_import_hook`: a meta-path finder that, for a watched module only, asks the
other finders for its spec and chains the real loader, calling the hooks after the module has run. Kept here
because importing wrapt costs ≈ 70 ms of CPU (it imports asyncio and importlib.metadata), more than the rest of
`llmsight.configure()` together; wrapt is imported when an SDK is instrumented, beside an SDK that imports
asyncio anyway.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from importlib.machinery import ModuleSpec
from importlib.util import find_spec
from types import ModuleType
from typing import Any

Hook = Callable[[ModuleType], None]

_lock = threading.Lock()
_hooks: dict[str, list[Hook]] = {}
_finding: set[str] = set()  # modules whose spec the finder is asking the other finders for
_finder_installed = False


def when_imported(name: str, hook: Hook) -> None:
    """Call `hook(module)` once `name` is imported: now if it is, else right after its code has run."""
    global _finder_installed
    with _lock:
        module = sys.modules.get(name)
        if module is None:
            _hooks.setdefault(name, []).append(hook)
            if not _finder_installed:
                sys.meta_path.insert(0, _HookFinder())
                _finder_installed = True
    if module is not None:
        hook(module)


def _imported(module: ModuleType) -> None:
    with _lock:
        hooks = _hooks.pop(module.__name__, [])
    for hook in hooks:
        hook(module)


class _HookFinder:
    """First on sys.meta_path; answers only for watched modules, with the spec the other finders give."""

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> ModuleSpec | None:
        with _lock:
            if fullname not in _hooks or fullname in _finding:
                return None
            _finding.add(fullname)
        try:
            spec = find_spec(fullname)  # the other finders (this one declines while _finding holds the name)
        finally:
            with _lock:
                _finding.discard(fullname)
        if spec is not None and spec.loader is not None and hasattr(spec.loader, "exec_module"):
            spec.loader = _ChainedLoader(spec.loader)  # type: ignore[assignment]
        return spec


class _ChainedLoader:
    """The module's own loader, then the hooks. The module keeps its real loader in `__loader__` and
    `__spec__.loader`; anything else (resources, source) is the real loader's."""

    def __init__(self, loader: Any) -> None:
        self._loader = loader

    def __getattr__(self, name: str) -> Any:
        return getattr(self._loader, name)

    def create_module(self, spec: ModuleSpec) -> ModuleType | None:
        return self._loader.create_module(spec)  # type: ignore[no-any-return]

    def exec_module(self, module: ModuleType) -> None:
        if getattr(module, "__loader__", None) is self:
            module.__loader__ = self._loader
        if getattr(module.__spec__, "loader", None) is self:
            module.__spec__.loader = self._loader  # type: ignore[union-attr]
        self._loader.exec_module(module)
        _imported(module)
