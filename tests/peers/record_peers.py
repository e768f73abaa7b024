"""Record what the peers that cannot be installed beside llmsight's dependencies really send, for the tests to
replay (tests/peers/test_recorded.py):

    python tests/peers/record_peers.py PEER [PEER...] [--freeze]

Each peer (PEERS below) gets a virtual environment of its own (~/.cache/llmsight-peers/PEER; needs the package
index, once) with its packages at the exact versions of its constraints file (tests/peers/constraints-PEER.txt;
`--freeze` writes that file from what was installed, for a new peer's first recording). Then tests/peers/app.py's
app of that peer runs against the local provider with an OTLP/HTTP exporter pointed at a small recorder, and
recordings/PEER.json receives the raw OTLP protobuf requests, the provider's ledger of the run, the versions used
and the peer's license notice. A peer recorded beside llmsight also runs the app with `llmsight.instrument()`
(llmsight from this checkout, installed into the peer's environment) into recordings/PEER+llmsight.json. The
test run replays those files into a real collector and needs no network.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import venv
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))

from tests.peers.recording import PROVIDERS, record  # noqa: E402

RECORDINGS = HERE / "recordings"
SDKS = ("openai", "anthropic", "google-genai", "boto3", "mistralai")
_TAIL = ("Recorded by tests/peers/record_peers.py against llmsight's local provider; no content beyond the "
         "synthetic prompts of tests/peers/workload.py.")
_MISTRAL_SDK = ("Spans of the mistralai SDK's own tracing (https://github.com/mistralai/client-python, Apache "
                "License 2.0) are included as it sent them.")


@dataclass(frozen=True)
class Peer:
    """A peer's recording: the packages of its environment (pinned by constraints-NAME.txt), the app.py app that
    runs it, the providers it calls, and whether it is recorded a second time beside llmsight."""

    name: str
    app: str
    packages: tuple[str, ...]
    notice: str
    providers: tuple[str, ...] = PROVIDERS
    beside_llmsight: bool = False

    @property
    def constraints(self) -> Path:
        return HERE / f"constraints-{self.name}.txt"

    def out(self, beside: bool) -> Path:
        return RECORDINGS / f"{self.name}{'+llmsight' if beside else ''}.json"


_APACHE = "the Apache License, Version 2.0 (http://www.apache.org/licenses/LICENSE-2.0)"


def _produced_by(*projects: str) -> str:
    return f"The OTLP requests in this file were produced by {' with '.join(projects)}."


_OPENLIT_PROJECT = f"OpenLIT (https://github.com/openlit/openlit), Copyright OpenLIT authors, licensed under {_APACHE}"
_OPENLLMETRY = f"OpenLLMetry (https://github.com/traceloop/openllmetry), Copyright Traceloop, licensed under {_APACHE}"
_CONTRIB = ("OpenTelemetry Python contrib (https://github.com/open-telemetry/opentelemetry-python-contrib), Copyright "
            f"The OpenTelemetry Authors, licensed under {_APACHE}")
_LOGFIRE = "Logfire (https://github.com/pydantic/logfire), Copyright Pydantic Services Inc., licensed under the MIT License"
_OPENLIT = Peer(
    "openlit", "openlit", ("openlit", *SDKS),
    f"{_produced_by(_OPENLIT_PROJECT)} {_TAIL} {_MISTRAL_SDK}",
)
PEERS = {peer.name: peer for peer in (
    _OPENLIT,
    # opentelemetry-instrumentation-mistralai imports the mistralai 1.x layout (`mistralai.models`, `mistralai.chat`).
    Peer("openllmetry-mistralai", "openllmetry-others", ("opentelemetry-instrumentation-mistralai", "mistralai<2"),
         f"{_produced_by(_OPENLLMETRY)} {_TAIL} {_MISTRAL_SDK}", providers=("mistral",), beside_llmsight=True),
    # opentelemetry-instrumentation-google-genai instruments google-genai < 3 only.
    Peer("otel-google-genai", "otel-google-genai", ("opentelemetry-instrumentation-google-genai", "google-genai<3"),
         f"{_produced_by(_CONTRIB)} {_TAIL}", providers=("gemini",), beside_llmsight=True),
    # logfire.instrument_google_genai() is the contrib instrumentation under Logfire's tracer.
    Peer("logfire-google-genai", "logfire-google-genai",
         ("logfire[google-genai]==5.2.0", "google-genai<3"),
         f"{_produced_by(_LOGFIRE, _CONTRIB)} {_TAIL}",
         providers=("gemini",), beside_llmsight=True),
)}


def pip(python: Path, *args: str) -> str:
    return subprocess.run([str(python), "-m", "pip", *args], check=True, stdout=subprocess.PIPE, text=True).stdout


def environment(directory: Path) -> Path:
    """The python of the virtual environment in `directory`, created when missing."""
    python = directory / "bin" / "python"
    if not python.exists():
        venv.create(directory, with_pip=True)
    return python


def installed(python: Path) -> dict[str, str]:
    """name -> version of every distribution in `python`'s environment."""
    return dict(line.split("==", 1) for line in pip(python, "freeze").splitlines() if "==" in line)


def write_constraints(path: Path, packages: dict[str, str], what: str, script: str) -> None:
    path.write_text(f"# Exact versions {what} was recorded with ({script}).\n"
                    + "".join(f"{name}=={version}\n" for name, version in sorted(packages.items())))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("peers", nargs="+", choices=sorted(PEERS))
    parser.add_argument("--venvs", type=Path, default=Path.home() / ".cache" / "llmsight-peers")
    parser.add_argument("--freeze", action="store_true", help="write each peer's constraints file from its install")
    args = parser.parse_args()
    for peer in map(PEERS.__getitem__, args.peers):
        python = environment(args.venvs / peer.name)
        pins = [] if args.freeze else ["-c", str(peer.constraints)]
        # llmsight (this checkout) is resolved with the peer's packages: the app imports it only when beside it.
        pip(python, "install", "-q", *pins, *peer.packages, *([str(ROOT)] if peer.beside_llmsight else []))
        if peer.beside_llmsight:  # the checkout as it is now, even if its version number is the one installed
            pip(python, "install", "-q", "--no-deps", "--force-reinstall", str(ROOT))
        packages = installed(python)
        if args.freeze:
            write_constraints(peer.constraints, packages, peer.name, "tests/peers/record_peers.py")
        wanted = {re.split("[^A-Za-z0-9_.-]", package)[0] for package in peer.packages} | {"opentelemetry-sdk", "opentelemetry-api"}
        versions = {name: version for name, version in packages.items() if name.lower() in wanted}
        commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True).stdout.strip()
        for beside in [False, True] if peer.beside_llmsight else [False]:
            document = record(peer.app, str(python), peer.out(beside), notice=peer.notice,
                              versions={**versions, **({"llmsight": f"commit {commit}"} if beside else {})},
                              providers=peer.providers, extra_args=("llmsight",) if beside else ())
            print(f"{peer.name}{' beside llmsight' if beside else ''}: {len(document['requests'])} OTLP requests, "
                  f"{len(document['ledger'])} billed calls → {peer.out(beside)}")


if __name__ == "__main__":
    main()
