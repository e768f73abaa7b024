"""`python -m llmsight.testing --port 8765 [--seed 1]`: run the local provider until interrupted."""

from __future__ import annotations

import argparse
import time

from llmsight.testing.server import ProviderServer


def main() -> None:
    parser = argparse.ArgumentParser(description="Local OpenAI/Anthropic/Gemini/Bedrock/Mistral-compatible provider for tests and demos.")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    with ProviderServer(seed=args.seed, host=args.host, port=args.port) as server:
        print(f"OpenAI base URL:    {server.openai_base_url}\nAnthropic base URL: {server.anthropic_base_url}\n"
              f"Gemini base URL:    {server.gemini_base_url}\nBedrock endpoint:   {server.bedrock_endpoint_url}\n"
              f"Mistral server URL: {server.mistral_server_url}", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
