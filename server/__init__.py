"""Talking to and running OpenAI-compatible inference servers (no streamlit import)."""
