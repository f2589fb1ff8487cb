"""How long ctrl+p takes to open the command palette and list its commands: medtui against a bare
Textual App in the same run (the baseline: what Textual itself costs on this machine), medtui
with Textual's own dimmed palette (how it was before issue 17) and medtui with Textual's own
Footer (how it was before issue 17, part 2); the before/after ratios are printed last.

    .venv/bin/python -m bench.palette [--rounds 5] [--answers 8] [--profile]

Why it was slow: listing the commands costs nothing (plain SystemCommands). First, the chat
behind the palette was repainted, dimmed cell by cell (textual BackgroundScreen), on each of the
palette's refreshes, the more so the longer the conversation: medtui's palette hides the chat
instead (app.tcss). Second (`--profile` shows it): the chat's Footer rebuilt its ~15 key widgets
when the palette took the focus and again when it gave it back, and the chat behind was laid out
again after each, on the event loop the palette fills its list from; `KeysFooter`
(medtui/tui/widgets/footer.py) rebuilds only when the keys shown change, and only on top.
The chat shows a saved conversation of `--answers` answers, in a scratch history; the model is
loaded first, retrieval is off.
"""

import argparse
import asyncio
import cProfile
import os
import pstats
import statistics
import sys
import tempfile
import time
from pathlib import Path

from textual.app import App, ComposeResult
from textual.command import CommandList, CommandPalette
from textual.widgets import Footer

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


async def measure(app: App, rounds: int, conversation: int | None = None, profile: bool = False) -> list[float]:
    async with app.run_test(size=SIZE) as pilot:
        if conversation is not None:
            while app.engine is None:
                await pilot.pause(0.1)
            app.open_conversation(conversation)
        await pilot.pause(0.5)
        await _open_once(app, pilot)  # the first opening imports and builds the palette's classes
        profiler = cProfile.Profile() if profile else None
        if profiler:
            profiler.enable()
        times = [await _open_once(app, pilot) for _ in range(rounds)]
        if profiler:
            profiler.disable()
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(r"textual/(screen|widget|_compositor)", 12)
        return times


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
    parser.add_argument("--profile", action="store_true", help="cProfile the openings of the last two rows")
    args = parser.parse_args()
    scratch = tempfile.mkdtemp(prefix="medtui-palette-")
    os.environ["MEDTUI_CONFIG_DIR"] = os.path.join(scratch, "config")
    os.environ["MEDTUI_DATA_DIR"] = os.path.join(scratch, "data")

    from medtui.core.config import Settings
    from medtui.tui.app import MedtuiApp
    from medtui.tui.widgets.footer import KeysFooter

    app_css = str(Path(sys.modules[MedtuiApp.__module__].__file__).with_name("app.tcss"))  # relative to medtui/tui

    class DimmedPalette(MedtuiApp):
        CSS_PATH = app_css
        CSS = "CommandPalette { background: $background 60% !important; }"  # Textual's own: the chat dimmed

    class TextualFooter(MedtuiApp):
        """medtui with Textual's own Footer, rebuilt on every bindings update."""

        CSS_PATH = app_css

        def compose(self) -> ComposeResult:
            for widget in super().compose():
                yield Footer() if isinstance(widget, KeysFooter) else widget

    conversation = saved_conversation(args.answers)
    results = {
        "bare textual App": asyncio.run(measure(App(), args.rounds)),
        "medtui, dimmed": asyncio.run(measure(DimmedPalette(Settings(rag=False)), args.rounds, conversation)),
        "medtui, Textual's Footer": asyncio.run(
            measure(TextualFooter(Settings(rag=False)), args.rounds, conversation, args.profile)
        ),
        "medtui": asyncio.run(measure(MedtuiApp(Settings(rag=False)), args.rounds, conversation, args.profile)),
    }
    medians = {name: statistics.median(times) for name, times in results.items()}
    for name, times in results.items():
        print(f"{name:26} median {medians[name]:.3f}s  ({', '.join(f'{t:.3f}' for t in times)})")
    for before in ("medtui, dimmed", "medtui, Textual's Footer"):
        print(f"{before} / medtui: {medians[before] / medians['medtui']:.2f}x")


if __name__ == "__main__":
    main()
