"""Suggestion ranking on plain values: identical, normalised, similar, rejected, bulk skips."""

from __future__ import annotations

import pytest

from billing_sync.suggestions import CwChoice, Suggestion, name_key, rank_suggestions
from billing_sync.worklist import Candidate, skip_reason

CW = [
    CwChoice(1, "Acme Dental"),
    CwChoice(2, "Bakery Bros."),
    CwChoice(3, "Contoso Limited"),
    CwChoice(4, "Contoso Ltd Holdings"),
    CwChoice(5, "Northwind Traders"),
    CwChoice(6, "Twin Co"),
    CwChoice(7, "Twin Co"),
]


def rank(vendor: dict[int, str], rejected=None) -> dict[int, Suggestion]:
    return {s.company_id: s for s in rank_suggestions(vendor, CW, rejected or {})}


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("  Bakery   Bros. ", "bakery bros"),
        ("O'Brien & Sons, LLC", "o brien sons llc"),
        ("ＡＣＭＥ Dental", "acme dental"),  # fullwidth letters fold to ASCII
        ("---", ""),
    ],
)
def test_name_key_ignores_case_punctuation_and_spacing(name, key):
    assert name_key(name) == key


def test_an_identical_name_is_suggested_as_identical():
    assert rank({10: "Acme Dental"})[10] == Suggestion(10, 1, "identical", 100)
    assert rank({10: "Acme Dental"})[10].explanation == "identical name"


def test_case_and_punctuation_differences_are_normalised_not_similar():
    found = rank({10: "BAKERY BROS"})[10]
    assert (found.cw_company_id, found.reason, found.score) == (2, "normalised", 100)
    assert found.explanation == "same name ignoring case and punctuation"


def test_a_similar_name_carries_its_score_and_never_100_reasons():
    found = rank({10: "Northwind Trading"})[10]
    assert (found.cw_company_id, found.reason) == (5, "similar")
    assert 70 <= found.score < 100
    assert found.explanation == f"similar name (score {found.score})"


def test_an_unrelated_name_gets_no_suggestion():
    assert rank({10: "Fabrikam"}) == {}


def test_a_missing_word_does_not_score_like_a_match():
    # a partial scorer would call "Acme" 90 % of "Acme Dental": not close enough to accept in bulk
    found = rank({10: "Acme"}).get(10)
    assert found is None or found.score < 90


def test_a_rejected_company_is_never_suggested_again_the_next_best_is():
    assert rank({10: "Contoso Ltd"})[10].cw_company_id == 3
    again = rank({10: "Contoso Ltd"}, rejected={10: {3}})[10]
    assert again.cw_company_id == 4 and again.reason == "similar"
    assert rank({10: "Acme Dental"}, rejected={10: {1}}) == {}


def test_a_rejection_is_per_vendor_company():
    found = rank({10: "Acme Dental", 11: "Acme Dental"}, rejected={10: {1}})
    assert 10 not in found and found[11].cw_company_id == 1


def test_equally_close_companies_are_counted_as_ties():
    found = rank({10: "Twin Co"})[10]
    assert (found.cw_company_id, found.ties) == (6, 2)


def candidate(**changes) -> Candidate:
    values = dict(
        company_id=1, ties=1, cw_company_id=5, agreement_id=50, active_agreements=1, taken=False
    )
    return Candidate(**{**values, **changes})


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({}, None),
        ({"ties": 2}, "with several ConnectWise companies equally close"),
        ({"taken": True}, "whose ConnectWise company is already mapped to another company"),
        ({"agreement_id": None, "active_agreements": 0}, "with no active agreement"),
        (
            {"agreement_id": None, "active_agreements": 3},
            "with several active agreements (choose one)",
        ),
    ],
)
def test_bulk_accept_leaves_ambiguous_suggestions_to_a_person(changes, reason):
    assert skip_reason(candidate(**changes)) == reason
