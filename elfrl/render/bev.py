"""Bird's-eye view of a scene with scored candidate trajectories, for debugging and reports.

Global frame (metres), view centred on the current ego pose. Uses the object-oriented
matplotlib API only (a bare `Figure`, no pyplot), so it is safe in workers and under Agg.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Optional

import numpy as np
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.cm import ScalarMappable
from matplotlib.collections import LineCollection, PolyCollection
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from elfrl.render.boxes import AGENT_STYLE
from elfrl.scene.frames import to_global
from elfrl.scene.arrays import NUM_STEPS, scene_arrays
from elfrl.scene.schema import Scene

AREA_FILL = {"roadblock": "#d4d4d4", "intersection": "#c9c9d6", "carpark": "#ddd5c5"}
LANE_FILL, LANE_EDGE = "#e6e6e6", "#9a9a9a"
ROUTE_FILL, ROUTE_EDGE = "#cde0fa", "#4a7fc1"
RED_LIGHT, GREEN_LIGHT = "#e02020", "#20a040"
EGO_COLOUR = "#111111"
TRAIL_STEPS = 10  # an agent's last 1 s drawn as a faded trail
SCORE_CMAP = "viridis"
# Ego box: nuPlan get_pacifica_parameters(), as elfrl.scoring.constants.PACIFICA (copied, not
# imported: importing elfrl.scoring pulls in scipy and numba, seconds for a plot).
EGO_HALF_LENGTH = (4.049 + 1.127) / 2.0
EGO_HALF_WIDTH = 1.1485
EGO_REAR_AXLE_TO_CENTER = (4.049 - 1.127) / 2.0


def _box_corners(x, y, heading, half_length, half_width) -> np.ndarray:
    """Corners [N, 4, 2] of rotated boxes given by centre arrays [N]."""
    signs = np.array([[1, 1], [1, -1], [-1, -1], [-1, 1]], dtype=np.float64)
    lx, ly = signs[None, :, 0] * half_length[:, None], signs[None, :, 1] * half_width[:, None]
    c, s = np.cos(heading)[:, None], np.sin(heading)[:, None]
    return np.stack([x[:, None] + c * lx - s * ly, y[:, None] + s * lx + c * ly], axis=-1)


def _check_inputs(candidates, scores, step: int):
    if not (isinstance(step, (int, np.integer)) and 0 <= step < NUM_STEPS):
        raise ValueError(f"step must be an observation step in 0..{NUM_STEPS - 1}, got {step!r}")
    if candidates is None:
        if scores is not None:
            raise ValueError("scores were given without candidates; pass candidates [G, 8, 3] with them")
        return None, None
    cand = np.asarray(candidates, dtype=np.float64)
    if cand.ndim != 3 or cand.shape[2] not in (2, 3) or cand.shape[1] < 1:
        raise ValueError(
            f"candidates must be [G, T, 3] poses (x, y, heading) relative to the rear axle, got shape {cand.shape}"
        )
    if scores is None:
        return cand, None
    sc = np.asarray(scores, dtype=np.float64)
    if sc.shape != (len(cand),):
        raise ValueError(f"scores must be [G] = [{len(cand)}], one per candidate, got shape {sc.shape}")
    return cand, sc


def _draw_map(ax: Axes, arrays, step: int) -> list:
    handles = []
    for layer, colour in AREA_FILL.items():
        rings = [r for r, lay in zip(arrays.polygon_rings, arrays.polygon_layers) if lay == layer]
        if rings:
            ax.add_collection(PolyCollection(rings, facecolors=colour, edgecolors="none", zorder=0))
    lanes = [(r, i) for r, lay, i in zip(arrays.polygon_rings, arrays.polygon_layers, arrays.polygon_ids)
             if lay in ("lane", "lane_connector")]
    plain = [r for r, i in lanes if i not in arrays.route_lane_ids and i not in arrays.red_lights]
    route = [r for r, i in lanes if i in arrays.route_lane_ids]
    if plain:
        ax.add_collection(PolyCollection(plain, facecolors=LANE_FILL, edgecolors=LANE_EDGE, linewidths=0.4,
                                         alpha=0.6, zorder=1))
    if route:
        ax.add_collection(PolyCollection(route, facecolors=ROUTE_FILL, edgecolors=ROUTE_EDGE, linewidths=0.8,
                                         alpha=0.8, zorder=1))
        handles.append(Patch(facecolor=ROUTE_FILL, edgecolor=ROUTE_EDGE, label="route lanes"))
    rings = dict(zip(arrays.polygon_ids, arrays.polygon_rings))
    states = {lc: bool(red[step]) for lc, red in arrays.red_lights.items()}
    for is_red, colour, name in ((True, RED_LIGHT, "red light"), (False, GREEN_LIGHT, "green light")):
        lit = [rings[lc] for lc, red in states.items() if red == is_red]
        if lit:
            ax.add_collection(PolyCollection(lit, facecolors=colour, edgecolors=colour, alpha=0.3,
                                             linewidths=1.0, zorder=1.5))
            handles.append(Patch(facecolor=colour, alpha=0.3, label=f"{name} (step {step})"))
    return handles


def _draw_agents(ax: Axes, scene: Scene, arrays, step: int) -> list:
    """Boxes at `step`, a faded 1 s trail, and velocity arrows (velocities come from the scene rows)."""
    agents = arrays.agents
    idx = np.flatnonzero(agents.present[step])
    if not len(idx):
        return []
    pose = agents.pose[step, idx]
    corners = _box_corners(pose[:, 0], pose[:, 1], pose[:, 2], agents.half_length[idx], agents.half_width[idx])
    kinds = [agents.types[a] for a in idx]
    face = [tuple(c / 255 for c in AGENT_STYLE[k][1]) for k in kinds]
    ax.add_collection(PolyCollection(corners, facecolors=face, edgecolors="black", linewidths=0.5, zorder=3))

    # Faded trail: the last second of box centres.
    lo = max(0, step - TRAIL_STEPS)
    trails = [agents.pose[lo : step + 1, a, :2] for a in idx]
    trails = [t[~np.isnan(t[:, 0])] for t in trails]
    ax.add_collection(LineCollection([t for t in trails if len(t) > 1], colors="black", alpha=0.3,
                                     linewidths=1.0, zorder=2.5))
    # Velocity arrows: where the agent would be 1 s later at its listed (global) velocity.
    velocity = np.zeros((len(idx), 2))
    for row, a in enumerate(idx):
        for i, _, _, _, vx, vy in scene.agents[a].steps:
            if i == step:
                velocity[row] = vx, vy
                break
    moving = np.hypot(velocity[:, 0], velocity[:, 1]) > 0.1
    if moving.any():
        ax.quiver(pose[moving, 0], pose[moving, 1], velocity[moving, 0], velocity[moving, 1], angles="xy",
                  scale_units="xy", scale=1.0, width=0.003, color="black", alpha=0.7, zorder=4)
    return [Patch(facecolor=tuple(c / 255 for c in AGENT_STYLE[k][1]), edgecolor="black", label=k)
            for k in AGENT_STYLE if k in kinds]


def _draw_ego(ax: Axes, ego: np.ndarray) -> list:
    x, y, h = ego[:3]
    off = EGO_REAR_AXLE_TO_CENTER  # the box centre is ahead of the rear axle
    corners = _box_corners(np.array([x + off * math.cos(h)]), np.array([y + off * math.sin(h)]), np.array([h]),
                           np.array([EGO_HALF_LENGTH]), np.array([EGO_HALF_WIDTH]))
    ax.add_collection(PolyCollection(corners, facecolors="white", edgecolors=EGO_COLOUR, linewidths=1.5, zorder=5))
    ax.plot([x], [y], marker="o", markersize=3, color=EGO_COLOUR, zorder=5.1)
    return [Patch(facecolor="white", edgecolor=EGO_COLOUR, label="ego (t=0)")]


def _draw_trajectories(ax: Axes, arrays, cand, scores) -> list:
    ego = arrays.ego
    start = ego[None, :2]
    handles = []
    ref = arrays.reference[:, :2]  # global already
    # Dashed on top of the GT line, which it often follows.
    ax.plot(ref[:, 0], ref[:, 1], linestyle="--", color="#ff7f0e", linewidth=1.5, zorder=7.5, label="reference plan")
    handles.append(Line2D([], [], linestyle="--", color="#ff7f0e", label="reference plan"))
    if arrays.human_trajectory is not None:
        gt = np.concatenate([start, to_global(ego, arrays.human_trajectory)])
        ax.plot(gt[:, 0], gt[:, 1], color="black", linewidth=2.0, marker="o", markersize=3, zorder=7,
                label="human (GT)")
        handles.append(Line2D([], [], color="black", marker="o", markersize=3, label="human (GT)"))
    if cand is not None:
        cmap, norm = colormaps[SCORE_CMAP], Normalize(0.0, 1.0)
        for g, traj in enumerate(cand):
            xy = np.concatenate([start, to_global(ego, traj)])
            colour = "#d62728" if scores is None else cmap(norm(scores[g]))
            ax.plot(xy[:, 0], xy[:, 1], color=colour, linewidth=1.2, alpha=0.9, zorder=6.5, gid="candidate")
        label = "candidates" if scores is None else "candidates (colour = score)"
        handles.append(Line2D([], [], color="#d62728" if scores is None else cmap(0.7), label=label))
    return handles


def plot_bev(
    scene: Scene,
    candidates: Optional[np.ndarray] = None,
    scores: Optional[np.ndarray] = None,
    ax: Optional[Axes] = None,
    title: Optional[str] = None,
    step: int = 0,
    extent_m: float = 60.0,
) -> Figure:
    """Plot the scene: map, agents at `step`, ego, human (GT) trajectory, reference plan and
    candidates [G, 8, 3] (relative to the current rear axle) coloured by scores [G] in 0..1.

    Draws into `ax` if given (and returns its figure), else into a new Figure."""
    cand, sc = _check_inputs(candidates, scores, step)
    arrays = scene_arrays(scene)
    if ax is None:
        fig = Figure(figsize=(7.5, 7.0))
        ax = fig.add_subplot()
    else:
        fig = ax.figure
    handles = _draw_map(ax, arrays, step)
    handles += _draw_agents(ax, scene, arrays, step)
    handles += _draw_ego(ax, arrays.ego)
    handles += _draw_trajectories(ax, arrays, cand, sc)
    if sc is not None:
        mappable = ScalarMappable(norm=Normalize(0.0, 1.0), cmap=SCORE_CMAP)
        fig.colorbar(mappable, ax=ax, label="score", fraction=0.046, pad=0.02)

    x, y = arrays.ego[:2]
    half = extent_m / 2.0
    ax.set_xlim(x - half, x + half)
    ax.set_ylim(y - half, y + half)
    ax.set_aspect("equal")
    ax.ticklabel_format(useOffset=True)  # UTM-size coordinates: show offsets, not 7-digit ticks
    ax.set_xlabel("x [m] (global)")
    ax.set_ylabel("y [m] (global)")
    ax.set_title(title if title is not None else f"{scene.token} (step {step})")
    ax.legend(handles=handles, loc="upper left", fontsize=7, framealpha=0.85)
    return fig


def save_bev(path: str | Path, scene: Scene, dpi: int = 120, **kwargs) -> Path:
    """plot_bev(scene, **kwargs) written to `path` (format from the suffix, e.g. .png)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig = plot_bev(scene, **kwargs)
    fig.savefig(path, dpi=dpi, bbox_inches="tight")
    return path
