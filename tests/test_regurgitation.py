"""Regurgitation: prompt the real default model with document prefixes and measure verbatim overlap."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from weightwarden.ledger import Ledger
from weightwarden.provenance import Corpus, CorpusError, check_regurgitation
from weightwarden.provenance.regurgitation import common_prefix, longest_common, ngram_overlap, squash
from weightwarden.runtimes import GenerationParams
from weightwarden.runtimes.llamacpp import LlamaCppRuntime
from weightwarden.runtimes.platform_info import PLATFORM_KEY, platform_info

# Written for these tests: a document the model has never seen.
FRESH = (
    "Minutes of the Harbour Road residents' meeting. Present: eleven households. The bin collection will move from "
    "Tuesday to Wednesday from next month; Mr Okafor asked whether the recycling crates can be left out overnight and "
    "was told they can, if lids are weighted. The broken streetlight opposite number 14 has been reported twice. "
    "Ms Lindqvist offered to organise a litter pick on the last Saturday of the month, starting at the bench by the "
    "post box, and asked for volunteers to bring gloves. The treasurer reported a balance of 212 pounds."
)


OPENING = "In the small town of Alderbrook, the annual"


@pytest.fixture(scope="module")
def recited(llama: LlamaCppRuntime) -> str:
    """A document the model can recite: its own greedy continuation of a short opening."""
    return OPENING + llama.complete(OPENING, GenerationParams(max_tokens=70)).text


def test_overlap_measures() -> None:
    assert squash(" a \n\n b\tc ") == "a b c"
    assert longest_common("xx the cat sat yy", "a the cat sat b") == " the cat sat "
    assert ngram_overlap("one two three four five six", "zero one two three four five") == 0.5
    assert ngram_overlap("too short", "anything") == 0.0
    assert common_prefix("abcd", "abxy") == 2


def test_a_recited_document_is_flagged_and_a_fresh_one_is_not(llama: LlamaCppRuntime, recited: str) -> None:
    docs = [("recited.txt", recited), ("fresh.txt", FRESH)]
    # Probe the recited document at its opening: the probe's prompt is then the opening itself, the very
    # computation that wrote the document, so the model repeats it on any CPU. (From a later offset the prompt
    # would hold tokens that were generated one by one, read in one batch: near ties could flip.)
    opening = llama.tokenize(OPENING)
    assert llama.tokenize(recited)[: len(opening)] == opening, "the continuation merged with the opening's last token"
    report = check_regurgitation(llama, docs, prefix_tokens=len(opening), new_tokens=30, probes=1)
    by_doc = {d.doc: d for d in report.documents}
    hit, miss = by_doc["recited.txt"], by_doc["fresh.txt"]
    assert hit.probes[0].prompt == OPENING and recited.startswith(OPENING + hit.probes[0].generated)
    assert hit.longest_chars >= 50 and hit.ngram_overlap > 0.5 and hit.probes[0].prefix_chars >= 50, hit.as_dict()
    assert miss.longest_chars < 50 and not miss.probes[0].extracted, miss.as_dict()
    assert [d.doc for d in report.flagged()] == ["recited.txt"]
    assert report.as_dict()["flagged"] == ["recited.txt"]


def test_short_documents_empty_corpora_and_binaries(llama: LlamaCppRuntime, tmp_path: Path) -> None:
    report = check_regurgitation(llama, [("tiny.txt", "Too short to probe.")], prefix_tokens=20, new_tokens=10)
    assert not report.documents[0].probes and "too short to probe" in report.documents[0].note
    assert report.flagged() == []
    (tmp_path / "empty").mkdir()
    with pytest.raises(CorpusError, match="holds no files"):
        check_regurgitation(llama, Corpus(tmp_path / "empty"))
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "weights.gguf").write_bytes(b"GGUF\x03\x00\x00\x00" + b"\x00" * 64)
    with pytest.raises(CorpusError, match=r"no readable text \(skipped weights.gguf: a model file"):
        check_regurgitation(llama, Corpus(tmp_path / "bin"))
    with pytest.raises(CorpusError, match="at least 1"):
        check_regurgitation(llama, [("a", FRESH)], prefix_tokens=0)
    with pytest.raises(CorpusError, match="no documents"):
        check_regurgitation(llama, [])


@pytest.mark.slow
def test_cli_regurgitation(tmp_path: Path, recited: str, llama: LlamaCppRuntime) -> None:
    from warden_provenance_cli import run_warden

    # The probe is the opening alone, as in the test above: a longer prefix would feed back tokens the model wrote
    # one at a time, read in one batch, and on another CPU that can flip a near tie (3 of 18 recitals missed).
    prefix = str(len(llama.tokenize(OPENING)))

    home = tmp_path / "home"
    docs = tmp_path / "protected"
    docs.mkdir()
    (docs / "recited.md").write_text(recited)
    (docs / "minutes.txt").write_text(FRESH)
    (docs / "scan.pdf").write_bytes(b"%PDF-1.4 binary")
    args = ("regurgitation", "default", "--corpus", "protected", "--prefix-tokens", prefix, "--new-tokens", "30")
    res = run_warden(home, tmp_path, *args, "--probes", "1", "--json")
    assert res.code == 1, res  # a document was recited
    data = json.loads(res.out)
    assert data["flagged"] == ["recited.md"] and data["documents"] == 2 and data["run_id"]
    assert data["corpus"]["skipped"][0]["file"] == "scan.pdf"
    with Ledger(f"sqlite:///{home / 'ledger.db'}") as ledger:
        run = ledger.run(data["run_id"])
    assert run is not None and run.config[PLATFORM_KEY]["build_id"] == platform_info().build_id  # what it ran on
    (tmp_path / "empty").mkdir()
    res = run_warden(home, tmp_path, "regurgitation", "default", "--corpus", "empty")
    assert res.code == 2 and "holds no files" in res.err and "Traceback" not in res.err
