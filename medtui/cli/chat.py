"""`medtui chat`: the Textual app."""

from medtui.cli.options import Index, MaxTokens, Model, NCtx, Offline, Rag, Temperature, TopK, settings_from


def chat(
    model: Model = None,
    index: Index = None,
    rag: Rag = None,
    top_k: TopK = None,
    max_tokens: MaxTokens = None,
    n_ctx: NCtx = None,
    temperature: Temperature = None,
    offline: Offline = None,
) -> None:
    settings = settings_from(
        model=model,
        index=index,
        rag=rag,
        top_k=top_k,
        max_tokens=max_tokens,
        n_ctx=n_ctx,
        temperature=temperature,
        offline=offline,
    )
    from medtui.tui.app import MedtuiApp

    MedtuiApp(settings).run()
