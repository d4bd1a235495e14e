"""Cross-reference parsing (rag/refs.references) and the follow step on a real small KB."""
from rag.retrieval.refs import REF, follow_references, references
from rag.types import Article, Citation
from tests.kb_fixtures import embedder, labor_kb, labor_library  # noqa: F401 - pytest fixtures

LAWS = {"劳动合同法", "劳动法"}


def art(text: str, law: str = "劳动合同法", no: int = 46) -> Article:
    return Article(text=text, law_short=law, article_no=no, article_cn="")


def test_chinese_numerals_and_same_law():
    assert references(art("依照本法第四十七条的规定支付经济补偿"), LAWS) == [("劳动合同法", 47, 0)]
    assert references(art("违反本法第一百零八条规定"), LAWS) == [("劳动合同法", 108, 0)]
    assert references(art("依照第10条之一"), LAWS) == [("劳动合同法", 10, 1)]


def test_lists_ranges_other_laws_and_self():
    assert references(art("依照本法第三十八条、第四十条第一款第（二）项"), LAWS) == [
        ("劳动合同法", 38, 0), ("劳动合同法", 40, 0)]
    assert references(art("本法第三十六条至第三十八条"), LAWS) == [
        ("劳动合同法", 36, 0), ("劳动合同法", 37, 0), ("劳动合同法", 38, 0)]
    assert references(art("依照《中华人民共和国劳动法》第四十四条"), LAWS) == [("劳动法", 44, 0)]
    assert references(art("依照《工会法》第二十二条"), LAWS) == []  # not in the KB
    assert references(art("本法第四十六条和前款规定"), LAWS) == []  # itself


def test_follow_adds_the_referenced_article_once(labor_kb):
    snap = labor_kb.snapshot()
    a87 = snap.lookup("劳动合同法", 87)  # 依照本法第四十七条规定的经济补偿标准的二倍
    followed = follow_references([Citation(a87, 1.0, ["bm25"])], snap)
    assert [c.article.article_id for c in followed][:1] == ["劳动合同法第四十七条"]
    assert all(c.retrievers == [REF] for c in followed)
    a47 = snap.lookup("劳动合同法", 47)
    again = follow_references([Citation(a87, 1.0, ["bm25"]), Citation(a47, 0.5, ["bm25"])], snap)
    assert "劳动合同法第四十七条" not in [c.article.article_id for c in again]
