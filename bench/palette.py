"""How long ctrl+p takes to open the command palette and list its commands: medtui against a bare
Textual App in the same run (the baseline: what Textual itself costs on this machine), and medtui
with Textual's own dimmed palette (how it was before issue 17).

    .venv/bin/python -m bench.palette [--rounds 5] [--answers 8]

Why it was slow: listing the commands costs nothing (plain SystemCommands); the time went to
repainting the chat behind the palette, dimmed cell by cell (textual BackgroundScreen) on each of
the palette's refreshes, the more so the longer the conversation. medtui's palette hides the chat
instead (app.tcss). The chat shows a saved conversation of `--answers` answers, in a scratch
history; the model is loaded first, retrieval is off.
"""

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from textual.app import App
from textual.command import CommandList, CommandPalette

SIZE = (160, 48)


async def _open_once(app: App, pilot) -> float:
    start = time.perf_counter()
    await pilot.press("ctrl+p")
    while not (isinstance(app.screen, CommandPalette) and app.screen.query_one(CommandList).option_count):
        await asyncio.sleep(0.002)
    took = time.perf_counter() - start
    await pilot.press("escape")
    while isinstance(app.screen, CommandPalette):
        await asyncio.sleep(0.002)
    return took


async def measure(app: App, rounds: int, conversation: int | None = None) -> list[float]:
    async with app.run_test(size=SIZE) as pilot:
        if conversation is not None:
            while app.engine is None:
                await pilot.pause(0.1)
            app.open_conversation(conversation)
        await pilot.pause(0.5)
        return [await _open_once(app, pilot) for _ in range(rounds)]


def saved_conversation(answers: int) -> int:
    from medtui.core.history import History

    history = History()
    conversation = history.new_conversation("Palette bench", "smollm2")
    for i in range(answers):
        history.add_message(conversation, "user", f"Question {i}: what is nephritis, and how is it treated?")
        text = "\n\n".join(
            f"Paragraph {p} of answer {i}: inflammation of the kidney [1], treated by cause." for p in range(6)
        )
        source = {"n": 1, "id": "hpo:1", "title": "Nephritis", "source": "hpo", "text": "Kidney inflammation."}
        history.add_message(conversation, "assistant", text, [source], model="smollm2")
    return conversation


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--answers", type=int, default=8)
    args = parser.parse_args()
    scratch = tempfile.mkdtemp(prefix="medtui-palette-")
    os.environ["MEDTUI_CONFIG_DIR"] = os.path.join(scratch, "config")
    os.environ["MEDTUI_DATA_DIR"] = os.path.join(scratch, "data")

    from medtui.core.config import Settings
    from medtui.tui.app import MedtuiApp

    class DimmedPalette(MedtuiApp):
        CSS_PATH = str(Path(sys.modules[MedtuiApp.__module__].__file__).with_name("app.tcss"))
        CSS = "CommandPalette { background: $background 60% !important; }"  # Textual's own: the chat dimmed

    conversation = saved_conversation(args.answers)
    results = {
        "bare textual App": asyncio.run(measure(App(), args.rounds)),
        "medtui, dimmed": asyncio.run(measure(DimmedPalette(Settings(rag=False)), args.rounds, conversation)),
        "medtui": asyncio.run(measure(MedtuiApp(Settings(rag=False)), args.rounds, conversation)),
    }
    for name, times in results.items():
        print(f"{name:18} median {statistics.median(times):.3f}s  ({', '.join(f'{t:.3f}' for t in times)})")


if __name__ == "__main__":
    main()
