"""The core every feature stands on: errors, paths, config, the model registry, engines,
retrieval and history. It imports nothing from the services (chat, trainers, evals, export)
or the front ends (cli, tui); import-linter's layers contract (pyproject.toml) enforces it."""
