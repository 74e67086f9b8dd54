"""3D boxes for the camera renderer: agents, static objects and traffic lights.

Every object is one or more boxes standing on the flat ground. Objects are drawn far to near
(painter's algorithm); each box shows only the faces turned to the camera (a box is convex,
so those never overlap) and faces crossing the near plane are clipped there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from PIL import ImageDraw

from elfrl.render.projection import Camera, clip_plane
from elfrl.scene.arrays import SceneArrays

AGENT_STYLE = {  # type -> (height m, RGB)
    "vehicle": (1.6, (50, 100, 200)),
    "pedestrian": (1.8, (220, 50, 150)),
    "bicycle": (1.5, (40, 170, 70)),
    "traffic_cone": (0.7, (255, 120, 0)),
    "barrier": (1.0, (220, 30, 30)),  # striped with white
    "czone_sign": (1.2, (250, 200, 0)),
    "generic_object": (1.0, (150, 95, 200)),
}
VEHICLE_BODY_M = 1.0  # a vehicle is a body box with a glass cabin on top: it reads as a car
CABIN_RGB = (70, 85, 110)
BARRIER_WHITE = (235, 235, 235)
BARRIER_STRIPE_M = 0.5
POLE_RGB, HOUSING_RGB = (70, 70, 70), (25, 25, 25)
LAMP_RED, LAMP_GREEN = (255, 30, 20), (20, 230, 60)
LIGHT_POLE_M = 3.0  # the lamp housing spans 3.0 .. 4.0 m: red lamp on top, green below

# Lambert shading in the level camera frame: light from above, a little behind-left, so
# top faces are brightest and the two visible sides of a box differ.
_LIGHT = np.array([-0.3, 0.4, 0.85]) / np.linalg.norm([-0.3, 0.4, 0.85])
AMBIENT, DIFFUSE = 0.55, 0.45

# Box styles: PLAIN is shaded; LAMP glows unshaded on its rear face only (the face turned to
# the traffic it controls) and is housing elsewhere, so a light for other directions shows dark.
PLAIN, LAMP = 0, 1

# Corners: bottom 0..3 then top 4..7, as signs of (half length, half width). Faces list their
# corners in order around the face; side normals point at these angles from the box heading.
_CORNER_SIGNS = np.array([[1, 1], [1, -1], [-1, -1], [-1, 1]] * 2, dtype=np.float64)  # [8, 2]
_FACES = np.array([[0, 1, 5, 4], [1, 2, 6, 5], [2, 3, 7, 6], [3, 0, 4, 7], [4, 5, 6, 7]])  # [5, 4]
_SIDE_NORMAL_ANGLE = np.array([0.0, -np.pi / 2, np.pi, np.pi / 2])  # front, right, rear, left
_REAR = 2


@dataclass
class BoxList:
    """Boxes to draw, grouped into objects; an object is ordered as a whole by its anchor."""

    rows: list = field(default_factory=list)  # (x, y, heading, half_len, half_wid, z0, z1, r, g, b, style, object)
    anchors: list = field(default_factory=list)  # per object: (x, y)

    def start_object(self, x: float, y: float) -> None:
        self.anchors.append((x, y))

    def add(self, x, y, heading, half_length, half_width, z0, z1, rgb, style=PLAIN) -> None:
        self.rows.append((x, y, heading, half_length, half_width, z0, z1, *rgb, style, len(self.anchors) - 1))


def add_agents(boxes: BoxList, arrays: SceneArrays, step: int, camera: Camera) -> None:
    """Agents present at `step` within reach of the camera."""
    agents = arrays.agents
    pose, present = agents.pose[step], agents.present[step]  # [A, 3], [A]
    reach = camera.config.far_m + 10.0  # +10 m: a long box centred beyond far can still reach in
    with np.errstate(invalid="ignore"):  # absent agents are NaN
        near_enough = np.hypot(pose[:, 0] - camera.x, pose[:, 1] - camera.y) < reach
    for a in np.flatnonzero(present & near_enough):
        x, y, h = (float(v) for v in pose[a])
        hl, hw = float(agents.half_length[a]), float(agents.half_width[a])
        kind = agents.types[a]
        height, rgb = AGENT_STYLE[kind]
        c, s = math.cos(h), math.sin(h)
        boxes.start_object(x, y)
        if kind == "vehicle":
            boxes.add(x, y, h, hl, hw, 0.0, VEHICLE_BODY_M, rgb)
            back = 0.1 * hl  # the cabin sits a little rearward, as on most cars
            boxes.add(x - back * c, y - back * s, h, 0.55 * hl, 0.9 * hw, VEHICLE_BODY_M, height, CABIN_RGB)
        elif kind == "barrier":  # red-white stripes along the long side: a row of short boxes
            n = max(1, round(2 * hl / BARRIER_STRIPE_M))
            part = hl / n
            for i in range(n):
                off = -hl + part * (2 * i + 1)
                boxes.add(x + off * c, y + off * s, h, part, hw, 0.0, height, rgb if i % 2 == 0 else BARRIER_WHITE)
        else:
            boxes.add(x, y, h, hl, hw, 0.0, height, rgb)


def add_traffic_light(boxes: BoxList, x: float, y: float, heading: float, red: bool) -> None:
    """A pole at (x, y) with a lamp facing traffic that moves along `heading`."""
    boxes.start_object(x, y)
    boxes.add(x, y, heading, 0.075, 0.075, 0.0, LIGHT_POLE_M, POLE_RGB)
    boxes.add(x, y, heading, 0.2, 0.2, LIGHT_POLE_M, LIGHT_POLE_M + 1.0, HOUSING_RGB)
    # The lamp sticks out 5 cm from the housing's rear face, towards the traffic it controls.
    z0 = LIGHT_POLE_M + (0.55 if red else 0.05)
    back = 0.2
    x, y = x - back * math.cos(heading), y - back * math.sin(heading)
    boxes.add(x, y, heading, 0.05, 0.16, z0, z0 + 0.4, LAMP_RED if red else LAMP_GREEN, LAMP)


def draw_boxes(draw: ImageDraw.ImageDraw, boxes: BoxList, camera: Camera) -> None:
    cfg = camera.config
    if not boxes.rows:
        return
    r = np.array(boxes.rows, dtype=np.float64)  # [B, 12]
    x, y, h, hl, hw, z0, z1 = r[:, :7].T
    rgb, style, obj = r[:, 7:10], r[:, 10].astype(np.int64), r[:, 11].astype(np.int64)

    c, s = np.cos(h)[:, None], np.sin(h)[:, None]
    lx, ly = _CORNER_SIGNS[None, :, 0] * hl[:, None], _CORNER_SIGNS[None, :, 1] * hw[:, None]  # [B, 8]
    xy = np.stack([x[:, None] + c * lx - s * ly, y[:, None] + s * lx + c * ly], axis=-1)  # [B, 8, 2]
    z = np.where(np.arange(8)[None] < 4, z0[:, None], z1[:, None])  # [B, 8]
    level = camera.level(xy, z)  # [B, 8, 3]

    # Visible faces: the camera (the origin) is on the outer side of the face.
    angle = (h - camera.heading)[:, None] + _SIDE_NORMAL_ANGLE[None]  # [B, 4]
    sides = np.stack([np.cos(angle), np.sin(angle), np.zeros_like(angle)], axis=-1)
    normals = np.concatenate([sides, np.broadcast_to([[[0.0, 0.0, 1.0]]], (len(r), 1, 3))], axis=1)  # [B, 5, 3]
    visible = (level[:, _FACES].mean(axis=2) * normals).sum(-1) < 0.0  # [B, 5]
    bright = AMBIENT + DIFFUSE * np.maximum(normals @ _LIGHT, 0.0)  # [B, 5]
    fill = np.clip(rgb[:, None, :] * bright[..., None], 0, 255)  # [B, 5, 3]
    lamp = style == LAMP
    fill[lamp] = HOUSING_RGB
    fill[lamp, _REAR] = rgb[lamp]
    fill = fill.astype(np.uint8).tolist()

    cam = camera.pitched(level)  # [B, 8, 3]
    depth = cam[..., 0]
    left, right = camera.outside_sides(cam)
    culled = (depth < cfg.near_m).all(1) | (depth > cfg.far_m).all(1) | left.all(1) | right.all(1)
    whole = (depth[:, _FACES] >= cfg.near_m).all(-1)  # [B, 5] face entirely in front of the near plane
    face_uv = camera.project(cam)[:, _FACES].reshape(len(r), 5, 8).tolist()  # [B][5][u0, v0, ...]

    # Far to near by object; within an object bottom to top (a cabin over its body, a lamp
    # over its housing: the camera looks down on the lower box), then far to near.
    anchors = np.array(boxes.anchors)
    object_dist = np.hypot(anchors[obj, 0] - camera.x, anchors[obj, 1] - camera.y)
    box_dist = np.hypot(x - camera.x, y - camera.y)
    order = np.lexsort((-box_dist, z0, -object_dist))
    rows, faces = np.nonzero((visible & ~culled[:, None])[order])
    for b, f in zip(order[rows].tolist(), faces.tolist()):
        if whole[b, f]:
            poly = face_uv[b][f]
        else:  # the face crosses the near plane: keep the part in front of the camera
            corners = _FACES[f]
            clipped = clip_plane(cam[b, corners], depth[b, corners] - cfg.near_m)
            if len(clipped) < 3:
                continue
            poly = camera.project(clipped).ravel().tolist()
        draw.polygon(poly, fill=tuple(fill[b][f]))
