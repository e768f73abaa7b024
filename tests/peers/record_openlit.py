"""Record what OpenLIT really sends, for the tests to replay (OpenLIT cannot be installed beside llmsight's
dependencies: it pins OpenTelemetry and anthropic<1).

    python tests/peers/record_openlit.py [--venv DIR]

Creates a virtual environment of its own (needs the package index, once), installs OpenLIT and the five SDKs at
the versions in constraints-openlit.txt (mistralai 1.x there: OpenLIT needs it, and its built-in tracing is
recorded too), runs tests/peers/app.py's OpenLIT app against the local provider
with an OTLP/HTTP exporter pointed at a small recorder, and writes recordings/openlit.json: the raw OTLP
protobuf requests, the provider's ledger of the run, the versions used and OpenLIT's license notice. The test
run replays that file into a real collector and needs no network.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import venv
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parents[1]))

from tests.peers.recording import record  # noqa: E402

CONSTRAINTS = HERE / "constraints-openlit.txt"
OUT = HERE / "recordings" / "openlit.json"
NOTICE = (
    "The OTLP requests in this file were produced by OpenLIT (https://github.com/openlit/openlit), "
    "Copyright OpenLIT authors, licensed under the Apache License, Version 2.0 "
    "(http://www.apache.org/licenses/LICENSE-2.0). Recorded by tests/peers/record_openlit.py against "
    "llmsight's local provider; no content beyond the synthetic prompts of tests/peers/workload.py. Spans of "
    "the mistralai SDK's own tracing (https://github.com/mistralai/client-python, Apache License 2.0) are "
    "included as it sent them."
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--venv", type=Path, default=Path.home() / ".cache" / "llmsight-peers" / "openlit")
    args = parser.parse_args()
    python = args.venv / "bin" / "python"
    if not python.exists():
        venv.create(args.venv, with_pip=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", "-c", str(CONSTRAINTS), "openlit", "openai", "anthropic",
                    "google-genai", "boto3", "mistralai"],
                   check=True)
    freeze = subprocess.run([str(python), "-m", "pip", "freeze"], capture_output=True, text=True, check=True).stdout
    wanted = ("openlit", "openai", "anthropic", "google-genai", "boto3", "mistralai", "opentelemetry-sdk",
              "opentelemetry-api")
    versions = dict(line.split("==", 1) for line in freeze.splitlines() if line.split("==", 1)[0].lower() in wanted)
    document = record("openlit", str(python), OUT, notice=NOTICE, versions=versions)
    print(f"recorded {len(document['requests'])} OTLP requests and {len(document['ledger'])} billed calls → {OUT}")


if __name__ == "__main__":
    main()
