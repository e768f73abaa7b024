"""What llmsight adds to an app's start-up and to its first LLM call.

    python bench/startup.py [--python PATH] [--rounds 15] [--sdk openai anthropic gemini bedrock mistral]

1. Start-up: `python -c "import llmsight; llmsight.configure()"` against the bare interpreter (`python -c pass`),
   each in a fresh process, interleaved, medians of wall time and of the child's CPU time. Target: < 100 ms added
   with all five provider SDKs installed (they are instrumented when the app imports them, so an app pays only
   for the SDKs it uses).
2. First call: a fresh process imports one SDK, makes one call to the local provider server (another process),
   then a second; bare vs with `llmsight.configure()` first. The first call of any SDK costs more than the second
   (lazy imports, connection set-up): llmsight's own first-call cost is how much more that gap is with it.

Run it with the interpreter of an environment that has what an app has: llmsight and the five SDKs
(`pip install . openai anthropic google-genai boto3 mistralai`), not the test extras: some of those (logfire)
register pydantic plugins that slow every pydantic model's creation, llmsight's or the SDKs'.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import time
import urllib.request

CONFIGURE = "import llmsight; llmsight.configure()"
SDK_MODULES = {"openai": "openai", "anthropic": "anthropic", "gemini": "google.genai", "bedrock": "boto3",
               "mistral": "mistralai"}

# One call with each SDK to the local provider server at {url}; `call()` is timed twice.
CALLS = {
    "openai": """
import openai
client = openai.OpenAI(base_url="{url}/v1", api_key="bench", max_retries=0)
def call(): client.chat.completions.create(model="gpt-4o-mini", messages=[{{"role": "user", "content": "hi"}}])
""",
    "anthropic": """
import anthropic
client = anthropic.Anthropic(base_url="{url}", api_key="bench", max_retries=0)
def call(): client.messages.create(model="claude-haiku-4-5", max_tokens=16, messages=[{{"role": "user", "content": "hi"}}])
""",
    "gemini": """
from google import genai
client = genai.Client(api_key="bench", http_options={{"base_url": "{url}"}})
def call(): client.models.generate_content(model="gemini-2.5-flash", contents="hi")
""",
    "bedrock": """
import boto3
client = boto3.client("bedrock-runtime", region_name="us-east-1", endpoint_url="{url}",
                      aws_access_key_id="bench", aws_secret_access_key="bench")
def call(): client.converse(modelId="us.amazon.nova-lite-v1:0", messages=[{{"role": "user", "content": [{{"text": "hi"}}]}}])
""",
    "mistral": """
from mistralai.client import Mistral
client = Mistral(api_key="bench", server_url="{url}/mistral")
def call(): client.chat.complete(model="mistral-small-latest", messages=[{{"role": "user", "content": "hi"}}])
""",
}
TIMED = """
import json, time
t0 = time.perf_counter(); call(); t1 = time.perf_counter(); call(); t2 = time.perf_counter()
print(json.dumps({"first": t1 - t0, "second": t2 - t1}))
"""


def _environment() -> dict[str, str]:
    """The caller's environment without llmsight's and OTel's settings: the defaults are measured."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("LLMSIGHT_", "OTEL_"))}


def _run(python: str, code: str) -> tuple[float, float, str]:
    """(wall s, child CPU s, stdout) of one fresh interpreter running `code`."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    result = subprocess.run([python, "-c", code], env=_environment(), capture_output=True, text=True, check=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, result.stdout


def start_up(python: str, rounds: int) -> None:
    samples: dict[str, list[tuple[float, float]]] = {"bare": [], "configure": []}
    for _ in range(rounds):  # interleaved: the machine's drift hits both alike
        samples["bare"].append(_run(python, "pass")[:2])
        samples["configure"].append(_run(python, CONFIGURE)[:2])
    median = {name: (statistics.median(w for w, _ in s), statistics.median(c for _, c in s)) for name, s in samples.items()}
    print(f"start-up, median of {rounds} interleaved fresh processes:")
    print(f"  python -c pass                  wall {median['bare'][0] * 1e3:7.1f} ms   CPU {median['bare'][1] * 1e3:7.1f} ms")
    print(f"  python -c '{CONFIGURE}'  wall {median['configure'][0] * 1e3:7.1f} ms   CPU {median['configure'][1] * 1e3:7.1f} ms")
    print(f"  added by llmsight               wall {(median['configure'][0] - median['bare'][0]) * 1e3:7.1f} ms   "
          f"CPU {(median['configure'][1] - median['bare'][1]) * 1e3:7.1f} ms   (target: < 100 ms)")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _start_server(python: str) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    server = subprocess.Popen([python, "-m", "llmsight.testing", "--port", str(port)], stdout=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"{url}/healthz", timeout=1)
            return server, url
        except OSError:
            time.sleep(0.05)
    server.kill()
    raise RuntimeError("the local provider server did not start")


def first_call(python: str, sdks: list[str], rounds: int) -> None:
    server, url = _start_server(python)
    # Spans go to a port nothing listens on: exporting happens after the timed calls, off the app's thread.
    variants = {"bare": "", "llmsight": "import llmsight; llmsight.configure(endpoint='http://127.0.0.1:9')\n"}
    try:
        print(f"first call minus second call, median of {rounds} fresh processes per variant (ms):")
        print(f"  {'sdk':<10} {'bare':>8} {'llmsight':>9} {'llmsight adds':>14}")
        for sdk in sdks:
            gaps: dict[str, list[float]] = {name: [] for name in variants}
            for _ in range(rounds):
                for name, prefix in variants.items():
                    timing = json.loads(_run(python, prefix + CALLS[sdk].format(url=url) + TIMED)[2])
                    gaps[name].append(timing["first"] - timing["second"])
            bare, instrumented = (statistics.median(gaps[name]) * 1e3 for name in variants)
            print(f"  {sdk:<10} {bare:8.1f} {instrumented:9.1f} {instrumented - bare:14.1f}")
    finally:
        server.terminate()
        server.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--python", default=sys.executable, help="The interpreter of the environment measured.")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--sdk", nargs="+", choices=sorted(CALLS), default=list(CALLS))
    args = parser.parse_args()
    check = "import importlib.util, json; print(json.dumps({n: importlib.util.find_spec(m) is not None for n, m in %r.items()}))"
    installed = json.loads(_run(args.python, check % SDK_MODULES)[2])
    missing = [name for name, present in installed.items() if not present]
    print(f"interpreter {args.python}; SDKs installed: {', '.join(n for n, p in installed.items() if p) or 'none'}"
          + (f" (missing: {', '.join(missing)})" if missing else ""))
    start_up(args.python, args.rounds)
    first_call(args.python, [sdk for sdk in args.sdk if installed[sdk]], max(3, args.rounds // 3))


if __name__ == "__main__":
    main()
