"""medtui: a local, offline medical question-answering workbench for the terminal."""

__version__ = "0.1.0"
