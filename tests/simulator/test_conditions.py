"""The conditions language: grammar, comparisons, precedence and clear errors."""

from __future__ import annotations

import re

import pytest

from cw_simulator.conditions import ConditionError, parse_conditions, tokenize

RECORD = {
    "id": 7,
    "name": 'Acme "Big" Corp',
    "identifier": "C:\\Acme",
    "quantity": 5.0,
    "deletedFlag": False,
    "company": {"id": 3, "name": "Acme"},
    "type": {"name": "Managed Services"},
    "effectiveDate": "2026-01-01T00:00:00Z",
    "cancelledDate": None,
}


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ("id=7", True),
        ("id = 8", False),
        ("id!=8", True),
        ("id<8 and id<=7 and id>6 and id>=7", True),
        ("quantity=5", True),
        ("quantity>4.5", True),
        ("company/id=3", True),
        ('type/name="Managed Services"', True),
        ('type/name="managed services"', True),  # SQL Server collation: case-insensitive
        ('name="Acme \\"Big\\" Corp"', True),
        ('identifier="C:\\\\Acme"', True),
        ('name contains "big"', True),
        ('name not contains "small"', True),
        ('name like "Acme*Corp"', True),
        ('name like "*Big*"', True),
        ('name like "Big*"', False),
        ("id in (1,2,7)", True),
        ("id in (1, 2)", False),
        ("id not in (1,2)", True),
        ("deletedFlag=false", True),
        ("deletedFlag=TRUE", False),
        ("cancelledDate=null", True),
        ("cancelledDate!=null", False),
        ("missingField=null", True),
        ("effectiveDate=[2026-01-01T00:00:00Z]", True),
        ("effectiveDate<[2026-01-01T00:00:01Z]", True),
        ("effectiveDate>[2025-12-31T19:00:00-05:00]", False),  # same instant, other offset
        ("effectiveDate>=[2025-12-31T19:00:00-05:00]", True),
        ("cancelledDate=null or cancelledDate>[2026-01-01T00:00:00Z]", True),
        ("id=1 or id=7 and quantity=6", False),  # and binds tighter than or
        ("(id=1 or id=7) and quantity=5", True),
        ("((id=7) and ((company/id=3 or company/id=4)))", True),
        ("id=7 AND company/id=3 Or id=1", True),
        ("cancelledDate>[2026-01-01T00:00:00Z]", False),  # null never compares
        ("cancelledDate not in (1)", False),
        ('company/name like "ac*"', True),
        ("", True),
    ],
)
def test_condition_matches(condition, expected):
    assert parse_conditions(condition)(RECORD) is expected


@pytest.mark.parametrize(
    ("condition", "problem"),
    [
        ('name="unterminated', "unterminated string"),
        ('name="bad \\n escape"', "invalid escape"),
        ("id=", "expected a value"),
        ("id 7", "expected an operator"),
        ("(id=7", "expected ')'"),
        ("id=7)", "unexpected ')'"),
        ("id=7 and", "expected a field name"),
        ("id==7", "expected a value"),
        ("name=Acme", "expected a value"),
        ("effectiveDate>[yesterday]", "invalid date"),
        ("id in 1,2", "expected '('"),
        ("id>null", "null can only be compared"),
        ("name like 5", "like needs a string"),
        ("id=7 # comment", "unexpected character '#'"),
        ("nope=1", "unknown field 'nope'"),
    ],
)
def test_malformed_condition_names_the_problem(condition, problem):
    with pytest.raises(ConditionError, match=re.escape(problem)):
        parse_conditions(condition, known_fields=RECORD.keys())(RECORD)


def test_field_names_match_case_insensitively():
    assert parse_conditions("Company/ID=3", known_fields=RECORD.keys())(RECORD)


def test_tokenizer_reports_positions():
    tokens = tokenize('company/id = 3 and name="x"')
    assert [(t.kind, t.pos) for t in tokens] == [
        ("word", 0),
        ("op", 11),
        ("number", 13),
        ("word", 15),
        ("word", 19),
        ("op", 23),
        ("string", 24),
        ("end", 27),
    ]
