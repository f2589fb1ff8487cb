"""Retrieval: snippets, embeddings, the persistent index, search and grounded prompts."""
