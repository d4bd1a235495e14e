"""Plain-Python core of the legal assistant: load, parse, index, retrieve, answer, evaluate.

Never imports streamlit; the app pages and the CLI call the same functions.
"""
