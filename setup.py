"""Maps the repository's top-level folders onto the single import package `llmsight`.

pyproject.toml holds all metadata; this file only lists the packages, which the declarative
`packages.find` cannot do when folder names differ from package names. Every folder is listed, not only
those with an `__init__.py`: data folders (dashboards/json, the recordings, ...) and `_bootstrap` (the
sitecustomize that `llmsight run` puts on PYTHONPATH, deliberately not a regular package) are shipped as
namespace packages, which is how setuptools wants package data declared.
"""

from pathlib import Path

from setuptools import setup

PACKAGE_ROOTS = {
    "llmsight": "instrumentation",
    "llmsight.collector": "collector",
    "llmsight.alerts": "alerts",
    "llmsight.dashboards": "dashboards",
}


def _packages() -> list[str]:
    found = []
    for package, folder in PACKAGE_ROOTS.items():
        root = Path(folder)
        for directory in sorted({root, *(path for path in root.rglob("*") if path.is_dir())}):
            parts = directory.relative_to(root).parts
            if any(part.startswith((".", "__")) or part.endswith(".egg-info") for part in parts):
                continue  # __pycache__, hidden folders, build leftovers
            found.append(".".join((package, *parts)))
    return found


setup(packages=_packages(), package_dir=PACKAGE_ROOTS)
