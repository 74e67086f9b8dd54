"""The metric cache's drivable-area map -> scene-pack polygons, and ring comparison for red-light geometries."""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any, Sequence

import numpy as np
from pydantic import ValidationError

from elfrl.scene.navsim.common import LANE_LAYERS, MAP_LAYERS, NavsimExportError, _attr, _describe, _enum_name, _note
from elfrl.scene.schema import MapPolygon


def _open_ring(geom: Any) -> list[tuple[float, float]]:
    """A shapely polygon's exterior ring as (x, y) floats, opened (shapely rings are closed; the scene pack's open)."""
    ring = [(float(x), float(y)) for x, y, *_ in geom.exterior.coords]
    if len(ring) > 1 and ring[0] == ring[-1]:
        ring = ring[:-1]
    return ring


def _same_ring(geom: Any, ring: Sequence[tuple[float, float]], tol: float = 1e-6) -> bool:
    coords = _open_ring(geom)
    return len(coords) == len(ring) and np.allclose(coords, ring, atol=tol)


def map_from_drivable_map(drivable_area_map: Any, where: str, counts: Counter) -> list[MapPolygon]:
    """PDMDrivableMap -> scene-pack polygons (exterior ring, opened; ids are the map tokens).

    A map type outside MAP_LAYERS or a non-Polygon geometry raises: dropping it would change
    what the scorer counts as drivable. Holes are dropped (the scene pack keeps exterior rings)
    and counted. Lane ids are referenced by the route and red lights, so a non-lane polygon
    whose id collides with another is renamed "<layer>:<id>" (counted)."""
    name = "metric_cache.drivable_area_map"
    tokens = [str(t) for t in _attr(drivable_area_map, name, "tokens", where)]
    types = list(_attr(drivable_area_map, name, "map_types", where))
    geoms = list(_attr(drivable_area_map, name, "_geometries", where))
    if not len(tokens) == len(types) == len(geoms):
        raise NavsimExportError(
            f"{where}: `{name}` has {len(tokens)} tokens, {len(types)} map types and {len(geoms)} geometries"
        )
    entries = []
    for token, map_type, geom in zip(tokens, types, geoms):
        type_name = _enum_name(map_type)
        layer = MAP_LAYERS.get(type_name)
        if layer is None:
            raise NavsimExportError(
                f"{where}: map polygon {token!r} has map type {type_name}, which the scene format has no layer "
                f"for (known: {sorted(MAP_LAYERS)}); extend MAP_LAYERS in elfrl/scene/navsim/common.py and the "
                f"scene format if the scorer must see it"
            )
        if getattr(geom, "geom_type", None) != "Polygon":
            raise NavsimExportError(
                f"{where}: map polygon {token!r} ({type_name}) is a {getattr(geom, 'geom_type', type(geom).__name__)}"
                f"; the scene format holds single polygons"
            )
        if len(geom.interiors):
            _note(
                counts,
                "polygon_holes_dropped",
                logging.WARNING,
                f"{where}: map polygon {token!r} ({type_name}) has {len(geom.interiors)} holes; kept its exterior only",
            )
        entries.append((token, layer, _open_ring(geom)))

    lane_ids = [t for t, layer, _ in entries if layer in LANE_LAYERS]
    dup_lanes = sorted(t for t, n in Counter(lane_ids).items() if n > 1)
    if dup_lanes:
        raise NavsimExportError(f"{where}: lane / lane connector ids appear more than once: {dup_lanes[:5]}")
    polygons, used = [], set(lane_ids)
    for token, layer, ring in entries:
        pid = token
        if layer not in LANE_LAYERS:
            if pid in used:
                pid = f"{layer}:{token}"
                _note(
                    counts,
                    "polygon_ids_renamed",
                    logging.WARNING,
                    f"{where}: {layer} polygon id {token!r} is taken; renamed {pid!r}",
                )
            if pid in used:
                raise NavsimExportError(f"{where}: map polygon id {token!r} appears twice in layer {layer}")
            used.add(pid)
        try:
            polygons.append(MapPolygon(id=pid, layer=layer, exterior=ring))
        except ValidationError as err:
            raise NavsimExportError(f"{where}: map polygon {token!r} ({layer}) is invalid:\n{_describe(err)}") from None
    return polygons
