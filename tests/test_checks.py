"""The helpers of vae_lib/_checks.py (issue 19, "Checks declared once"): one error type per rule.

A wrong type is a TypeError, a wrong value (out of range, unknown option, not finite) a ValueError,
and every message starts with the argument's name. Each case fails if its helper stops checking.
"""
from __future__ import annotations

import math
import re
from pathlib import Path

import pytest

from vae_lib import _checks as C

NAN, INF = math.nan, math.inf


@pytest.mark.parametrize("call,error,words", [
    # check_int: the type first, then the bounds that are given
    (lambda: C.check_int("k", 2.0), TypeError, "^k must be an int, got float$"),
    (lambda: C.check_int("k", True), TypeError, "^k must be an int, got bool$"),
    (lambda: C.check_int("k", 2, low=3), ValueError, "^k must be an integer >= 3, got 2$"),
    (lambda: C.check_int("k", 9, high=8), ValueError, "^k must be an integer <= 8, got 9$"),
    (lambda: C.check_int("k", -3, low=-2, high=1), ValueError, r"^k must be an integer in \[-2, 1\], got -3$"),
    # check_fraction: a number strictly inside (0, 1)
    (lambda: C.check_fraction("mass", "0.5"), TypeError, "^mass must be a number, got str$"),
    (lambda: C.check_fraction("mass", 1.0), ValueError, "^mass must lie strictly between 0 and 1, got 1.0$"),
    (lambda: C.check_fraction("mass", 0), ValueError, "^mass must lie strictly between 0 and 1, got 0$"),
    (lambda: C.check_fraction("mass", NAN), ValueError, "^mass must lie strictly between 0 and 1, got nan$"),
    # check_below: two bounds passed as two arguments
    (lambda: C.check_below(("s_min", "s_max"), 2.0, 1.0), ValueError, "^s_min must be below s_max, got s_min=2, s_max=1$"),
    (lambda: C.check_below(("lo", "hi"), 1.0, 1.0), ValueError, "^lo must be below hi"),
    # check_choice: an option is a str, and one of the names
    (lambda: C.check_choice("mode", None, ("a", "b")), TypeError, "^mode must be a str, got NoneType$"),
    (lambda: C.check_choice("mode", 1, ("a", "b")), TypeError, "^mode must be a str, got int$"),
    (lambda: C.check_choice("mode", "c", ("a", "b")), ValueError, r"^mode must be one of \('a', 'b'\), got 'c'$"),
    (lambda: C.check_reduction(0), TypeError, "^reduction must be a str, got int$"),
    # check_bool and check_text
    (lambda: C.check_bool("sample", 1), TypeError, "^sample must be a bool, got int$"),
    (lambda: C.check_text("name", b"x"), TypeError, "^name must be a str, got bytes$"),
    (lambda: C.check_text("name", ""), ValueError, "^name must be a non-empty str, got ''$"),
    # check_json: where in the structure, and why
    (lambda: C.check_json("data", {"a": [1.0, NAN]}), ValueError, r"^data\['a'\]\[1\] must be finite"),
    (lambda: C.check_json("data", {"a": {"b": INF}}), ValueError, r"^data\['a'\]\['b'\] must be finite"),
    (lambda: C.check_json("data", {1: 0}), TypeError, "^data key 1 must be a str, got int$"),
    (lambda: C.check_json("data", {"s": {1, 2}}), TypeError, r"^data\['s'\] must be JSON .*, got set$"),
    # the numbers, as before
    (lambda: C.check_positive_int("n", 0), ValueError, "^n must be a positive integer, got 0$"),
    (lambda: C.check_positive_int("n", "1"), TypeError, "^n must be an int, got str$"),
    (lambda: C.check_positive_number("lr", 0.0), ValueError, "^lr must be a finite positive number, got 0.0$"),
    (lambda: C.check_finite_number("mu", INF), ValueError, "^mu must be a finite number, got inf$"),
    (lambda: C.check_range("r", (1.0, 2.0, 3.0)), ValueError, r"^r must be a pair \(lo, hi\), got \(1.0, 2.0, 3.0\)$"),
    (lambda: C.check_range("r", "ab"), TypeError, r"^r must be a pair \(lo, hi\), got str$"),
    (lambda: C.check_range("r", (2.0, 1.0)), ValueError, r"^r must have lo < hi"),
])
def test_each_rule_has_one_error_type_and_names_the_argument(call, error, words):
    with pytest.raises(error, match=words):
        call()


def test_the_helpers_return_what_they_accept():
    assert C.check_int("k", 3, low=3, high=3) == 3
    assert C.check_int("k", -(2**70)) == -(2**70)  # no bounds: any int
    assert C.check_fraction("mass", 0.99) == 0.99 and isinstance(C.check_fraction("mass", 0.5), float)
    C.check_below(("lo", "hi"), -1, 1)
    assert C.check_choice("mode", "b", ("a", "b")) == "b"
    assert C.check_bool("sample", False) is False
    assert C.check_text("name", "x") == "x"
    C.check_json("data", {"a": [1, 2.5, "s", None, True, {"b": (0, -1e300)}]})
    C.check_json("learned", None)


def test_the_chapters_write_no_check_of_their_own():
    """Issue 19: a number, int, bool or option check in a chapter module goes through _checks."""
    root = Path(C.__file__).parent / "chapters"
    inline = re.compile(r"isinstance\((\w+), (int|float|bool|str)\)|not callable\(|must be a positive integer|"
                        r"must be an integer >=|must lie strictly between")
    found = [f"{p.name}:{i}: {line.strip()}" for p in sorted(root.glob("*.py"))
             for i, line in enumerate(p.read_text().splitlines(), 1) if inline.search(line)]
    assert not found, "\n".join(found)
