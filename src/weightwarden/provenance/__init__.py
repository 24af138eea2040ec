"""Provenance: is a benchmark in the training data (contamination), and does the model recite protected text
(regurgitation).

    from weightwarden.provenance import Corpus, load_bench, check_contamination, check_regurgitation
    report = check_contamination(load_bench(Path("bench.jsonl")), Corpus(Path("train/")), runtime)
    report.counts(), report.rows()          # contaminated / partial / clean, spans, Min-K% and Min-K%++
    check_regurgitation(runtime, Corpus(Path("protected/"))).flagged()
"""

from weightwarden.provenance.base import BenchError, CorpusError, ProvenanceError, Span
from weightwarden.provenance.bench import BenchItem, load_bench
from weightwarden.provenance.corpus import Block, Corpus, CorpusStats
from weightwarden.provenance.exact import BenchIndex, ItemOverlap, exact_overlap
from weightwarden.provenance.minkprob import Membership, auroc, membership
from weightwarden.provenance.regurgitation import RegurgitationReport, check_regurgitation
from weightwarden.provenance.report import ContaminationReport, check_contamination

__all__ = [
    "BenchError",
    "BenchIndex",
    "BenchItem",
    "Block",
    "ContaminationReport",
    "Corpus",
    "CorpusError",
    "CorpusStats",
    "ItemOverlap",
    "Membership",
    "ProvenanceError",
    "RegurgitationReport",
    "Span",
    "auroc",
    "check_contamination",
    "check_regurgitation",
    "exact_overlap",
    "load_bench",
    "membership",
]
