"""Password rules: long enough, not a common password, not one with digits or symbols added.

No composition rules (they make passwords harder to remember, not to guess); length and a
list of the 10,000 most used passwords, shipped in billing_sync/data (nothing is fetched).
"""

from __future__ import annotations

from functools import cache
from importlib import resources

from billing_sync.errors import InvalidInput
from billing_sync.validation import has_control

MIN_LENGTH = 12
MAX_LENGTH = 1024  # hashing is costly: a megabyte "password" must not be
MIN_DISTINCT = 5
MIN_CORE = 4  # "love" + "12345678" is as weak as "love"
MAX_PADDING = 32  # digits or symbols stripped from either end when looking a password up
LIST = "common-passwords.txt"
ADVICE = "choose a phrase of several unrelated words"


@cache
def common_passwords() -> frozenset[str]:
    """The shipped list, lower-cased (read once per process)."""
    text = resources.files("billing_sync").joinpath("data", LIST).read_text(encoding="utf-8")
    return frozenset(line for line in text.splitlines() if line and not line.startswith("# "))


def _padding(text: str) -> int:
    """How many characters at the start of `text` are not letters (at most MAX_PADDING)."""
    count = next((i for i, char in enumerate(text) if char.isalpha()), len(text))
    return min(count, MAX_PADDING)


def _padded_common(lowered: str, common: frozenset[str]) -> bool:
    """True when `lowered`, or it less some leading or trailing non-letters, is on the list."""
    lead, trail = _padding(lowered), _padding(lowered[::-1])
    for start in range(lead + 1):
        for cut in range(trail + 1):
            core = lowered[start : len(lowered) - cut]
            if len(core) >= MIN_CORE and core in common:
                return True
    return False


def check_password(password: str) -> None:
    """Refuse a password that is short, very long, repetitive or common (InvalidInput says why)."""
    if len(password) < MIN_LENGTH:
        raise InvalidInput(f"password must be at least {MIN_LENGTH} characters; {ADVICE}")
    if len(password) > MAX_LENGTH:
        raise InvalidInput(f"password must be at most {MAX_LENGTH} characters")
    if has_control(password):
        raise InvalidInput("password must not contain control characters")
    lowered = password.casefold()
    if len(set(lowered)) < MIN_DISTINCT:
        raise InvalidInput(f"password repeats too few different characters; {ADVICE}")
    if _padded_common(lowered, common_passwords()):
        raise InvalidInput(
            "password is one of the 10,000 most common passwords (with digits or symbols "
            f"added, it is still one); {ADVICE}"
        )
