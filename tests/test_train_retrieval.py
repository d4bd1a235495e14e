"""bench/train_retrieval.py and bench/gpu_embed.py helpers: the packed vectors that come back
from the GPU machine, and the same-law/chapter negative pools."""
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

from gpu_embed import pack_int8, pack_min_cosine, unpack_int8  # noqa: E402
from train_retrieval import family_pools  # noqa: E402

from rag.types import Article  # noqa: E402


def _unit_rows(n: int, dim: int = 384) -> np.ndarray:
    rng = np.random.default_rng(0)
    common = rng.normal(size=dim)
    v = rng.normal(size=(n, dim)) * 0.03 + common / np.linalg.norm(common) * 0.8  # e5-like: one shared direction
    return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)


def test_packed_vectors_round_trip_in_order_and_close(tmp_path):
    v = _unit_rows(250)
    for bits in (6, 7, 8):
        files = pack_int8(v, tmp_path / str(bits), "x", bits, rows_per_file=100)
        assert [f.name for f in files] == ["x_0.npz", "x_1.npz", "x_2.npz"]
        back = unpack_int8(files)
        assert back.shape == v.shape
        cosine = (back * v).sum(axis=1)
        assert cosine.min() > 0.999  # bench/retrieval.py refuses GPU vectors below 0.999
        assert abs(pack_min_cosine(v, files) - cosine.min()) < 1e-6
        # each row is nearest to its own original (order kept)
        assert (np.argmax(back @ v.T, axis=1) == np.arange(len(v))).all()


def test_fewer_bits_give_smaller_files(tmp_path):
    v = _unit_rows(400)
    sizes = [sum(f.stat().st_size for f in pack_int8(v, tmp_path / str(b), "x", b)) for b in (6, 8)]
    assert sizes[0] < sizes[1]


def test_family_pools_same_chapter_first_then_neighbours():
    def art(law, no, chapter):
        return Article(text=f"{law}{no}", law_title=law, article_no=no, chapter=chapter, file_name=law)

    items = [(f"a#{i}", art("甲法", i + 1, "第一章" if i < 8 else "第二章")) for i in range(12)]
    items += [(f"b#{i}", art("乙法", i + 1, "")) for i in range(3)]
    pools = family_pools(items)
    assert pools[0][:7] == [1, 2, 3, 4, 5, 6, 7]  # the rest of 第一章, nearest first
    assert all(r < 12 for r in pools[0])  # never another law
    assert set(pools[9]) >= {8, 10, 11}  # 第二章 has 4 articles: neighbours from 第一章 join
    assert pools[12] == [13, 14]  # no chapter: same-law neighbours
