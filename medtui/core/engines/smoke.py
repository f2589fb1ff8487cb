"""`python -m medtui.core.engines.smoke`: can this llama.cpp build decode the embedded model?

Run by scripts/setup in a child process, since a llama.cpp built with the wrong CPU flags dies
with a signal rather than an exception; the exit status is all setup reads.
"""

import subprocess
import sys

PROBE = """
from llama_cpp import Llama
from medtui.core.assets import asset_path
llm = Llama(model_path=str(asset_path("smollm2_gguf")), n_ctx=128, verbose=False)
llm.eval(llm.tokenize(b"Anaemia is", add_bos=True))
"""


def main() -> int:
    result = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=300)
    if result.returncode != 0:
        print(f"llama.cpp could not decode the embedded model (exit status {result.returncode})", file=sys.stderr)
    return 0 if result.returncode == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
