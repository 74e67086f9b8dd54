"""Front camera and BEV rendering: geometry (what shows where), errors, files written."""

import math

import numpy as np
import pytest
from matplotlib.figure import Figure
from PIL import Image

from elfrl.render import CameraConfig, render_frames, render_front_camera
from elfrl.render.bev import plot_bev, save_bev
from elfrl.render.markings import lane_marking_segments
from elfrl.scene import Scene
X0, Y0, H0 = 100.0, 50.0, 0.3  # a turned ego, so a missing rotation shows
RED, GREEN = (lambda im: (im[..., 0] > 200) & (im[..., 1] < 90) & (im[..., 2] < 90),
              lambda im: (im[..., 1] > 180) & (im[..., 0] < 100) & (im[..., 2] < 120))


def _world(forward: float, left: float) -> list[float]:
    """A point given relative to the ego rear axle, in the global frame."""
    c, s = math.cos(H0), math.sin(H0)
    return [X0 + c * forward - s * left, Y0 + s * forward + c * left]


def _strip(f0: float, f1: float, half: float) -> list[list[float]]:
    return [_world(f0, -half), _world(f1, -half), _world(f1, half), _world(f0, half)]


def _agent(agent_id: str, forward: float, left: float, kind: str = "vehicle", steps=range(51)) -> dict:
    x, y = _world(forward, left)
    length, width = (4.5, 2.0) if kind == "vehicle" else (0.6, 0.6)
    return {"id": agent_id, "type": kind, "length": length, "width": width,
            "steps": [[i, x, y, H0, 0.0, 0.0] for i in steps]}


def _scene(agents=(), red_steps=(), human=True) -> Scene:
    """A straight road ahead of the ego: lane to 10 m, then a connector with a traffic light."""
    ahead = [[*_world(2.5 * i, 0.0), H0] for i in range(41)]
    return Scene.model_validate({
        "token": "render_test",
        "ego": {"x": X0, "y": Y0, "heading": H0, "vx": 5.0},
        "ego_history": [[t, *_world(5.0 * t, 0.0), H0, 5.0, 0.0, 0.0, 0.0] for t in (-1.5, -1.0, -0.5, 0.0)],
        "driving_command": "straight",
        "map": {"polygons": [
            {"id": "rb", "layer": "roadblock", "exterior": _strip(-30.0, 80.0, 6.0)},
            {"id": "lane", "layer": "lane", "exterior": _strip(-30.0, 10.0, 1.75)},
            {"id": "lc", "layer": "lane_connector", "exterior": _strip(10.0, 18.0, 1.75)},
            {"id": "lane_out", "layer": "lane", "exterior": _strip(18.0, 80.0, 1.75)},
        ]},
        "route_lane_ids": ["lane", "lc", "lane_out"],
        "centerline": ahead,
        "reference": ahead,
        "agents": list(agents),
        "traffic_lights": [{"lane_connector_id": "lc", "red_steps": list(red_steps)}],
        "human_trajectory": [[5.0 * k, 0.0, 0.0] for k in range(1, 9)] if human else None,
    })


@pytest.fixture(scope="module")
def base():
    return render_front_camera(_scene())


@pytest.fixture(scope="module")
def dev_straight(dev_scenes):
    """A straight-road scene of the dev fixtures, with its agents removed."""
    scene = next((s for s in dev_scenes if s.meta and s.meta.get("road") == "straight"), None)
    if scene is None:
        pytest.skip("the fixture file has no scene with meta.road == 'straight'")
    return scene.model_copy(update={"agents": []})


def _changed(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a != b).any(axis=-1)  # [H, W]


def test_deterministic_shape_and_dtype(base):
    again = render_front_camera(_scene())
    assert again.dtype == np.uint8 and again.shape == (144, 256, 3)
    assert np.array_equal(base, again)
    small = render_front_camera(_scene(), config=CameraConfig(width=100, height=60, fov_deg=90))
    assert small.shape == (60, 100, 3)


def test_road_below_and_sky_above_in_dev_scene(dev_straight):
    im = render_front_camera(dev_straight).astype(int)
    h, w, _ = im.shape
    road = im[h - 20 :, w // 2 - 20 : w // 2 + 20].reshape(-1, 3).mean(0)
    assert abs(road[0] - road[1]) < 12 and abs(road[1] - road[2]) < 12, f"road is not grey: {road}"
    assert 60 < road.mean() < 150, f"road is not asphalt-dark: {road}"
    sky = im[:10].reshape(-1, 3).mean(0)
    assert sky[2] > sky[0] + 40, f"the top of the image is not sky: {sky}"


def test_lead_vehicle_ahead_shows_in_the_centre_and_behind_shows_nothing(base):
    ahead = render_front_camera(_scene(agents=[_agent("lead", 10.0, 0.0)]))
    h, w, _ = base.shape
    centre = _changed(base, ahead)[h // 2 - 10 : h // 2 + 10, w // 2 - 10 : w // 2 + 10]
    assert centre.mean() > 0.5
    behind = render_front_camera(_scene(agents=[_agent("follower", -10.0, 0.0)]))
    assert np.array_equal(base, behind)


@pytest.mark.parametrize("left, half", [(5.0, "left"), (-5.0, "right")])
def test_agent_to_the_side_appears_on_that_side(base, left, half):
    im = render_front_camera(_scene(agents=[_agent("ped", 15.0, left, kind="pedestrian")]))
    cols = np.flatnonzero(_changed(base, im).any(axis=0))
    assert len(cols) > 0
    w = base.shape[1]
    assert (cols < w / 2).all() if half == "left" else (cols > w / 2).all()


def test_box_reaching_behind_the_camera_is_clipped_not_dropped(base):
    # Alongside the ego, from 1.25 m behind the lens to 3.25 m ahead of it: its side face
    # crosses the near plane and runs out of the view on the left.
    im = render_front_camera(_scene(agents=[_agent("beside", 2.0, 2.6)]))
    changed = _changed(base, im)
    assert changed[:, 0].any() and not changed[:, base.shape[1] // 2 :].any()


def test_red_and_green_lamp():
    red = render_front_camera(_scene(red_steps=range(51)))
    green = render_front_camera(_scene(red_steps=()))
    assert RED(red).sum() > 0 and RED(green).sum() == 0
    assert GREEN(green).sum() > 0 and GREEN(red).sum() == 0
    # The light state follows the frame's step: red for 0..9, green from 1.0 s on.
    turning = _scene(red_steps=range(10))
    assert RED(render_front_camera(turning, 0.0)).sum() > 0
    assert RED(render_front_camera(turning, 1.0)).sum() == 0


def test_future_frames_move_the_camera_and_use_that_step(base):
    assert not np.array_equal(base, render_front_camera(_scene(), t_s=3.0))
    late = _scene(agents=[_agent("late", 25.0, 0.0, steps=range(20, 51))])
    assert np.array_equal(render_front_camera(late, 0.0), base)  # not there yet at step 0
    assert not np.array_equal(render_front_camera(late, 2.0), render_front_camera(_scene(), 2.0))


@pytest.mark.parametrize("t_s", [0.3, -0.5, 4.5, float("nan")])
def test_bad_time_is_an_error(t_s):
    with pytest.raises(ValueError, match="not a frame time"):
        render_front_camera(_scene(), t_s=t_s)


def test_missing_human_trajectory(tmp_path):
    scene = _scene(human=False)
    assert render_front_camera(scene, 0.0).shape == (144, 256, 3)
    with pytest.raises(ValueError, match="no human_trajectory"):
        render_front_camera(scene, 1.0)
    with pytest.raises(ValueError, match="no human_trajectory"):
        render_frames(scene, tmp_path / "frames")
    assert not (tmp_path / "frames").exists()  # checked before anything is written


@pytest.mark.parametrize("bad, match", [
    ({"fov_deg": 5.0}, "fov_deg"),
    ({"fov_deg": 170.0}, "fov_deg"),
    ({"width": 0}, "width"),
    ({"far_m": 0.2}, "far_m"),
    ({"focal": 100}, "focal"),  # unknown keys are errors
])
def test_bad_camera_config(bad, match):
    with pytest.raises(ValueError, match=match):
        CameraConfig(**bad)


def test_pitch_moves_the_horizon():
    assert CameraConfig().horizon_v == 72.0
    assert CameraConfig(pitch_deg=10.0).horizon_v < 72.0  # tilting down lifts the horizon


def test_render_frames_writes_pngs(tmp_path):
    config = CameraConfig(width=128, height=72)
    paths = render_frames(_scene(), tmp_path / "cams", config=config)
    assert [p.name for p in paths] == [f"CAM_F0_{i}.png" for i in range(4)]
    for p in paths:
        with Image.open(p) as im:
            assert im.size == (128, 72) and im.mode == "RGB"
    first = np.asarray(Image.open(paths[0]))
    assert np.array_equal(first, render_front_camera(_scene(), 0.0, config))


def test_lane_markings_skip_caps_and_share_dashes():
    a = np.array([[0, 0], [20, 0], [20, 3.5], [0, 3.5]], dtype=float)  # left lane
    b = np.array([[20, 0], [0, 0], [0, -3.5], [20, -3.5]], dtype=float)  # right lane, ring runs the other way
    seg = lane_marking_segments([a, b], dash_m=3.0, period_m=9.0)
    assert (np.abs(np.diff(seg[:, :, 1], axis=1)) < 1e-9).all()  # every dash runs along the lane
    shared = seg[(np.abs(seg[:, :, 1]) < 1e-9).all(axis=1)]
    from_a, from_b = shared[: len(shared) // 2], shared[len(shared) // 2 :]
    norm = lambda s: sorted(tuple(sorted(p[:, 0].round(6))) for p in s)  # noqa: E731
    assert norm(from_a) == norm(from_b)  # both lanes paint the shared line in the same places
    lengths = np.abs(seg[:, 1, 0] - seg[:, 0, 0])
    assert lengths.max() == pytest.approx(3.0)


def test_plot_bev_lines_and_png(tmp_path):
    scene = _scene(agents=[_agent("lead", 10.0, 0.0)], red_steps=range(51))
    cand = np.stack([[[5.0 * k, dy * k, 0.0] for k in range(1, 9)] for dy in (-0.5, 0.0, 0.5)])  # [3, 8, 3]
    fig = plot_bev(scene, candidates=cand, scores=[0.1, 0.9, 0.5], title="test")
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert len([line for line in ax.get_lines() if line.get_gid() == "candidate"]) == 3
    assert len(fig.axes) == 2  # the score colorbar
    path = save_bev(tmp_path / "bev.png", scene, candidates=cand)
    with Image.open(path) as im:
        assert im.format == "PNG" and im.size[0] > 200


def test_bev_ego_box_matches_the_scorer():
    from elfrl.render import bev
    from elfrl.scoring.constants import PACIFICA

    assert bev.EGO_HALF_LENGTH == pytest.approx(PACIFICA.half_length)
    assert bev.EGO_HALF_WIDTH == pytest.approx(PACIFICA.half_width)
    assert bev.EGO_REAR_AXLE_TO_CENTER == pytest.approx(PACIFICA.rear_axle_to_center)


def test_plot_bev_input_errors():
    cand = np.zeros((2, 8, 3))
    with pytest.raises(ValueError, match="scores must be"):
        plot_bev(_scene(), candidates=cand, scores=[0.5])
    with pytest.raises(ValueError, match="candidates must be"):
        plot_bev(_scene(), candidates=np.zeros((8, 3)))
    with pytest.raises(ValueError, match="step"):
        plot_bev(_scene(), step=51)
