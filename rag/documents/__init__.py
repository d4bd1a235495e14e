"""Documents: a file in, pages and statute articles out.

    load.py         by format (PDF, DOCX, TXT/MD) with per-file limits; the one entry point
    pdf.py          text layer and page ranges; ocr.py scanned pages; word.py DOCX; encodings.py TXT
    statutes.py     article parsing (第X条, 款/项), law names, Chinese numerals
    page_images.py  the PDF page a citation came from, rendered for the UI
    chart.py        a chart image → a table of values (chart_text.py: what the OCR boxes are;
                    chart_marks.py: bars and lines measured with OpenCV; chart_table.py: the table)

Does not store, embed or search anything (rag/kb.py, rag/ingest.py, rag/retrieval/).
"""
