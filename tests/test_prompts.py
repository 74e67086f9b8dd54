"""Prompt builders: golden base and feedback messages, positive feedback, answer targets."""

import numpy as np
import pytest

from elfrl.data import parse_output
from elfrl.data.prompts import (
    SYSTEM_PROMPT,
    base_input,
    base_messages,
    feedback_messages,
    positive_feedback,
    target_text,
)
from elfrl.scene.schema import Scene

HEADING = -2.3  # the ego's global heading: history must come out in the ego frame anyway
C, S = np.cos(HEADING), np.sin(HEADING)


def make_scene(command="left", history_times=(-1.5, -1.0, -0.5, 0.0)) -> Scene:
    """Ego at (500, 200) heading HEADING at 8 m/s, having drifted 0.3 m right over 1.5 s."""

    def pose(forward, left):
        return [500.0 + C * forward - S * left, 200.0 + S * forward + C * left]

    history = [[t, *pose(8.0 * t, 0.2 * t), HEADING + 0.02 * t, 8.0, 0.0, 0.5, 0.0] for t in history_times]
    square = [[400.0, 100.0], [600.0, 100.0], [600.0, 300.0], [400.0, 300.0]]
    return Scene.model_validate(
        {
            "token": "p",
            "ego": {"x": 500.0, "y": 200.0, "heading": HEADING, "vx": 8.0, "vy": -0.004, "ax": 0.5, "ay": 0.014},
            "ego_history": history,
            "driving_command": command,
            "map": {"polygons": [{"id": "lane", "layer": "lane", "exterior": square}]},
            "route_lane_ids": ["lane"],
            "centerline": [[*pose(-50, 0), HEADING], [*pose(150, 0), HEADING]],
            "reference": [[500.0, 200.0, HEADING]] * 41,
        }
    )


BASE_TEXT = (
    "Command: turn left.\n"
    "Velocity: [8.00, 0.00] m/s.\n"
    "Acceleration: [0.50, 0.01] m/s^2.\n"
    "History (-1.5, -1.0, -0.5 s): [[-12.00, -0.30, -0.03], [-8.00, -0.20, -0.02], [-4.00, -0.10, -0.01]].\n"
    "Output reasoning in <think></think> and the trajectory in <answer></answer>."
)


def test_system_prompt_golden():
    assert SYSTEM_PROMPT == (
        "You are the planner of an autonomous vehicle. From the front camera image, the navigation command, "
        "the ego velocity and acceleration and the last three poses, plan the next 4 seconds. "
        "Coordinates are in the current rear-axle frame: x forward, y left, in metres; heading in radians, "
        "counter-clockwise. "
        "First reason inside <think></think>: the closest in-path object (CIPO-1), an agent cutting in (CIPO-2), "
        "agents that interact with your motion, the traffic light, and the meta action "
        "(speed: accelerate, decelerate, maintain or stop; path: keep lane, turn left, turn right, "
        "change lane left or change lane right). "
        "Then give 8 poses [x, y, heading] at 0.5 s intervals (0.5 to 4.0 s) with 2 decimals inside <answer></answer>."
    )


def test_base_messages_golden():
    messages = base_messages(base_input(make_scene()))
    assert messages == [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": BASE_TEXT}]},
    ]


def test_feedback_messages_golden():
    response = "<think>CIPO-1: none.</think><answer>[[1.00, 0.00, 0.00]]</answer>"
    messages = feedback_messages(base_input(make_scene()), response, "  Your trajectory is too slow.\n")
    assert messages[0] == {"role": "system", "content": SYSTEM_PROMPT}
    assert messages[1]["role"] == "user" and messages[1]["content"][0] == {"type": "image"}
    assert messages[1]["content"][1]["text"] == (
        "Command: turn left.\n"
        "Velocity: [8.00, 0.00] m/s.\n"
        "Acceleration: [0.50, 0.01] m/s^2.\n"
        "History (-1.5, -1.0, -0.5 s): [[-12.00, -0.30, -0.03], [-8.00, -0.20, -0.02], [-4.00, -0.10, -0.01]].\n"
        "\n"
        "Your previous response:\n"
        "<think>CIPO-1: none.</think><answer>[[1.00, 0.00, 0.00]]</answer>\n"
        "\n"
        "Feedback:\n"
        "Your trajectory is too slow.\n"
        "\n"
        "Using the feedback, plan again. Output reasoning in <think></think> and the trajectory in <answer></answer>."
    )


@pytest.mark.parametrize(
    "command, words", [("left", "turn left"), ("straight", "go straight"), ("right", "turn right"), ("unknown", "unknown")]
)
def test_command_words(command, words):
    text = base_messages(base_input(make_scene(command)))[1]["content"][1]["text"]
    assert text.startswith(f"Command: {words}.\n")


def test_base_input_fields():
    inp = base_input(make_scene())
    assert inp.velocity == (8.0, -0.004) and inp.acceleration == (0.5, 0.014)
    np.testing.assert_allclose(inp.history, [[-12.0, -0.3, -0.03], [-8.0, -0.2, -0.02], [-4.0, -0.1, -0.01]], atol=1e-9)


def test_missing_history_pose_is_named():
    with pytest.raises(ValueError, match=r"no pose at -1.5 s"):
        base_input(make_scene(history_times=(-1.0, -0.5, 0.0)))


def test_empty_feedback_is_refused():
    with pytest.raises(ValueError, match="feedback text is empty"):
        feedback_messages(base_input(make_scene()), "x", "  ")


def test_positive_feedback():
    assert positive_feedback(0.93) == "Your trajectory is safe and efficient (PDMS 0.93 >= 0.80). Keep it."
    assert positive_feedback(0.8) == "Your trajectory is safe and efficient (PDMS 0.80 >= 0.80). Keep it."
    assert positive_feedback(0.95, tau=0.9) == "Your trajectory is safe and efficient (PDMS 0.95 >= 0.90). Keep it."
    with pytest.raises(ValueError, match="PDMS >= tau"):
        positive_feedback(0.79)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        positive_feedback(float("nan"))


def test_target_text_round_trips():
    poses = np.stack([np.arange(1, 9) * 2.0, np.linspace(0, -0.704, 8), np.linspace(0, -0.0449, 8)], -1)
    cot = "CIPO-1: none. CIPO-2: none. Interaction: none. Light: none. Meta action: maintain, keep lane."
    text = target_text(cot, poses)
    assert text.startswith(f"<think>{cot}</think><answer>[[2.00, 0.00, 0.00], [4.00, -0.10, -0.01], ")
    out = parse_output(text)
    assert out.ok and out.think == cot
    np.testing.assert_array_equal(out.poses, np.round(poses, 2))
