"""The chat service: retrieve, prompt, stream and record one answer. Knows nothing of the TUI."""
