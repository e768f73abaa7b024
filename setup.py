"""Maps the repository's top-level folders onto the single import package `llmsight`.

pyproject.toml holds all metadata; this file only discovers subpackages, which the
declarative `packages.find` cannot do when folder names differ from package names.
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
        for init in sorted(root.rglob("__init__.py")):
            parts = init.parent.relative_to(root).parts
            found.append(".".join((package, *parts)))
    return found


setup(packages=_packages(), package_dir=PACKAGE_ROOTS)
