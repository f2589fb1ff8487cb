"""Seconds from asking for a Hub model or a Hub dataset to the one-line error, with no Hub to reach.

The Hub clients retry each request for about a minute without a network; medtui probes the
endpoint once (`medtui.core.hub`, a few seconds at most) and fails in one line. Each case runs
in a fresh process with fresh medtui folders, so nothing is cached between them; `call` is the
time of the load itself (imports done), `process` the whole command.

    .venv/bin/python bench/hub_unreachable.py [--endpoint http://127.0.0.1:9]

Without --endpoint the environment's Hub (HF_ENDPOINT or huggingface.co) is used, which is the
real case on a machine with no network.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

CASES = {
    "model": (
        "from medtui.core.config import Settings\n"
        "from medtui.core.engines import load_engine\n"
        "from medtui.core.registry import spec_from_source\n"
        "import torch\nfrom transformers import AutoModelForCausalLM, AutoTokenizer\n",
        "load_engine(spec_from_source('bench', 'medtui-bench/no-such-model'), Settings())",
    ),
    "dataset": (
        "from medtui.core.datasource import open_dataset\nimport datasets\n",
        "open_dataset('medtui-bench/no-such-dataset')",
    ),
}

TIMED = """
import json, time
from medtui.core.errors import MedtuiError
start = time.perf_counter()
try:
    {call}
    error = None
except MedtuiError as e:
    error = str(e)
print(json.dumps({{"call_s": time.perf_counter() - start, "error": error}}))
"""


def run(imports: str, call: str, env: dict[str, str]) -> dict:
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", imports + TIMED.format(call=call)], env=env, capture_output=True, text=True, timeout=600
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["process_s"] = time.perf_counter() - start
    result["other_lines"] = len(done.stderr.strip().splitlines()) + len(done.stdout.strip().splitlines()) - 1
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--endpoint", help="HF_ENDPOINT to use, e.g. a closed local port")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        env = {k: v for k, v in os.environ.items() if not k.endswith("_OFFLINE") and not k.startswith("MEDTUI_")}
        env.update(MEDTUI_CONFIG_DIR=f"{home}/config", MEDTUI_DATA_DIR=f"{home}/data", HF_HOME=f"{home}/hf")
        if args.endpoint:
            env["HF_ENDPOINT"] = args.endpoint
        print(f"endpoint: {env.get('HF_ENDPOINT', 'https://huggingface.co')}")
        for name, (imports, call) in CASES.items():
            r = run(imports, call, env)
            print(
                f"{name:8} call {r['call_s']:6.2f} s  process {r['process_s']:6.2f} s  "
                f"other output lines {r['other_lines']}\n         {r['error']}"
            )


if __name__ == "__main__":
    main()
