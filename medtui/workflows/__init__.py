"""Commands that combine services (docs/architecture.md): the seed study trains with `trainers`,
evaluates with `evals` and may export with `export`, so no service reaches sideways into another."""
