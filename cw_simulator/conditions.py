"""ConnectWise `conditions` query language: tokenizer, recursive-descent parser, predicates.

Grammar (keywords case-insensitive; `and` binds tighter than `or`, as in SQL):

    expr       := and_expr ("or" and_expr)*
    and_expr   := term ("and" term)*
    term       := "(" expr ")" | comparison
    comparison := FIELD op value | FIELD ["not"] "in" "(" value ("," value)* ")"
    op         := "=" | "!=" | "<" | "<=" | ">" | ">=" | ["not"] "contains" | ["not"] "like"
    value      := STRING | NUMBER | "true" | "false" | "null" | "[" DATETIME "]"

Comparisons follow the SQL Server behind ConnectWise: strings compare case-insensitively, and a
missing (null) field matches nothing except `= null` / `!= null`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

Predicate = Callable[[dict[str, Any]], bool]

_TOKEN = re.compile(
    r"""(?P<space>\s+)
      | (?P<string>")
      | (?P<date>\[[^\]]*\])
      | (?P<number>-?\d+(?:\.\d+)?(?![\w/]))
      | (?P<op>!=|<=|>=|=|<|>)
      | (?P<punct>[(),])
      | (?P<word>[A-Za-z_][A-Za-z0-9_]*(?:/[A-Za-z_][A-Za-z0-9_]*)*)
    """,
    re.VERBOSE,
)
_WORD_OPS = {"contains", "like", "in"}


class ConditionError(ValueError):
    """A malformed `conditions` string; the message names the problem and its position."""


@dataclass(frozen=True)
class Token:
    """One lexical token: kind (string/date/number/op/punct/word/end), value and offset."""

    kind: str
    value: Any
    pos: int


def _read_string(text: str, start: int) -> tuple[str, int]:
    """The string literal opening at `start`; backslash escapes only `"` and `\\`."""
    out, i = [], start + 1
    while i < len(text):
        char = text[i]
        if char == '"':
            return "".join(out), i + 1
        if char == "\\":
            if i + 1 >= len(text) or text[i + 1] not in '"\\':
                raise ConditionError(f"invalid escape in string at position {i}")
            char, i = text[i + 1], i + 1
        out.append(char)
        i += 1
    raise ConditionError(f"unterminated string starting at position {start}")


def parse_datetime(value: str) -> datetime:
    """An aware datetime from ISO 8601 text (`Z`, an offset, or naive meaning UTC)."""
    parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def tokenize(text: str) -> list[Token]:
    """Split `text` into tokens, ending with an `end` token."""
    tokens, pos = [], 0
    while pos < len(text):
        found = _TOKEN.match(text, pos)
        if not found:
            raise ConditionError(f"unexpected character {text[pos]!r} at position {pos}")
        kind, raw = found.lastgroup, found.group()
        if kind == "string":
            value, end = _read_string(text, pos)
            tokens.append(Token("string", value, pos))
            pos = end
            continue
        if kind == "date":
            try:
                tokens.append(Token("date", parse_datetime(raw[1:-1]), pos))
            except ValueError:
                raise ConditionError(f"invalid date {raw} at position {pos}") from None
        elif kind == "number":
            tokens.append(Token("number", float(raw) if "." in raw else int(raw), pos))
        elif kind != "space":
            tokens.append(Token(kind, raw, pos))
        pos = found.end()
    tokens.append(Token("end", None, pos))
    return tokens


class _Parser:
    """Recursive descent over the token list, building closures."""

    def __init__(self, text: str, known_fields: Collection[str] | None) -> None:
        self.tokens = tokenize(text)
        self.index = 0
        self.known = {f.casefold() for f in known_fields} if known_fields is not None else None

    def peek(self) -> Token:
        return self.tokens[self.index]

    def take(self) -> Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def keyword(self, word: str) -> bool:
        token = self.peek()
        if token.kind == "word" and token.value.casefold() == word:
            self.index += 1
            return True
        return False

    def expect(self, kind: str, value: str | None = None) -> Token:
        token = self.take()
        if token.kind != kind or (value is not None and token.value != value):
            wanted = value or kind
            raise ConditionError(f"expected {wanted!r} at position {token.pos}, got {_show(token)}")
        return token

    def parse(self) -> Predicate:
        predicate = self.expr()
        token = self.peek()
        if token.kind != "end":
            raise ConditionError(f"unexpected {_show(token)} at position {token.pos}")
        return predicate

    def expr(self) -> Predicate:
        parts = [self.and_expr()]
        while self.keyword("or"):
            parts.append(self.and_expr())
        return parts[0] if len(parts) == 1 else (lambda r: any(p(r) for p in parts))

    def and_expr(self) -> Predicate:
        parts = [self.term()]
        while self.keyword("and"):
            parts.append(self.term())
        return parts[0] if len(parts) == 1 else (lambda r: all(p(r) for p in parts))

    def term(self) -> Predicate:
        if self.peek().kind == "punct" and self.peek().value == "(":
            self.take()
            inner = self.expr()
            self.expect("punct", ")")
            return inner
        return self.comparison()

    def field(self) -> list[str]:
        token = self.take()
        if token.kind != "word":
            raise ConditionError(
                f"expected a field name at position {token.pos}, got {_show(token)}"
            )
        path = token.value.split("/")
        if self.known is not None and path[0].casefold() not in self.known:
            raise ConditionError(f"unknown field {token.value!r} at position {token.pos}")
        return path

    def operator(self) -> tuple[str, bool]:
        token = self.take()
        if token.kind == "op":
            return token.value, False
        negated = token.kind == "word" and token.value.casefold() == "not"
        if negated:
            token = self.take()
        if token.kind == "word" and token.value.casefold() in _WORD_OPS:
            return token.value.casefold(), negated
        raise ConditionError(f"expected an operator at position {token.pos}, got {_show(token)}")

    def comparison(self) -> Predicate:
        path = self.field()
        op, negated = self.operator()
        start = self.peek().pos
        values = self.value_list() if op == "in" else [self.value()]
        if values[0] is None and op not in ("=", "!=", "in"):
            raise ConditionError(f"null can only be compared with = or != (position {start})")
        if op in ("contains", "like") and not isinstance(values[0], str):
            raise ConditionError(f"{op} needs a string value at position {start}")
        test = "=" if op == "in" else op

        def predicate(record: dict[str, Any]) -> bool:
            actual = _resolve(record, path)
            matched = any(_compare(actual, test, value) for value in values)
            # SQL semantics: `x not in (...)` / `x not like ...` is false when x is null too.
            return (actual is not None and not matched) if negated else matched

        return predicate

    def value_list(self) -> list[Any]:
        self.expect("punct", "(")
        values = [self.value()]
        while self.peek().kind == "punct" and self.peek().value == ",":
            self.take()
            values.append(self.value())
        self.expect("punct", ")")
        return values

    def value(self) -> Any:
        token = self.take()
        if token.kind in ("string", "number", "date"):
            return token.value
        word = token.value.casefold() if token.kind == "word" else None
        if word in ("true", "false"):
            return word == "true"
        if word == "null":
            return None
        raise ConditionError(f"expected a value at position {token.pos}, got {_show(token)}")


def _show(token: Token) -> str:
    return "end of conditions" if token.kind == "end" else repr(str(token.value))


def _resolve(record: Any, path: list[str]) -> Any:
    """Follow `company/id` through nested dicts; field names match case-insensitively."""
    for name in path:
        if not isinstance(record, dict):
            return None
        if name in record:
            record = record[name]
            continue
        folded = name.casefold()
        record = next((v for k, v in record.items() if k.casefold() == folded), None)
    return record


def _comparable(actual: Any, literal: Any) -> tuple[Any, Any] | None:
    """Both sides as one comparable type, or None when they cannot be compared."""
    if isinstance(literal, datetime):
        try:
            return (parse_datetime(actual), literal) if isinstance(actual, str) else None
        except ValueError:
            return None
    if isinstance(literal, bool) or isinstance(actual, bool):
        return (actual, literal) if type(actual) is type(literal) else None
    if isinstance(literal, int | float):
        return (actual, literal) if isinstance(actual, int | float) else None
    if isinstance(actual, str):
        return actual.casefold(), literal.casefold()
    if isinstance(actual, int | float):
        try:
            return actual, float(literal)
        except ValueError:
            return None
    return None


def _compare(actual: Any, op: str, literal: Any) -> bool:
    if literal is None:
        return (actual is None) == (op == "=")
    if actual is None:
        return False
    pair = _comparable(actual, literal)
    if pair is None:
        return False
    left, right = pair
    if op in ("contains", "like"):
        if not isinstance(left, str):
            return False
        if op == "contains":
            return right in left
        pattern = ".*".join(re.escape(part) for part in right.split("*"))
        return re.fullmatch(pattern, left, re.DOTALL) is not None
    if isinstance(left, bool) and op not in ("=", "!="):
        return False
    return _ORDER[op](left, right)


_ORDER: dict[str, Callable[[Any, Any], bool]] = {
    "=": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


def parse_conditions(text: str | None, known_fields: Collection[str] | None = None) -> Predicate:
    """A predicate over CW JSON records for `text`; empty text matches every record."""
    if text is None or not text.strip():
        return lambda record: True
    return _Parser(text, known_fields).parse()
