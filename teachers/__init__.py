"""Teacher service (FastAPI app factory) and its backends: OpenAI-compatible, local HF, analytic."""
