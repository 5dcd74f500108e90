"""Unified social credit code (统一社会信用代码, GB 32100-2015).

Layout of the 18 characters:

====  ==========================================================
1     registration authority (e.g. ``9`` = market regulation)
2     entity type (e.g. ``1`` = enterprise)
3-8   administrative division code of the registering authority
9-17  entity identifier (the GB 11714 organisation code)
18    check character over positions 1-17
====  ==========================================================

Only the length, the alphabet and the check character (position 18) are
validated: registration-authority and entity-type tables change over time,
and rejecting a real code because of a stale table is worse than accepting a
mistyped one that happens to pass the checksum (1 in 31).
"""

from __future__ import annotations

import functools
import random

__all__ = [
    "ALPHABET",
    "credit_code_check_char",
    "make_credit_code",
    "validate_credit_code",
    "validate_credit_codes",
]

# I, O, Z, S and V are excluded because they are easily confused with
# 1, 0, 2, 5 and U; a character's value is its index.
ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_VALUE = {ch: i for i, ch in enumerate(ALPHABET)}
_EXCLUDED = frozenset("IOZSV")
# 3**i mod 31 for i = 0..16, as tabulated in GB 32100-2015.
_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)

_LENGTH = 18

# GB 11714 organisation-code check (positions 9-17 of the credit code);
# letters count A=10 .. Z=35 there, unlike the credit-code alphabet.
_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)


def credit_code_check_char(first17: str) -> str:
    """Return the check character (position 18) for the first 17 characters.

    Raises ``ValueError`` if ``first17`` is not 17 characters from
    :data:`ALPHABET` (upper case).
    """
    if not isinstance(first17, str) or len(first17) != _LENGTH - 1:
        raise ValueError(f"expected 17 characters, got {first17!r}")
    total = 0
    for pos, (ch, weight) in enumerate(zip(first17, _WEIGHTS), start=1):
        value = _VALUE.get(ch)
        if value is None:
            raise ValueError(f"invalid character {ch!r} at position {pos} in {first17!r}")
        total += value * weight
    check = 31 - total % 31
    return ALPHABET[0 if check == 31 else check]


def validate_credit_code(code) -> str | None:
    """Return ``None`` if ``code`` is a valid unified social credit code,
    otherwise a short English reason.

    The check is strict: no whitespace stripping and no case folding,
    because a value that needs either should be normalised by the caller
    before it is stored. Lower-case letters get a hint in the reason.
    """
    if not isinstance(code, str):
        return f"not a string: {type(code).__name__}"
    if len(code) != _LENGTH:
        return f"wrong length: {len(code)} characters, expected {_LENGTH}"
    for pos, ch in enumerate(code, start=1):
        if ch not in _VALUE:
            if ch.upper() in _EXCLUDED:
                hint = " (I, O, Z, S and V are not used)"
            elif ch.upper() in _VALUE:
                hint = " (letters must be upper case)"
            else:
                hint = ""
            return f"invalid character {ch!r} at position {pos}{hint}"
    expected = credit_code_check_char(code[:17])
    if code[17] != expected:
        return f"bad check character {code[17]!r}, expected {expected!r}"
    return None


def validate_credit_codes(codes) -> list[str | None]:
    """:func:`validate_credit_code` of each of ``codes``, in order. The valid ones (the
    bulk of a register) are recognised in one numpy pass over their characters; only the
    others are looked at one by one, for their reason."""
    import numpy as np

    codes = list(codes)
    reasons: list[str | None] = [None] * len(codes)
    plain = [i for i, c in enumerate(codes)
             if type(c) is str and len(c) == _LENGTH and c.isascii()]
    valid = np.zeros(len(codes), dtype=bool)
    if plain:
        chars = np.frombuffer("".join(codes[i] for i in plain).encode("ascii"),
                              dtype=np.uint8).reshape(-1, _LENGTH)
        values = _byte_values()[chars]
        check = 31 - (values[:, :17] * np.array(_WEIGHTS)).sum(axis=1) % 31
        check[check == 31] = 0
        valid[plain] = (values >= 0).all(axis=1) & (values[:, 17] == check)
    for i in np.flatnonzero(~valid):
        reasons[i] = validate_credit_code(codes[i])
    return reasons


@functools.cache
def _byte_values():
    """Each byte's value in ALPHABET, -1 for a byte not in it (numpy only when asked)."""
    import numpy as np

    table = np.full(256, -1, dtype=np.int64)
    for ch, value in _VALUE.items():
        table[ord(ch)] = value
    return table


def _org_code_check_char(first8: str) -> str:
    total = sum(int(ch, 36) * w for ch, w in zip(first8, _ORG_WEIGHTS))
    check = 11 - total % 11
    return {10: "X", 11: "0"}.get(check, str(check))


def _choice(rng, seq: str) -> str:
    if isinstance(rng, random.Random):
        return rng.choice(seq)
    # numpy.random.Generator (duck-typed so numpy is not a hard dependency).
    return seq[int(rng.integers(len(seq)))]


def make_credit_code(seed_or_rng, region: str = "130984") -> str:
    """Generate a valid, realistic-looking credit code for demo data.

    ``seed_or_rng`` is an int/str/bytes seed (same seed -> same code on every
    run and platform) or a ``random.Random`` / ``numpy.random.Generator``
    whose state is advanced, for generating many distinct codes.

    The code is ``'91'`` (market regulation / enterprise) + ``region``
    (6-digit division code; the default 130984 is Hejian, Cangzhou, Hebei) + a
    random organisation code with a correct GB 11714 check digit + the
    GB 32100 check character. Codes are random, so they may coincide with a
    real entity's; do not use them outside demo or test data.
    """
    if not (isinstance(region, str) and len(region) == 6 and region.isascii() and region.isdigit()):
        raise ValueError(f"region must be a 6-digit administrative division code, got {region!r}")
    if isinstance(seed_or_rng, (int, str, bytes)) and not isinstance(seed_or_rng, bool):
        rng = random.Random(seed_or_rng)
    elif isinstance(seed_or_rng, random.Random) or hasattr(seed_or_rng, "integers"):
        rng = seed_or_rng
    else:
        raise TypeError(
            "seed_or_rng must be an int/str/bytes seed, random.Random or "
            f"numpy.random.Generator, got {type(seed_or_rng).__name__}"
        )
    # The body avoids I, O, Z, S, V so that the whole code stays in ALPHABET;
    # the GB 11714 check is then a digit or 'X', both of which are allowed.
    org_body = "".join(_choice(rng, ALPHABET) for _ in range(8))
    first17 = "91" + region + org_body + _org_code_check_char(org_body)
    return first17 + credit_code_check_char(first17)
