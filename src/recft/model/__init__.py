"""The model side: the bi-encoder, what training may change (adapters), the embedding cache, the index, export."""
