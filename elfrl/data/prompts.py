"""Prompts of the student: the base input, the feedback input, positive feedback, answer targets.

Messages are in the Hugging Face chat format: a system message, then one user message whose
content is the front-camera image placeholder followed by the text; the image itself travels
beside the messages (processor `images=`). The wording is fixed here and pinned by golden tests
(tests/test_prompts.py); changing it changes what a trained checkpoint was conditioned on.

Base input (ELF-VLA §3.1; the wording follows the AdaThinkDrive/ELF overview figure):

    Command: turn left.
    Velocity: [8.00, 0.00] m/s.
    Acceleration: [0.50, 0.00] m/s^2.
    History (-1.5, -1.0, -0.5 s): [[-12.00, 0.00, 0.00], [-8.00, 0.00, 0.00], [-4.00, 0.00, 0.00]].
    Output reasoning in <think></think> and the trajectory in <answer></answer>.

Velocity and acceleration are the ego's body-frame (x forward, y left) values; history poses are
`[x, y, heading]` of the logged rear axle at -1.5, -1.0, -0.5 s in the CURRENT rear-axle frame.
All numbers have 2 decimals and "-0.00" is written "0.00". The command "unknown" (NAVSIM's
fourth one-hot entry) is written as "unknown".

Feedback input: the base context, the student's own previous response verbatim, the feedback
text, and a refine instruction, all in ONE user message. Not a multi-turn chat on purpose:
chat templates such as Qwen3's drop the <think> part of earlier assistant turns, which would
hide the reasoning the feedback is about.
"""

from __future__ import annotations

import math

import numpy as np
from pydantic import BaseModel, ConfigDict

from elfrl.data.cot import scene_cot
from elfrl.data.labels import ego_pose, gt_poses
from elfrl.scene.frames import to_ego_frame
from elfrl.data.output import format_output
from elfrl.scene.schema import DrivingCommand, Scene

SYSTEM_PROMPT = (
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
OUTPUT_INSTRUCTION = "Output reasoning in <think></think> and the trajectory in <answer></answer>."
REFINE_INSTRUCTION = (
    "Using the feedback, plan again. Output reasoning in <think></think> and the trajectory in <answer></answer>."
)
COMMAND_WORDS: dict[str, str] = {"left": "turn left", "straight": "go straight", "right": "turn right", "unknown": "unknown"}
HISTORY_TIMES = (-1.5, -1.0, -0.5)  # s, the last 3 poses at 2 Hz before the current one
HISTORY_TOLERANCE = 0.01  # s, when matching ego_history rows to HISTORY_TIMES
DEFAULT_TAU = 0.8  # PDMS at or above which a response is correct (ELF-VLA s = 0.8)


class BaseInput(BaseModel):
    """What the student sees besides the image (ELF-VLA base input q_base)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    token: str
    command: DrivingCommand
    velocity: tuple[float, float]  # m/s, body frame
    acceleration: tuple[float, float]  # m/s^2, body frame
    history: tuple[tuple[float, float, float], ...]  # [x, y, heading] at HISTORY_TIMES, current rear-axle frame


def base_input(scene: Scene) -> BaseInput:
    """The base input of a scene; the history rows at -1.5, -1.0, -0.5 s must be logged."""
    rows = np.asarray(scene.ego_history, dtype=np.float64)  # [H, 8] t, x, y, heading, ...
    picked = []
    for t in HISTORY_TIMES:
        match = np.flatnonzero(np.abs(rows[:, 0] - t) <= HISTORY_TOLERANCE)
        if len(match) == 0:
            raise ValueError(
                f"scene {scene.token}: ego_history has no pose at {t} s (times {rows[:, 0].tolist()}); "
                f"the base input needs the poses at {list(HISTORY_TIMES)} s"
            )
        picked.append(rows[match[0]])
    picked = np.stack(picked)
    origin = ego_pose(scene)
    xy = to_ego_frame(origin, picked[:, 1:3])
    heading = np.arctan2(np.sin(picked[:, 3] - origin[2]), np.cos(picked[:, 3] - origin[2]))
    history = tuple((float(x), float(y), float(h)) for (x, y), h in zip(xy, heading))
    e = scene.ego
    return BaseInput(
        token=scene.token,
        command=scene.driving_command,
        velocity=(e.vx, e.vy),
        acceleration=(e.ax, e.ay),
        history=history,
    )


def _num(v: float) -> str:
    return f"{round(v, 2) + 0.0:.2f}"  # + 0.0: never "-0.00"


def _vector(values) -> str:
    return "[" + ", ".join(_num(v) for v in values) + "]"


def base_context(inp: BaseInput) -> str:
    """The base input lines without the output instruction."""
    history = "[" + ", ".join(_vector(p) for p in inp.history) + "]"
    times = ", ".join(f"{t:.1f}" for t in HISTORY_TIMES)
    return (
        f"Command: {COMMAND_WORDS[inp.command]}.\n"
        f"Velocity: {_vector(inp.velocity)} m/s.\n"
        f"Acceleration: {_vector(inp.acceleration)} m/s^2.\n"
        f"History ({times} s): {history}."
    )


def _messages(text: str) -> list[dict]:
    return [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": text}]},
    ]


def base_messages(inp: BaseInput) -> list[dict]:
    """Chat messages of the base input q_base."""
    return _messages(f"{base_context(inp)}\n{OUTPUT_INSTRUCTION}")


def feedback_messages(inp: BaseInput, response: str, feedback: str) -> list[dict]:
    """Chat messages of the feedback input q_fb = <q_base, own response, feedback> (ELF-VLA §3.3)."""
    if not feedback.strip():
        raise ValueError("the feedback text is empty; a feedback input needs positive feedback or a teacher report")
    text = (
        f"{base_context(inp)}\n\n"
        f"Your previous response:\n{response}\n\n"
        f"Feedback:\n{feedback.strip()}\n\n"
        f"{REFINE_INSTRUCTION}"
    )
    return _messages(text)


def positive_feedback(pdms: float, tau: float = DEFAULT_TAU) -> str:
    """Rule-based feedback f_rule for a correct response (PDMS >= tau)."""
    if not (math.isfinite(pdms) and 0.0 <= pdms <= 1.0):
        raise ValueError(f"pdms must be a score in [0, 1], got {pdms}")
    if pdms < tau:
        raise ValueError(f"positive feedback is for PDMS >= tau, got {pdms} < {tau}; wrong responses get a teacher report")
    return f"Your trajectory is safe and efficient (PDMS {pdms:.2f} >= {tau:.2f}). Keep it."


def target_text(cot: str, poses) -> str:
    """The answer target `<think>{cot}</think><answer>{8 poses}</answer>` (SFT and refinement targets)."""
    return format_output(cot, poses)


def scene_answer(scene: Scene, poses=None) -> str:
    """The answer for `poses` [8, 3] (default: the ground truth) with the CoT that describes them, as a student
    that read the scene right would write it: SFT targets, baselines, the wrong answers of feedback cases."""
    poses = gt_poses(scene) if poses is None else poses
    return target_text(scene_cot(scene, poses)[0], poses)
