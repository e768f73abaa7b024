"""Record what a real LiteLLM proxy and the app calling it send, for the tests to replay. The proxy is not among
llmsight's test dependencies: its `proxy` extra needs a `litellm-proxy` distribution the index does not have, its
dependencies are some 130 packages, and each proxy takes tens of seconds of CPU to start, more than the whole
replay test.

    python tests/peers/record_litellm.py [--venv DIR]

Creates a virtual environment of its own (needs the package index, once) with litellm 1.110.2 and its proxy's
dependencies at the versions in constraints-litellm.txt (the `proxy` extra's `litellm-proxy` distribution is not
on the index; the proxy itself ships in the litellm wheel), then, for each of LiteLLM's two OTel integrations
(the default `otel` callback, and the typed one behind LITELLM_OTEL_V2), starts the REAL proxy (`litellm
--config`) routing gpt-4o / o4-mini to the local provider's OpenAI API, claude-sonnet-4-5 to its Anthropic API and
Gemini, Mistral and Bedrock models to theirs, exporting OTLP/HTTP to a small recorder, and runs tests/peers/litellm_app.py (llmsight's interpreter: the
real openai SDK) against it, plain, with llmsight.instrument() and (default integration only) with OpenLLMetry's instrumentation; and LiteLLM used as an SDK
(tests/peers/litellm_sdk_app.py: `litellm.completion` with the `otel` callback). Teams, keys and end users come from a
custom auth module (the proxy's own hook; no database). Writes recordings/litellm.json: per run the raw OTLP
protobuf requests of the app and of the proxy, and the provider's ledger of that run.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parents[1]))

from tests.peers.record_peers import environment, installed, pip, write_constraints  # noqa: E402
from tests.peers.recording import recording  # noqa: E402

VERSION = "1.110.2"  # never 1.107.0 (a compromised release)
CONSTRAINTS = HERE / "constraints-litellm.txt"
OUT = HERE / "recordings" / "litellm.json"
APP = HERE / "litellm_app.py"
SDK_APP = HERE / "litellm_sdk_app.py"
# The `proxy` extra of litellm 1.110.2 less `litellm-proxy` (not on the index) and the Python 3.15-only markers.
PROXY_REQUIREMENTS = (
    "gunicorn", "uvicorn", "granian", "uvloop", "fastapi", "starlette", "backoff", "pyyaml", "rq", "orjson", "hiredis",
    "apscheduler", "fastapi-sso", "pyjwt", "python-multipart", "cryptography", "pynacl", "websockets", "boto3",
    "azure-identity", "azure-storage-blob", "mcp", "httpx2", "pydantic", "litellm-proxy-extras", "litellm-enterprise",
    "restrictedpython", "rich", "inquirerpy", "tomlkit", "polars", "soundfile", "pyroscope-io", "expression",
    "backports-zstd", "semver", "opentelemetry-sdk", "opentelemetry-exporter-otlp-proto-http",
)
NOTICE = (
    "The OTLP requests of the proxy in this file were produced by LiteLLM (https://github.com/BerriAI/litellm), "
    "Copyright Berri AI, licensed under the MIT License. Recorded by tests/peers/record_litellm.py against "
    "llmsight's local provider; no content beyond the synthetic prompts of tests/peers/litellm_app.py."
)
CONFIG = """\
model_list:
  - model_name: gpt-4o
    litellm_params: {{model: openai/gpt-4o, api_base: "{openai}", api_key: test}}
  - model_name: o4-mini
    litellm_params: {{model: openai/o4-mini, api_base: "{openai}", api_key: test}}
  - model_name: claude-sonnet-4-5
    litellm_params: {{model: anthropic/claude-sonnet-4-5, api_base: "{anthropic}", api_key: test}}
  - model_name: gemini-2.5-flash
    litellm_params: {{model: gemini/gemini-2.5-flash, api_base: "{gemini}", api_key: test}}
  - model_name: mistral-small-latest
    litellm_params: {{model: mistral/mistral-small-latest, api_base: "{mistral}/v1", api_key: test}}
  - model_name: bedrock-claude
    litellm_params: {{model: "bedrock/us.anthropic.claude-sonnet-4-5-20250929-v1:0", aws_bedrock_runtime_endpoint: "{bedrock}",
                     aws_access_key_id: test, aws_secret_access_key: test, aws_region_name: us-east-1}}
  - model_name: bedrock-nova
    litellm_params: {{model: "bedrock/converse/amazon.nova-lite-v1:0", aws_bedrock_runtime_endpoint: "{bedrock}",
                     aws_access_key_id: test, aws_secret_access_key: test, aws_region_name: us-east-1}}
litellm_settings:
  callbacks: ["otel"]
general_settings:
  custom_auth: custom_auth.user_api_key_auth
  master_key: "{master_key}"
"""
# The proxy's custom auth hook: every key belongs to team "team-search" (no database needed for teams).
CUSTOM_AUTH = """\
from litellm.proxy._types import UserAPIKeyAuth


async def user_api_key_auth(request, api_key):
    return UserAPIKeyAuth(api_key=api_key, key_alias="search-backend", team_id="team-search",
                          team_alias="Search", user_id="owner-1")
"""


def _free_port() -> int:
    with socket.socket() as probe:  # the proxy's CLI takes a port number, not 0
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_ready(url: str, process: subprocess.Popen[bytes], timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the proxy exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError("the proxy did not become ready")


def run(python: Path, integration: str, mode: str, work: Path) -> dict[str, Any]:
    """One proxy (integration `v1` or `v2`) and one app run (`plain` or `llmsight`): its requests and ledger."""
    with recording(seed=11) as (endpoint, provider, run):
        (work / "config.yaml").write_text(CONFIG.format(openai=provider.openai_base_url,
                                                        anthropic=provider.anthropic_base_url,
                                                        gemini=provider.gemini_base_url,
                                                        mistral=provider.mistral_server_url,
                                                        bedrock=provider.bedrock_endpoint_url,
                                                        master_key="sk-" + secrets.token_hex(32)))
        (work / "custom_auth.py").write_text(CUSTOM_AUTH)
        port = _free_port()
        env = {**os.environ, "OTEL_EXPORTER": "otlp_http", "OTEL_ENDPOINT": endpoint,
               "OTEL_SERVICE_NAME": "litellm-proxy", "PYTHONPATH": str(work), "LITELLM_LOG": "ERROR",
               "LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_OTEL_V2": "true" if integration == "v2" else "false",
               "NO_PROXY": "*"}
        proxy = subprocess.Popen([str(python.parent / "litellm"), "--config", str(work / "config.yaml"),
                                  "--host", "127.0.0.1", "--port", str(port)],
                                 cwd=work, env=env, stdout=subprocess.DEVNULL, stderr=open(work / "proxy.log", "wb"))
        try:
            _wait_ready(f"http://127.0.0.1:{port}/health/liveliness", proxy)
            done = subprocess.run([sys.executable, str(APP), mode, endpoint, f"http://127.0.0.1:{port}/v1"],
                                  capture_output=True, text=True, timeout=300)
            if done.returncode != 0:
                raise RuntimeError(f"the app failed:\n{done.stderr[-4000:]}")
            time.sleep(8)  # the proxy's batch span processor exports every 5 s: let it
        finally:
            proxy.terminate()
            proxy.wait(30)
    return {"integration": integration, "app": mode, **run}


def run_sdk(python: Path) -> dict[str, Any]:
    """LiteLLM as an SDK (`litellm.completion` with the `otel` callback) in its own venv: its requests and ledger."""
    with recording(seed=13) as (endpoint, provider, run):
        env = {**os.environ, "OTEL_EXPORTER": "otlp_http", "OTEL_ENDPOINT": endpoint,
               "OTEL_SERVICE_NAME": "litellm-sdk-app", "LITELLM_LOCAL_MODEL_COST_MAP": "True", "NO_PROXY": "*"}
        done = subprocess.run([str(python), str(SDK_APP), provider.openai_base_url, provider.anthropic_base_url],
                              capture_output=True, text=True, timeout=300, env=env)
        if done.returncode != 0:
            raise RuntimeError(f"the SDK app failed:\n{done.stderr[-4000:]}")
    return {"integration": "v1", "app": "sdk", **run}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--venv", type=Path, default=Path.home() / ".cache" / "llmsight-peers" / "litellm")
    args = parser.parse_args()
    python = environment(args.venv)
    first = not CONSTRAINTS.exists()  # the first recording writes the file
    pip(python, "install", "-q", *([] if first else ["-c", str(CONSTRAINTS)]), f"litellm=={VERSION}", *PROXY_REQUIREMENTS)
    packages = installed(python)
    if first:
        write_constraints(CONSTRAINTS, packages, "LiteLLM", "tests/peers/record_litellm.py")
    wanted = ("litellm", "openai", "opentelemetry-sdk", "opentelemetry-api", "fastapi")
    versions = {name: version for name, version in packages.items() if name.lower() in wanted}
    import openai

    import llmsight

    versions |= {"app openai": openai.__version__, "app llmsight": llmsight.__version__}
    runs = []
    for integration, mode in (("v1", "plain"), ("v1", "llmsight"), ("v1", "openllmetry"), ("v2", "plain"),
                              ("v2", "llmsight")):
        with tempfile.TemporaryDirectory() as work:
            runs.append(run(python, integration, mode, Path(work)))
        print(f"{integration} {mode}: {len(runs[-1]['requests'])} OTLP requests, {len(runs[-1]['ledger'])} calls")
    runs.append(run_sdk(python))
    print(f"v1 sdk: {len(runs[-1]['requests'])} OTLP requests, {len(runs[-1]['ledger'])} calls")
    OUT.write_text(json.dumps({"source": "litellm", "notice": NOTICE, "versions": versions, "runs": runs}, indent=1) + "\n")
    print(f"→ {OUT}")


if __name__ == "__main__":
    main()
