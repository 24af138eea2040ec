"""Contamination: benchmark items against a streamed corpus (13-gram and 50-character tests), Min-K% and Min-K%++."""

from __future__ import annotations

import gzip
import json
import random
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from weightwarden.errors import CapabilityError
from weightwarden.provenance import (
    BenchError,
    BenchItem,
    Block,
    Corpus,
    CorpusError,
    ProvenanceError,
    auroc,
    check_contamination,
    exact_overlap,
    load_bench,
    membership,
)
from weightwarden.provenance.exact import BenchIndex
from weightwarden.provenance.ngrams import char_offsets, char_values, window_hashes, word_offsets, word_values
from weightwarden.runtimes.distribution import stats_from_logits, token_stats
from weightwarden.runtimes.llamacpp import LlamaCppRuntime

# Items and corpus text written for these tests.
ITEMS = [
    BenchItem(
        "verbatim",
        "A train leaves Leeds at 9:40 and travels at 80 km/h; a second train leaves York at 10:10 at 100 km/h "
        "on the same line. At what time do they meet?",
    ),
    BenchItem(
        "reworded",
        "The museum opens its doors at ten every weekday, closes at six, and on Sundays welcomes visitors only in "
        "the afternoon, from one until five, when the café also serves tea.",
    ),
    BenchItem(
        "clean",
        "Which gas do plants take in from the air to build sugars during photosynthesis, and which do they release?",
    ),
    BenchItem("short", "Name a prime."),
]
BACKGROUND = (
    "The allotment society met on Thursday to discuss the water butts, the new shed and the question of slugs. "
    "Mrs Patel proposed a rota for the communal wheelbarrow, which was carried after a long debate. "
)
CORPUS_TEXT = (
    BACKGROUND
    * 30
    + "a train leaves LEEDS at 9:40 and travels at 80 km/h, a second train leaves York at 10:10 at 100 km/h on the "
    "same line!! At what time do they meet? "
    + BACKGROUND
    * 10
    + "The museum opens its doors at ten each weekday, closes at six, and on Sundays welcomes visitors only in the "
    "afternoon, from one to five, when the cafe also serves tea. " + BACKGROUND * 30
)


def blocks_of(text: str, size: int) -> Iterator[Block]:
    for i in range(0, len(text), size):
        yield Block("doc", text[i : i + size], i == 0)


# -- normalisation and hashing ---------------------------------------------------------------------------------
def test_hashes_ignore_case_punctuation_and_spacing() -> None:
    a = window_hashes(word_values("The  Quick, brown-fox jumps!"), 3)
    b = window_hashes(word_values("the quick brown fox JUMPS"), 3)
    assert a.shape == (3,) and (a == b).all()
    assert not (a == window_hashes(word_values("the quick brown dog jumps"), 3)).all()
    # the ASCII fast path and the Unicode path give the same values for the same words
    assert (word_values("café au lait")[1:] == word_values("cafe au lait")[1:]).all()
    assert (char_values("Ab-c d") == char_values("abcd")).all()
    assert len(word_offsets("İstanbul is big")) == len(word_values("İstanbul is big"))
    text = "Ünïcode, ok? yes 12"
    assert len(char_offsets(text)) == len(char_values(text))


def test_window_hashes_match_a_direct_computation() -> None:
    values = word_values(" ".join(f"w{i % 37}" for i in range(500)))
    windows = window_hashes(values, 13)
    again = [window_hashes(values[i : i + 13], 13)[0] for i in range(0, 488, 61)]
    assert list(windows[::61]) == again
    assert window_hashes(values[:12], 13).shape == (0,)


# -- the exact tests -------------------------------------------------------------------------------------------
def test_verbatim_reworded_clean_and_short_items() -> None:
    results = {r.id: r for r in exact_overlap(ITEMS, blocks_of(CORPUS_TEXT, 1 << 20))}
    v = results["verbatim"]
    assert v.verdict == "contaminated" and v.word_coverage == 1.0 and v.char_coverage == 1.0
    assert v.spans and v.spans[0].text.startswith("A train leaves Leeds")
    r = results["reworded"]
    assert r.verdict in ("contaminated", "partial") and 0 < r.char_coverage < 1 and r.spans
    assert all(s.text in ITEMS[1].text for s in r.spans)
    assert results["clean"].verdict == "clean" and not results["clean"].spans
    assert results["short"].verdict == "too short"


def test_streaming_in_small_blocks_finds_the_same_overlaps() -> None:
    whole = [r.as_dict() for r in exact_overlap(ITEMS, blocks_of(CORPUS_TEXT, 1 << 20))]
    for size in (7, 50, 333):
        assert [r.as_dict() for r in exact_overlap(ITEMS, blocks_of(CORPUS_TEXT, size))] == whole


def test_windows_never_span_two_documents() -> None:
    item = BenchItem("one-13-gram", "to be or not to be is not the question at all now")  # 13 words, under 50 letters
    split = [Block("a", "to be or not to be ", True), Block("b", "is not the question at all now", True)]
    joined = [Block("a", "to be or not to be ", True), Block("a", "is not the question at all now", False)]
    assert exact_overlap([item], split)[0].verdict == "clean"
    assert exact_overlap([item], joined)[0].verdict == "contaminated"


def test_memory_is_bounded_by_the_benchmark_not_the_corpus() -> None:
    rng = random.Random(0)
    words = [f"{rng.choice('bcdfghklmnprst')}{rng.choice('aeiou')}{rng.choice('nrst')}{i}" for i in range(3000)]
    block = " ".join(rng.choice(words) for _ in range(5000))  # ~38 KB
    index = BenchIndex(ITEMS)
    index.scan(Block("doc", block, i == 0) for i in range(2))  # warm the power tables

    def peak(blocks: int) -> int:
        tracemalloc.start()
        index.scan(Block("doc", block, i == 0) for i in range(blocks))
        _, top = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return top

    small, large = peak(5), peak(80)  # 0.2 MB and 3 MB of corpus
    assert large < 1.3 * small and large < 80 * len(block) / 1.5, (small, large)  # well under the corpus


# -- corpora and benchmark files -------------------------------------------------------------------------------
def test_corpus_folder_reads_text_jsonl_and_gzip_and_skips_binaries(tmp_path: Path) -> None:
    (tmp_path / "notes.md").write_text(BACKGROUND)
    (tmp_path / "docs.jsonl").write_text(json.dumps({"text": ITEMS[0].text}) + "\nnot json\n" + json.dumps([1]) + "\n")
    with gzip.open(tmp_path / "more.txt.gz", "wt") as fh:
        fh.write(ITEMS[2].text)
    (tmp_path / "model.bin").write_bytes(b"\x00\x01" * 500)
    (tmp_path / "paper.pdf").write_bytes(b"%PDF-1.7 fake")
    (tmp_path / "latin1.txt").write_bytes("caf\xe9 ".encode("latin-1") * 200)
    (tmp_path / ".hidden").write_text(ITEMS[1].text)
    corpus = Corpus(tmp_path)
    results = {r.id: r.verdict for r in exact_overlap(ITEMS, corpus.blocks())}
    assert results == {"verbatim": "contaminated", "reworded": "clean", "clean": "contaminated", "short": "too short"}
    skipped = dict(corpus.stats.skipped)
    assert skipped["model.bin"].startswith("binary") and "PDF" in skipped["paper.pdf"]
    assert skipped["latin1.txt"] == "not UTF-8 text" and "2 line(s)" in skipped["docs.jsonl"]
    assert corpus.stats.files == 3 and corpus.stats.documents == 3


def test_empty_or_unreadable_corpora_say_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match="no such file"):
        Corpus(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CorpusError, match="holds no files"):
        Corpus(tmp_path / "empty")
    binaries = tmp_path / "bin"
    binaries.mkdir()
    (binaries / "a.dat").write_bytes(b"\x00" * 100)
    (binaries / "blank.txt").write_text("   \n\n")
    with pytest.raises(CorpusError, match=r"no readable text \(skipped a.dat: binary"):
        list(Corpus(binaries).blocks())


def test_bench_files_in_every_format(tmp_path: Path) -> None:
    jsonl = tmp_path / "b.jsonl"
    jsonl.write_text(
        json.dumps({"id": "q1", "question": "2 + 2?", "choices": ["3", "4"], "answer": "4"})
        + "\n\n"
        + json.dumps({"text": "plain item"})
        + "\n"
    )
    assert load_bench(jsonl) == [BenchItem("q1", "2 + 2?\n3\n4\n4"), BenchItem("2", "plain item")]
    yml = tmp_path / "b.yaml"
    yml.write_text("items:\n  - {id: a, text: first}\n  - second\n")
    assert load_bench(yml) == [BenchItem("a", "first"), BenchItem("2", "second")]
    (tmp_path / "b.json").write_text(json.dumps([{"content": "x"}]))
    assert load_bench(tmp_path / "b.json") == [BenchItem("1", "x")]
    (tmp_path / "b.txt").write_text("one\n\ntwo\n")
    assert [i.text for i in load_bench(tmp_path / "b.txt")] == ["one", "two"]


@pytest.mark.parametrize(
    ("name", "content", "words"),
    [
        ("bad.jsonl", '{"text": "ok"}\n{oops\n', "line 2, is not JSON"),
        ("none.jsonl", '{"title": "no text"}\n', "no benchmark items"),
        ("dup.jsonl", '{"id": 1, "text": "a"}\n{"id": 1, "text": "b"}\n', "repeats item ids"),
        ("map.yaml", "just: a mapping\n", "list of items"),
        ("bin.jsonl", "\x00\x01", "binary"),
    ],
)
def test_bad_bench_files(tmp_path: Path, name: str, content: str, words: str) -> None:
    (tmp_path / name).write_text(content)
    with pytest.raises(BenchError, match=words):
        load_bench(tmp_path / name)
    with pytest.raises(BenchError, match="cannot read"):
        load_bench(tmp_path / "missing.jsonl")


# -- membership scores -----------------------------------------------------------------------------------------
def test_token_stats_agree_with_the_exact_scorer(llama: LlamaCppRuntime) -> None:
    text = "The quick brown fox jumps over the lazy dog."
    stats = token_stats(llama, text)
    ll = llama.loglikelihood("", text)
    assert stats.tokens == ll.tokens
    assert np.allclose(stats.logprob, ll.token_logprobs, atol=1e-4)
    assert (stats.std > 0).all() and (stats.mean < 0).all() and (stats.mean >= stats.logprob.min() - 50).all()
    # the mean of log p under p is minus the entropy: at most log |V|
    assert (-stats.mean <= np.log(49152) + 1e-6).all()


def test_stats_from_logits_by_hand() -> None:
    logits = np.log(np.array([[0.5, 0.25, 0.25], [0.9, 0.05, 0.05]], dtype=np.float32))
    stats = stats_from_logits(logits, [0, 1, 0], 1)
    p = np.array([0.5, 0.25, 0.25])
    mu = float((p * np.log(p)).sum())
    assert stats.logprob[0] == pytest.approx(np.log(0.25)) and stats.mean[0] == pytest.approx(mu)
    assert stats.std[0] == pytest.approx(np.sqrt((p * np.log(p) ** 2).sum() - mu**2))


def test_memorised_text_scores_higher_than_gibberish(llama: LlamaCppRuntime) -> None:
    counting = ", ".join(str(i) for i in range(1, 40))
    rng = random.Random(3)
    gibberish = " ".join(
        rng.choice(["plinth", "quorum", "zest", "ochre", "vellum", "gnarl", "fjord"]) for _ in range(40)
    )
    seen, unseen = membership(llama, counting), membership(llama, gibberish)
    assert seen.min_k > unseen.min_k and seen.min_k_pp > unseen.min_k_pp
    with pytest.raises(CapabilityError, match="remote server"):
        membership(object(), "text")
    with pytest.raises(CapabilityError, match="no tokens"):
        membership(llama, "")


def test_auroc() -> None:
    assert auroc([3, 4], [1, 2]) == 1.0 and auroc([1, 2], [3, 4]) == 0.0
    assert auroc([1, 2], [1, 2]) == 0.5
    with pytest.raises(ValueError):
        auroc([], [1.0])


def test_report_combines_both_kinds_of_evidence(llama: LlamaCppRuntime, tmp_path: Path) -> None:
    (tmp_path / "c.txt").write_text(CORPUS_TEXT)
    report = check_contamination(ITEMS, Corpus(tmp_path), llama)
    counts = report.counts()
    assert counts["contaminated"] + counts["partial"] == 2 and counts["clean"] == 1 and counts["too short"] == 1
    rows = {r["id"]: r for r in report.rows()}
    assert rows["verbatim"]["verdict"] == "contaminated" and "min_k_pp" in rows["verbatim"]
    assert report.as_dict()["corpus"]["files"] == 1
    with pytest.raises(ProvenanceError, match="nothing to check"):
        check_contamination(ITEMS)


# -- the command line ------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_cli_contamination(tmp_path: Path) -> None:
    from warden_provenance_cli import run_warden

    home = tmp_path / "home"
    (tmp_path / "train").mkdir()
    (tmp_path / "train" / "a.txt").write_text(CORPUS_TEXT)
    (tmp_path / "train" / "blob.bin").write_bytes(b"\x00\xff" * 64)
    bench = tmp_path / "bench.jsonl"
    bench.write_text("".join(json.dumps({"id": i.id, "text": i.text}) + "\n" for i in ITEMS))
    res = run_warden(home, tmp_path, "contamination", "--train", "train", "--bench", "bench.jsonl")
    assert res.code == 1, res  # an item is contaminated
    assert "contaminated" in res.out and "A train leaves Leeds" in res.out and "skipped blob.bin" in res.err
    res = run_warden(home, tmp_path, "contamination", "--train", "train", "--bench", "bench.jsonl", "--json")
    data = json.loads(res.out)
    assert data["counts"]["contaminated"] >= 1 and data["items"][0]["spans"][0]["start"] == 0
    clean = tmp_path / "clean.jsonl"
    clean.write_text(json.dumps({"text": ITEMS[2].text}) + "\n")
    res = run_warden(
        home, tmp_path, "contamination", "--train", "train", "--bench", "clean.jsonl", "--model", "default"
    )
    assert res.code == 0 and "Min-K%++" in res.out and "ledger run" in res.out, res
    (tmp_path / "empty").mkdir()
    for args, words in (
        (("--train", "empty", "--bench", "bench.jsonl"), "holds no files"),
        (("--bench", "bench.jsonl"), "nothing to check"),
        (("--train", "train", "--bench", "nope.jsonl"), "cannot read the benchmark"),
    ):
        res = run_warden(home, tmp_path, "contamination", *args)
        assert res.code == 2 and words in res.err and "Traceback" not in res.err, (args, res)
