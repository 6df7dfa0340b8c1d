"""LLM gateway service."""
