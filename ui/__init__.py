"""Streamlit helpers shared by the pages: cached factories and rendering. Only pages import this."""
