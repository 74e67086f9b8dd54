import numpy as np
import pytest

from elfrl.data import N_POSES, ParseFailure, format_output, format_poses, parse_output

POSES = np.array([[2.0 * (i + 1), 0.1 * i, 0.01 * i] for i in range(N_POSES)])
BODY = format_poses(POSES)  # "[[2.00, 0.00, 0.00], [4.00, 0.10, 0.01], ...]"
GOOD = f"<think>lead car 20 m ahead; maintain speed, keep lane</think><answer>{BODY}</answer>"


def triples(n, fmt="[{}, {}, {}]", sep=", "):
    return sep.join(fmt.format(*row) for row in np.resize(POSES, (n, 3)))


SPACED = triples(8, "[ {}  {}\t{} ]", sep="\n")  # numbers and poses separated by whitespace only

# (name, text, failure, has_tags, poses parsed)
CASES = [
    ("well-formed", GOOD, None, True, True),
    ("extra text around", f"Sure!\n{GOOD}\n<|im_end|>", None, True, True),
    ("text between tags", GOOD.replace("</think>", "</think>\nSo:\n"), None, True, True),
    ("tuple syntax", f"<think>t</think><answer>[{triples(8, '({}, {}, {})')}]</answer>", None, True, True),
    ("no outer list", f"<think>t</think><answer>{triples(8)}</answer>", None, True, True),
    ("newlines and spaces", f"<think>t</think><answer>\n[\n{SPACED}\n]\n</answer>", None, True, True),
    ("scientific notation", f"<think>t</think><answer>[{triples(7)}, [1e1, -2.5E-1, +.5]]</answer>", None, True, True),
    ("missing think", f"<answer>{BODY}</answer>", ParseFailure.MISSING_THINK, False, True),
    ("unclosed think", f"<think>t<answer>{BODY}</answer>", ParseFailure.MISSING_THINK, False, True),
    ("missing answer", "<think>t</think>" + BODY, ParseFailure.MISSING_ANSWER, False, False),
    ("unclosed answer", f"<think>t</think><answer>{BODY}", ParseFailure.MISSING_ANSWER, False, False),
    ("empty string", "", ParseFailure.MISSING_THINK, False, False),
    ("tags reversed", f"<answer>{BODY}</answer><think>t</think>", ParseFailure.TAGS_OUT_OF_ORDER, False, True),
    ("close before open", f"</think>t<think><answer>{BODY}</answer>", ParseFailure.TAGS_OUT_OF_ORDER, False, True),
    ("answer inside think", f"<think>t<answer>{BODY}</answer></think>", ParseFailure.TAGS_OUT_OF_ORDER, False, True),
    ("duplicate answer", f"{GOOD}<answer>{BODY}</answer>", ParseFailure.DUPLICATE_TAG, False, False),
    ("duplicate think", f"<think>a</think>{GOOD}", ParseFailure.DUPLICATE_TAG, False, True),
    ("7 poses", f"<think>t</think><answer>[{triples(7)}]</answer>", ParseFailure.WRONG_POSE_COUNT, True, False),
    ("9 poses", f"<think>t</think><answer>[{triples(9)}]</answer>", ParseFailure.WRONG_POSE_COUNT, True, False),
    ("NaN", f"<think>t</think><answer>[{triples(7)}, [nan, 1, 0]]</answer>", ParseFailure.NON_FINITE, True, False),
    ("inf", f"<think>t</think><answer>[{triples(7)}, [1, -Infinity, 0]]</answer>", ParseFailure.NON_FINITE, True, False),
    ("overflow", f"<think>t</think><answer>[{triples(7)}, [1e400, 1, 0]]</answer>", ParseFailure.NON_FINITE, True, False),
    ("empty answer", "<think>t</think><answer></answer>", ParseFailure.UNPARSABLE, True, False),
    ("prose answer", "<think>t</think><answer>go straight</answer>", ParseFailure.UNPARSABLE, True, False),
    ("pair among triples", f"<think>t</think><answer>[{triples(8)}, [1, 2]]</answer>", ParseFailure.UNPARSABLE, True, False),
    ("4-number group", f"<think>t</think><answer>[{triples(7)}, [1, 2, 3, 4]]</answer>", ParseFailure.UNPARSABLE, True, False),
    ("labelled answer", f"<think>t</think><answer>poses: {BODY}</answer>", ParseFailure.UNPARSABLE, True, False),
]


@pytest.mark.parametrize("name, text, failure, has_tags, parsed", CASES, ids=[c[0] for c in CASES])
def test_parse_cases(name, text, failure, has_tags, parsed):
    out = parse_output(text)
    assert out.failure == failure
    assert out.has_tags == has_tags
    assert (out.poses is not None) == parsed
    assert out.ok == (failure is None)
    assert (out.detail == "") == (failure is None)
    if parsed:
        assert out.poses.shape == (N_POSES, 3) and out.poses.dtype == np.float64
        assert not out.poses.flags.writeable


def test_well_formed_fields():
    out = parse_output(GOOD)
    assert out.think == "lead car 20 m ahead; maintain speed, keep lane"
    assert out.answer_text == BODY
    np.testing.assert_array_equal(out.poses, POSES.round(2))


def test_exact_values_tuple_syntax():
    body = " ".join(f"({i}.5,-{i},0.25)" for i in range(8))
    out = parse_output(f"<think></think><answer>{body}</answer>")
    assert out.ok and out.think == ""
    np.testing.assert_array_equal(out.poses[:, 0], np.arange(8) + 0.5)
    np.testing.assert_array_equal(out.poses[:, 1], -np.arange(8))
    np.testing.assert_array_equal(out.poses[:, 2], 0.25)


@pytest.mark.parametrize(
    "text, detail",
    [
        (f"<think>t</think><answer>[{triples(7)}]</answer>", "found 7 pose triples, expected 8"),
        ("<think>t<answer>[]</answer>", "missing </think>"),
        ("x", "missing <think> and </think>"),
        (f"{GOOD}{GOOD}", "<think> appears 2 times"),
        ("<think>t</think><answer>go straight</answer>", "answer has content that is not a pose triple: 'go straight'"),
    ],
)
def test_failure_detail(text, detail):
    assert parse_output(text).detail == detail


@pytest.mark.parametrize("bad", [None, 3, b"<think>"])
def test_never_raises_on_non_text(bad):
    assert parse_output(bad).failure == ParseFailure.UNPARSABLE


def test_format_poses_round_trip():
    rng = np.random.default_rng(0)
    poses = rng.normal(scale=20.0, size=(N_POSES, 3))
    poses[0] = [-0.001, 0.004, -0.0049]  # rounds to zero: never written as "-0.00"
    body = format_poses(poses)
    assert "-0.00" not in body
    out = parse_output(format_output("cot", poses))
    assert out.ok
    np.testing.assert_array_equal(out.poses, np.round(poses, 2) + 0.0)
    assert format_poses(out.poses) == body


def test_format_poses_canonical_text():
    assert format_poses(np.zeros((8, 3))) == "[" + ", ".join(["[0.00, 0.00, 0.00]"] * 8) + "]"


@pytest.mark.parametrize("poses", [np.zeros((7, 3)), np.zeros((8, 2)), np.full((8, 3), np.nan)])
def test_format_poses_rejects_bad_arrays(poses):
    with pytest.raises(ValueError):
        format_poses(poses)
