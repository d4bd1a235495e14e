"""Question files for the answer benchmark (rag/eval/answers.py): JSONL bytes → checked rows.

One JSON object per line:
    {"query_id": "labor-01", "question": "…",
     "gold_articles": [{"law": "中华人民共和国劳动合同法", "article_cn": "第四十六条", "text": "…"}],
     "answer": "a reference answer"}
Only `question` is required. `gold_articles` defaults to [] (then "cites gold" cannot be
scored), `text` in a gold article is optional. A row without `query_id` gets `line<N>`
(its line number), so a rerun on the same file resumes where it stopped.

Every problem is reported with its line number before anything is asked, so a long run
never fails halfway on a typo. Does not: read files from disk, or check that the gold
articles exist in a knowledge base (the scorer does that per answer).
"""
from __future__ import annotations

import json
import re

from rag.eval.datasets import DatasetError

ARTICLE_CN_RE = re.compile(r"^第.+条")
SNIPPET_CHARS = 40  # how much of a bad line an error message quotes

MSG_NOT_UTF8 = ("问题文件「{name}」不是 UTF-8 编码的文本，请另存为 UTF-8 后重新上传。"
                " / {name} is not UTF-8 text: save it as UTF-8 and upload it again.")
MSG_EMPTY = ("问题文件「{name}」是空的：每行应是一个 JSON 对象，至少含 \"question\" 字段。"
             " / {name} holds no questions: put one JSON object with a \"question\" per line.")
MSG_NOT_JSON = ("问题文件「{name}」第 {line} 行不是合法的 JSON（{detail}）：{snippet}"
                " / {name} line {line} is not valid JSON ({detail}): each line must be one JSON object.")
MSG_NOT_OBJECT = ("问题文件「{name}」第 {line} 行应是一个 JSON 对象（{{…}}），实际是 {kind}。"
                  " / {name} line {line}: expected a JSON object, got {kind}.")
MSG_NO_QUESTION = ("问题文件「{name}」第 {line} 行缺少 \"question\" 字段或问题为空。"
                   " / {name} line {line} has no \"question\" (or it is empty).")
MSG_BAD_FIELD = ("问题文件「{name}」第 {line} 行的 \"{field}\" 格式不对：{expected}。"
                 " / {name} line {line}: \"{field}\" must be {expected_en}.")
MSG_DUPLICATE_ID = ("问题文件「{name}」第 {line} 行的 query_id「{query_id}」与第 {first} 行重复，请改成唯一的编号。"
                    " / {name} line {line}: query_id {query_id!r} already used on line {first}; ids must be unique.")


def load_questions(data: bytes, name: str) -> list[dict]:
    """The rows of a question file, checked; raises DatasetError naming the line at fault."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise DatasetError(MSG_NOT_UTF8.format(name=name)) from e
    rows, first_line_of = [], {}
    for line_no, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        row = _parse_line(line, line_no, name)
        query_id = row["query_id"]
        if query_id in first_line_of:
            raise DatasetError(MSG_DUPLICATE_ID.format(name=name, line=line_no, query_id=query_id,
                                                       first=first_line_of[query_id]))
        first_line_of[query_id] = line_no
        rows.append(row)
    if not rows:
        raise DatasetError(MSG_EMPTY.format(name=name))
    return rows


def _parse_line(line: str, line_no: int, name: str) -> dict:
    try:
        row = json.loads(line)
    except json.JSONDecodeError as e:
        snippet = line.strip()[:SNIPPET_CHARS] + ("…" if len(line.strip()) > SNIPPET_CHARS else "")
        raise DatasetError(MSG_NOT_JSON.format(name=name, line=line_no, detail=e.msg, snippet=snippet)) from e
    if not isinstance(row, dict):
        raise DatasetError(MSG_NOT_OBJECT.format(name=name, line=line_no, kind=type(row).__name__))
    question = row.get("question")
    if not isinstance(question, str) or not question.strip():
        raise DatasetError(MSG_NO_QUESTION.format(name=name, line=line_no))

    def bad(field: str, expected: str, expected_en: str) -> DatasetError:
        return DatasetError(MSG_BAD_FIELD.format(name=name, line=line_no, field=field,
                                                 expected=expected, expected_en=expected_en))

    gold = row.get("gold_articles", [])
    if not isinstance(gold, list) or not all(
            isinstance(g, dict) and isinstance(g.get("law"), str) and g["law"].strip()
            and isinstance(g.get("article_cn"), str) and ARTICLE_CN_RE.match(g["article_cn"].strip())
            for g in gold):
        raise bad("gold_articles", '应为列表，每项形如 {"law": "中华人民共和国劳动合同法", "article_cn": "第四十六条"}',
                  'a list of {"law": …, "article_cn": "第…条"} objects')
    answer = row.get("answer", "")
    if not isinstance(answer, str):
        raise bad("answer", "应为字符串（参考答案）", "a string (the reference answer)")
    query_id = row.get("query_id")
    if query_id is None or (isinstance(query_id, str) and not query_id.strip()):
        query_id = f"line{line_no}"
    elif not isinstance(query_id, (str, int)) or isinstance(query_id, bool):
        raise bad("query_id", "应为字符串或整数", "a string or an integer")
    return {**row, "question": question.strip(), "gold_articles": gold, "answer": answer,
            "query_id": str(query_id).strip()}
