"""The one format of the codes people type and files carry: cell codes, enterprise
management codes and person codes (人员编号).

Codes travel everywhere unescaped in spirit: into URLs, file names, map labels, exports and
other systems. A code that could hold markup once became stored script on every map page
(issue 10), so the format is a whitelist, checked wherever a code enters (editor, API, CLI,
imports) and again by a CHECK constraint in the database, which no path can skip.
"""
from __future__ import annotations

import re

# ASCII letters and digits, then also '-' and '_': "130984", "130984-Z01-03", "HJ-FOOD-02".
CELL_CODE = r"[A-Za-z0-9][A-Za-z0-9_-]{0,31}"
# Management codes may also carry '.' and '/', as some bureaus' registers do ("HJ/2024.0017").
MANAGEMENT_CODE = r"[A-Za-z0-9][A-Za-z0-9_./-]{0,39}"

# A person's code (人员编号) is the bureau's own numbering: the cell codes' alphabet.
PERSON_CODE = CELL_CODE

_CELL = re.compile(CELL_CODE)
_MANAGEMENT = re.compile(MANAGEMENT_CODE)


def is_cell_code(value) -> bool:
    return isinstance(value, str) and _CELL.fullmatch(value) is not None


def is_management_code(value) -> bool:
    return isinstance(value, str) and _MANAGEMENT.fullmatch(value) is not None


def is_person_code(value) -> bool:
    return isinstance(value, str) and _CELL.fullmatch(value) is not None


CELL_CODE_RULE = "1-32 ASCII letters, digits, '-' or '_', starting with a letter or digit"
MANAGEMENT_CODE_RULE = ("1-40 ASCII letters, digits, '-', '_', '.' or '/', starting with a "
                        "letter or digit")
PERSON_CODE_RULE = CELL_CODE_RULE
