"""LLM-as-judge: a judge endpoint scores two answers to one question on a rubric.

The default rubric is the seven dimensions of the labor-dispute (unpaid overtime) case
study; any rubric of "维度：说明" lines replaces it. The judge's reply is parsed
leniently (code fences, <think> blocks, trailing commas, single quotes, "8/10",
several layouts), because small judges rarely return clean JSON.

Does not pick or start the judge endpoint; callers pass a client with `.chat()`.
"""
from __future__ import annotations

import ast
import json
import re
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from statistics import fmean
from typing import Any

from rag.errors import RagError
from rag.eval.evaluate import ChatLike, read_predictions

DEFAULT_RUBRIC: dict[str, str] = {
    "计算基数主张": "是否正确主张加班费的计算基数（劳动合同约定工资、实际工资，不得低于最低工资），并说明依据",
    "证据链构建": "是否指导收集考勤记录、工资条、聊天记录、工作成果等证据，并说明用人单位的举证责任",
    "加班事实认定": "是否准确区分工作日延时、休息日、法定节假日加班及综合工时/不定时工时制度",
    "差额计算方法": "是否给出150%/200%/300%的计算方法和差额的具体算式",
    "应对公司抗辩": "是否预判并反驳公司常见抗辩（已包含在工资中、未审批、调休、时效等）",
    "仲裁请求撰写": "是否给出清晰可用的仲裁请求事项、时效提示和程序步骤",
    "用户角色定位": "是否站在劳动者（提问者）立场，语言通俗、建议可操作",
}
# Any legal question (the answer benchmark, the chat's 评审对比 button): seven dimensions.
LEGAL_QA_RUBRIC: dict[str, str] = {
    "结论正确": "结论是否正确回答了问题，并符合现行法律",
    "法条依据": "是否引用了与问题相关的正确法条，条号与原文是否准确",
    "不编造": "是否没有编造法律名称、条文编号或条文内容",
    "要点完整": "是否覆盖问题涉及的关键要点、条件和例外情形",
    "可操作性": "建议是否具体可行（证据、程序、时效、可求助的部门）",
    "通俗清晰": "是否语言通俗、结构清楚，普通人能看懂",
    "用户立场": "是否站在提问者的角度，回应其实际关切",
}
SCORE_MIN, SCORE_MAX = 1, 10
GOOD_SCORE, PARTLY_SCORE = 8, 5  # ✅ / ⚠️ / ❌ marks in the comparison table
JUDGE_SAMPLING = {"temperature": 0.0, "max_tokens": 1024, "seed": 42}  # ChatClient.chat kwargs

JUDGE_PROMPT = """你是一名资深的中国执业律师，请公正地评价两个AI助手对同一问题的回答。

【问题】
{question}

【回答A】
{answer_a}

【回答B】
{answer_b}

请按以下维度分别给回答A和回答B打分（{lo}-{hi}的整数，越高越好）：
{rubric}

不要因回答的先后顺序或长度而偏袒任何一方。只输出一个JSON对象，不要输出其他内容，格式如下：
{{"A": {{{example}}}, "B": {{{example}}}, "理由": "一两句话说明主要差异", "胜者": "A或B或平局"}}"""

_THINK = re.compile(r"<think>.*?(</think>|$)", re.S)
_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.S | re.I)
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
_A_KEYS = ("a", "回答a", "答案a", "模型a", "answer_a", "answer a", "assistant_a", "助手a")
_B_KEYS = tuple(k[:-1] + "b" for k in _A_KEYS)


class JudgeParseError(RagError):
    """The judge's reply held no scores that could be read."""


@dataclass
class Verdict:
    """One judged pair. Scores are None for dimensions the judge left out."""

    question: str
    scores_a: dict[str, float | None]
    scores_b: dict[str, float | None]
    reason: str = ""
    winner: str = ""  # "A" | "B" | "tie" | "" when the judge did not say
    raw: str = ""
    error: str = ""  # set when the judge failed or its reply could not be parsed

    @property
    def total_a(self) -> float:
        return sum(v for v in self.scores_a.values() if v is not None)

    @property
    def total_b(self) -> float:
        return sum(v for v in self.scores_b.values() if v is not None)


@dataclass
class ParsedScores:
    a: dict[str, float | None]
    b: dict[str, float | None]
    extras: dict[str, Any] = field(default_factory=dict)


def parse_rubric(text: str) -> dict[str, str]:
    """A user-edited rubric, one "维度：说明" (or "维度: 说明", or just "维度") per line."""
    rubric: dict[str, str] = {}
    for line in text.splitlines():
        line = re.sub(r"^\s*(?:[-*•]|\d+[.、)])\s*", "", line).strip()
        if not line:
            continue
        name, _, desc = line.replace("：", ":").partition(":")
        rubric[name.strip()] = desc.strip()
    if not rubric:
        raise JudgeParseError("The rubric is empty: write one dimension per line, e.g. 证据链构建：说明。")
    return rubric


def judge_prompt(question: str, answer_a: str, answer_b: str, rubric: dict[str, str]) -> str:
    lines = "\n".join(f"{i}. {k}：{desc}" if desc else f"{i}. {k}" for i, (k, desc) in enumerate(rubric.items(), 1))
    example = ", ".join(f'"{k}": 分数' for k in rubric)
    return JUDGE_PROMPT.format(question=question, answer_a=answer_a, answer_b=answer_b, rubric=lines,
                               example=example, lo=SCORE_MIN, hi=SCORE_MAX)


def parse_verdict(reply: str, dimensions: Sequence[str]) -> ParsedScores:
    """Scores for A and B per dimension from a judge's reply; raises JudgeParseError."""
    text = _THINK.sub("", reply or "").strip()
    for obj in _json_candidates(text):
        parsed = _read_scores(obj, dimensions)
        if parsed and any(v is not None for v in [*parsed.a.values(), *parsed.b.values()]):
            return parsed
    raise JudgeParseError(
        f"The judge's reply holds no readable scores for {', '.join(dimensions)}: {text[:200]!r}. "
        "Use a stronger judge model or simplify the rubric."
    )


def _json_candidates(text: str):
    """Parsed objects found in the text: fenced blocks first, then each balanced {...}."""
    chunks = [m.group(1) for m in _FENCE.finditer(text)] + [text]
    for chunk in chunks:
        for start in [i for i, c in enumerate(chunk) if c in "{["]:
            end = _balanced_end(chunk, start)
            if end is None:
                continue
            obj = _loads_lenient(chunk[start:end])
            if obj is not None:
                yield obj


def _balanced_end(s: str, start: int) -> int | None:
    depth, quote, escaped = 0, "", False
    for i in range(start, len(s)):
        c = s[i]
        if quote:
            escaped = c == "\\" and not escaped
            if c == quote and not escaped:
                quote = ""
            continue
        if c in "\"'" and (c == '"' or s[i - 1] in "{[,: "):
            quote = c
        elif c in "{[":
            depth += 1
        elif c in "}]":
            depth -= 1
            if depth == 0:
                return i + 1
    return None


def _loads_lenient(s: str) -> Any:
    try:
        return json.loads(s)
    except json.JSONDecodeError:
        pass
    s = s.translate(str.maketrans({"“": '"', "”": '"', "：": ":", "，": ","}))  # full-width JSON
    s = re.sub(r",\s*([}\]])", r"\1", s)  # trailing commas
    try:
        return json.loads(s)
    except json.JSONDecodeError:
        pass
    try:  # single quotes, True/None: a Python literal
        return ast.literal_eval(re.sub(r"\btrue\b|\bfalse\b|\bnull\b",
                                       lambda m: {"true": "True", "false": "False", "null": "None"}[m.group()], s))
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return None


def _score(value: Any) -> float | None:
    if isinstance(value, dict):  # {"score": 8, "reason": ...}
        value = next((value[k] for k in ("score", "分数", "得分", "value") if k in value), None)
    if isinstance(value, bool) or value is None:
        return None
    m = _NUMBER.search(str(value))  # 8, "8", "8分", "8/10"
    if not m:
        return None
    return max(float(SCORE_MIN), min(float(SCORE_MAX), float(m.group())))


def _by_dimension(obj: Any, dimensions: Sequence[str]) -> dict[str, float | None]:
    obj = obj if isinstance(obj, dict) else {}
    norm = {re.sub(r"\s", "", str(k)): v for k, v in obj.items()}
    return {d: _score(norm.get(re.sub(r"\s", "", d))) for d in dimensions}


def _pick(obj: dict, keys: Sequence[str]) -> Any:
    for k, v in obj.items():
        if re.sub(r"[\s_]", "", str(k)).lower() in {re.sub(r"[\s_]", "", x) for x in keys}:
            return v
    return None


def _read_scores(obj: Any, dimensions: Sequence[str]) -> ParsedScores | None:
    if isinstance(obj, list):  # [{"维度": "...", "A": 8, "B": 7}, ...]
        a, b = {}, {}
        for item in obj:
            if isinstance(item, dict):
                name = str(_pick(item, ("维度", "dimension", "name", "项目")) or "")
                a[name], b[name] = _pick(item, _A_KEYS), _pick(item, _B_KEYS)
        return ParsedScores(_by_dimension(a, dimensions), _by_dimension(b, dimensions))
    if not isinstance(obj, dict):
        return None
    inner = _pick(obj, ("scores", "评分", "分数", "得分"))
    if isinstance(inner, (dict, list)):
        nested = _read_scores(inner, dimensions)
        if nested:
            nested.extras = obj
            return nested
    a, b = _pick(obj, _A_KEYS), _pick(obj, _B_KEYS)
    if isinstance(a, dict) or isinstance(b, dict):
        return ParsedScores(_by_dimension(a, dimensions), _by_dimension(b, dimensions), obj)
    # {"计算基数主张": {"A": 8, "B": 7}, ...}
    per_dim = {d: v for d, v in obj.items() if isinstance(v, dict)}
    if per_dim:
        return ParsedScores(_by_dimension({d: _pick(v, _A_KEYS) for d, v in per_dim.items()}, dimensions),
                       _by_dimension({d: _pick(v, _B_KEYS) for d, v in per_dim.items()}, dimensions), obj)
    return None


def _winner(extras: dict) -> str:
    said = re.sub(r"[\s\"'。.]", "", str(_pick(extras, ("胜者", "winner", "better", "结论")) or "")).upper()
    if "平" in said or "TIE" in said or "EQUAL" in said:
        return "tie"
    has_a, has_b = "A" in said, "B" in said
    return "A" if has_a and not has_b else "B" if has_b and not has_a else ""


def judge_pair(question: str, answer_a: str, answer_b: str, judge: ChatLike,
               rubric: dict[str, str] | None = None) -> Verdict:
    """Ask the judge once; a reply without readable scores raises JudgeParseError."""
    rubric = rubric or DEFAULT_RUBRIC
    prompt = judge_prompt(question, answer_a, answer_b, rubric)
    reply = judge.chat([{"role": "user", "content": prompt}], **JUDGE_SAMPLING).answer
    parsed = parse_verdict(reply, list(rubric))
    reason = str(_pick(parsed.extras, ("理由", "reason", "reasons", "explanation", "说明")) or "")
    verdict = Verdict(question, parsed.a, parsed.b, reason=reason, raw=reply)
    verdict.winner = _winner(parsed.extras)
    return verdict


def judge_predictions(path_a: str, path_b: str, judge: ChatLike, rubric: dict[str, str] | None = None,
                      concurrency: int = 2, on_progress: Callable[[int, int], None] | None = None) -> list[Verdict]:
    """Judge two generated_predictions.jsonl files row by row (paired by id, else by order).

    A row whose judging fails becomes a Verdict with `error` set and no scores.
    """
    rubric = rubric or DEFAULT_RUBRIC
    rows_a, rows_b = read_predictions(path_a), read_predictions(path_b)
    by_id = {r.get("id"): r for r in rows_b}
    pairs = [(ra, by_id.get(ra.get("id")) or (rows_b[i] if i < len(rows_b) else None))
             for i, ra in enumerate(rows_a)]
    pairs = [(ra, rb) for ra, rb in pairs if rb is not None]

    def one(pair: tuple[dict, dict]) -> Verdict:
        ra, rb = pair
        try:
            return judge_pair(ra["prompt"], ra["predict"], rb["predict"], judge, rubric)
        except Exception as e:  # noqa: BLE001 - one bad row must not lose the others
            empty = dict.fromkeys(rubric)
            return Verdict(ra.get("prompt", ""), empty, dict(empty), error=str(e))

    verdicts = []
    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        for i, v in enumerate(pool.map(one, pairs), 1):
            verdicts.append(v)
            if on_progress:
                on_progress(i, len(pairs))
    return verdicts


def verdict_table(verdicts: Sequence[Verdict], name_a: str = "A", name_b: str = "B") -> list[dict]:
    """Mean score per dimension for each side, plus a total row and the win counts."""
    ok = [v for v in verdicts if not v.error]
    dims = list(ok[0].scores_a) if ok else []

    def mean(values: list[float | None]) -> float | None:
        vals = [x for x in values if x is not None]
        return round(fmean(vals), 2) if vals else None

    rows = [{"维度": d, name_a: mean([v.scores_a.get(d) for v in ok]), name_b: mean([v.scores_b.get(d) for v in ok])}
            for d in dims]
    rows.append({"维度": "总分", name_a: mean([v.total_a for v in ok]), name_b: mean([v.total_b for v in ok])})
    rows.append({"维度": "胜出次数", name_a: sum(v.winner == "A" for v in ok), name_b: sum(v.winner == "B" for v in ok)})
    return rows


@dataclass
class SwappedVerdict:
    """Two answers judged twice, with their positions swapped; scores are the mean of both
    orders, winners are per order in the caller's terms (A = answer_a)."""

    scores_a: dict[str, float | None]
    scores_b: dict[str, float | None]
    winners: list[str]  # "A" | "B" | "tie" | "" (not said), one per readable order
    reasons: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def judge_swapped(question: str, answer_a: str, answer_b: str, judge: ChatLike,
                  rubric: dict[str, str] | None = None) -> SwappedVerdict:
    """judge_pair in both orders (A first, then B first), so a position bias averages out
    and shows as disagreement. Raises JudgeParseError only when both orders fail."""
    rubric = rubric or DEFAULT_RUBRIC
    sides: dict[str, list[dict]] = {"A": [], "B": []}
    winners, reasons, errors = [], [], []
    for swapped in (False, True):
        try:
            v = judge_pair(question, *((answer_b, answer_a) if swapped else (answer_a, answer_b)), judge, rubric)
        except Exception as e:  # noqa: BLE001 - one unreadable order keeps the other
            errors.append(str(e))
            continue
        first, second = (v.scores_b, v.scores_a) if swapped else (v.scores_a, v.scores_b)
        sides["A"].append(first), sides["B"].append(second)
        winners.append({"A": "B", "B": "A"}.get(v.winner, v.winner) if swapped else v.winner)
        reasons.append(v.reason)
    if not sides["A"]:
        raise JudgeParseError("评审模型两次都没有给出可读的评分：" + "；".join(errors))

    def mean(side: list[dict], dim: str) -> float | None:
        vals = [x[dim] for x in side if x.get(dim) is not None]
        return round(fmean(vals), 1) if vals else None

    return SwappedVerdict({d: mean(sides["A"], d) for d in rubric}, {d: mean(sides["B"], d) for d in rubric},
                          winners, reasons, errors)


def score_mark(score: float | None) -> str:
    """✅ good (≥ 8), ⚠️ partly (5–7.9), ❌ poor (< 5), like the product's demo table."""
    if score is None:
        return "—"
    return "✅" if score >= GOOD_SCORE else "⚠️" if score >= PARTLY_SCORE else "❌"


def comparison_table(verdict: SwappedVerdict, name_a: str, name_b: str) -> list[dict]:
    """Rows of 维度 / name_a / name_b with a mark and the mean score per side."""
    def cell(score: float | None) -> str:
        return f"{score_mark(score)} {score:g}" if score is not None else "—"

    rows = [{"维度": d, name_a: cell(verdict.scores_a[d]), name_b: cell(verdict.scores_b[d])}
            for d in verdict.scores_a]
    wins = {w: verdict.winners.count(w) for w in ("A", "B", "tie")}
    rows.append({"维度": "两次评审的胜者", name_a: f"{wins['A']} 次", name_b: f"{wins['B']} 次"
                 + (f"（平局 {wins['tie']} 次）" if wins["tie"] else "")})
    return rows
