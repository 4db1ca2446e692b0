"""Meaning, not wording: sentence embeddings and what the analysis plane reads from them.

embedder   the :class:`~comparators.semantic.embedder.Embedder` protocol, the packaged local
           model (``wordllama``, offline), an OpenAI-compatible endpoint, a bounded cache and
           :func:`~comparators.semantic.embedder.load_embedder` (one per process)
refusal    :class:`~comparators.semantic.refusal.RefusalDetector`: a phrase list first, then
           the nearest of a set of refusal and non-refusal exemplars

Nothing here is imported by the data plane, and ``wordllama`` is imported only when the local
model is first loaded.
"""
