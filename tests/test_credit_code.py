import random

import numpy as np
import pytest

from gis.credit_code import (
    ALPHABET,
    credit_code_check_char,
    make_credit_code,
    validate_credit_code,
    validate_credit_codes,
)

# Real codes from public business-registry records.
REAL_CODES = [
    # The example most often cited in validator docs and test suites.
    "91350100M000100Y43",
    # Huawei Technologies Co., Ltd. (华为技术有限公司), Shenzhen.
    "914403001922038216",
    # Shenzhen Tencent Computer Systems Co., Ltd. (深圳市腾讯计算机系统有限公司).
    "91440300708461136T",
    # Beijing Baidu Netcom Science and Technology Co., Ltd. (北京百度网讯科技有限公司).
    "91110000802100433B",
]

EXCLUDED_HINT = " (I, O, Z, S and V are not used)"


@pytest.mark.parametrize("code", REAL_CODES)
def test_real_codes_are_valid(code):
    assert validate_credit_code(code) is None
    assert credit_code_check_char(code[:17]) == code[17]


def test_check_char_maps_31_to_0():
    # Weighted sum 0 gives 31 - 0 = 31, which the standard folds to '0'.
    assert credit_code_check_char("0" * 17) == "0"
    assert validate_credit_code("0" * 18) is None


def test_check_char_rejects_bad_input():
    with pytest.raises(ValueError):
        credit_code_check_char("91350100M000100Y")  # 16 characters
    with pytest.raises(ValueError):
        credit_code_check_char("91350100M0001000I")  # I is not in the alphabet


@pytest.mark.parametrize(
    "code, reason",
    [
        ("91350100M000100Y4", "wrong length: 17 characters, expected 18"),
        ("91350100M000100Y433", "wrong length: 19 characters, expected 18"),
        ("", "wrong length: 0 characters, expected 18"),
        (" 91350100M000100Y43", "wrong length: 19 characters, expected 18"),
        ("91350100M000100Y44", "bad check character '4', expected '3'"),
        ("914403001922038217", "bad check character '7', expected '6'"),
        # Adjacent transposition must be caught, not just single-digit typos.
        ("91350100M000010Y43", "bad check character '3', expected 'J'"),
        ("91350100I000100Y43", "invalid character 'I' at position 9" + EXCLUDED_HINT),
        ("91350100M0001O0Y43", "invalid character 'O' at position 14" + EXCLUDED_HINT),
        ("91350100M0001o0Y43", "invalid character 'o' at position 14" + EXCLUDED_HINT),
        ("91350100m000100y43", "invalid character 'm' at position 9 (letters must be upper case)"),
        ("91350100M000100Y4-", "invalid character '-' at position 18"),
        ("91350100M000100Y4３", "invalid character '３' at position 18"),
    ],
)
def test_invalid_codes(code, reason):
    assert validate_credit_code(code) == reason


def test_non_string_is_rejected():
    assert validate_credit_code(None) == "not a string: NoneType"
    assert validate_credit_code(913501000001004) == "not a string: int"


def test_alphabet():
    assert len(ALPHABET) == 31
    assert not set("IOZSV") & set(ALPHABET)


def test_make_credit_code_is_valid_and_deterministic():
    codes = [make_credit_code(seed) for seed in range(500)]
    for code in codes:
        assert validate_credit_code(code) is None, code
        assert code.startswith("91130984")
    assert codes == [make_credit_code(seed) for seed in range(500)]
    assert len(set(codes)) == len(codes)
    assert make_credit_code("demo-org-1") == make_credit_code("demo-org-1")


def test_make_credit_code_embeds_valid_organisation_code():
    # GB 11714: weights 3,7,9,10,5,8,4,2; letters A=10..Z=35; 10 -> X, 11 -> 0.
    def org_check(body):
        check = 11 - sum(int(c, 36) * w for c, w in zip(body, (3, 7, 9, 10, 5, 8, 4, 2))) % 11
        return {10: "X", 11: "0"}.get(check, str(check))

    # The real codes' organisation segments pass the same check.
    assert org_check("M000100Y") == "4"
    assert org_check("19220382") == "1"
    for seed in range(200):
        org = make_credit_code(seed)[8:17]
        assert org_check(org[:8]) == org[8]


def test_make_credit_code_with_rngs_and_region():
    rng = random.Random(7)
    first, second = make_credit_code(rng), make_credit_code(rng)
    assert first != second
    assert [first, second] == [make_credit_code(r) for r in [random.Random(7)] * 2]

    gen = np.random.default_rng(7)
    np_codes = [make_credit_code(gen, region="110108") for _ in range(50)]
    assert all(validate_credit_code(c) is None for c in np_codes)
    assert all(c.startswith("91110108") for c in np_codes)
    assert np_codes[:3] == [make_credit_code(g, region="110108")
                            for g in [np.random.default_rng(7)] * 3]


@pytest.mark.parametrize("region", ["13098", "1309840", "13098A", "", 130984, "１３０９８４"])
def test_make_credit_code_rejects_bad_region(region):
    with pytest.raises(ValueError):
        make_credit_code(1, region=region)


@pytest.mark.parametrize("seed", [None, 1.5, True, object()])
def test_make_credit_code_rejects_bad_seed(seed):
    with pytest.raises(TypeError):
        make_credit_code(seed)


def test_many_codes_at_once_as_one_by_one():
    """validate_credit_codes (the import's batch) gives each code validate_credit_code's
    answer: valid codes, each kind of invalid one, and values that are not even strings."""
    rng = random.Random(17)
    codes = REAL_CODES + [make_credit_code(rng) for _ in range(300)]
    broken = []
    for code in codes[:200]:
        pos = rng.randrange(18)
        broken.append(code[:pos] + rng.choice(ALPHABET + "IOZSVabcé中 -") + code[pos + 1:])
    odd = ["", "123", "91350100M000100Y4", "91350100M000100Y433", "91350100m000100y43",
           "９1350100M000100Y43", "91350100M000100Y4\u00e9", None, 913501, "I" * 18]
    values = codes + broken + odd
    rng.shuffle(values)
    assert validate_credit_codes(values) == [validate_credit_code(v) for v in values]
    assert validate_credit_codes([]) == []
    assert validate_credit_codes(np.array(REAL_CODES, dtype=object)) == [None] * 4
