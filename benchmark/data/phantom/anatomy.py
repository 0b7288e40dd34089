"""Procedural chest radiographs whose visible content follows a list of findings.

Phantom datasets need images in which what the labels, reports, boxes and masks say
is actually visible, so that a better encoder measurably scores higher. This module
draws a frontal (or lateral) chest film from simple anatomy -- body, lungs, ribs,
spine, heart, diaphragm, clavicles -- with per-patient variation in shape, exposure
and noise, then adds findings on top: enlarged heart, effusion, focal or diffuse
opacity, nodules, pneumothorax, edema, atelectasis, hyperinflation, devices.

Coordinates are normalised to [0, 1] with x growing to the image's right, which is
the *patient's left* on a frontal film (radiological convention).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

FINDING_KINDS: tuple[str, ...] = (
    "cardiomegaly",
    "effusion",
    "opacity",
    "nodule",
    "mass",
    "granuloma",
    "pneumothorax",
    "edema",
    "atelectasis",
    "hyperinflation",
    "hypoinflation",
    "device",
    "catheter",
    "scoliosis",
)

SIDES = ("right", "left", "bilateral", "any")
ZONES = ("upper", "middle", "lower", "any")


@dataclass(frozen=True)
class Finding:
    """One visible abnormality; ``side`` is the patient's side."""

    kind: str
    side: str = "any"
    zone: str = "any"
    severity: float = 1.0

    def __post_init__(self) -> None:
        if self.kind not in FINDING_KINDS:
            raise ValueError(f"unknown finding kind {self.kind!r}")
        if self.side not in SIDES or self.zone not in ZONES:
            raise ValueError(f"bad side/zone {self.side!r}/{self.zone!r}")


@dataclass
class _Geometry:
    """Per-patient anatomy in normalised coordinates."""

    lung_cx: tuple[float, float]  # image-left lung (patient right), image-right lung
    lung_cy: float
    lung_rx: tuple[float, float]
    lung_ry: float
    heart_cx: float
    heart_cy: float
    heart_rx: float
    heart_ry: float
    spine_x: float
    tilt: float
    body_rx: float
    rib_phase: float
    extras: dict = field(default_factory=dict)


def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    coords = (np.arange(size, dtype=np.float64) + 0.5) / size
    return np.meshgrid(coords, coords, indexing="xy")


def _ellipse(xx, yy, cx, cy, rx, ry, soft: float = 0.08, angle: float = 0.0) -> np.ndarray:
    """Soft-edged filled ellipse in [0, 1]."""
    dx, dy = xx - cx, yy - cy
    if angle:
        c, s = np.cos(angle), np.sin(angle)
        dx, dy = c * dx + s * dy, -s * dx + c * dy
    r = (dx / rx) ** 2 + (dy / ry) ** 2
    return np.clip((1.0 - r) / soft, 0.0, 1.0).astype(np.float64)


def _gauss(xx, yy, cx, cy, sx, sy) -> np.ndarray:
    return np.exp(-(((xx - cx) / sx) ** 2 + ((yy - cy) / sy) ** 2) / 2).astype(np.float64)


def smooth_noise(rng: np.random.Generator, size: int, cells: int) -> np.ndarray:
    """Band-limited noise in about [-1, 1]: random values on a coarse grid, upsampled bicubically."""
    coarse = rng.standard_normal((cells, cells)).astype(np.float32)  # PIL resamples 32-bit float images only
    img = Image.fromarray(coarse).resize((size, size), Image.BICUBIC)
    return np.asarray(img, dtype=np.float64)


def _side_lungs(side: str, rng: np.random.Generator) -> list[int]:
    """Lung indices for a patient side: 0 = patient right (image left), 1 = patient left."""
    if side == "right":
        return [0]
    if side == "left":
        return [1]
    if side == "bilateral":
        return [0, 1]
    return [int(rng.integers(0, 2))]


def _zone_y(g: _Geometry, zone: str, rng: np.random.Generator) -> float:
    top, bottom = g.lung_cy - g.lung_ry * 0.8, g.lung_cy + g.lung_ry * 0.75
    bands = {"upper": (0.0, 0.33), "middle": (0.33, 0.66), "lower": (0.62, 0.95)}
    lo, hi = bands.get(zone, (0.1, 0.9))
    return float(top + (bottom - top) * rng.uniform(lo, hi))


def sample_geometry(rng: np.random.Generator, findings: Sequence[Finding]) -> _Geometry:
    kinds = {f.kind for f in findings}
    infl = 1.0
    if "hyperinflation" in kinds:
        infl = 1.12
    elif "hypoinflation" in kinds:
        infl = 0.86
    heart_scale = 1.0
    for f in findings:
        if f.kind == "cardiomegaly":
            heart_scale = 1.25 + 0.25 * f.severity
    spine_x = 0.5 + rng.normal(0, 0.012)
    lung_ry = rng.uniform(0.27, 0.31) * infl
    return _Geometry(
        lung_cx=(spine_x - rng.uniform(0.16, 0.19), spine_x + rng.uniform(0.16, 0.19)),
        lung_cy=rng.uniform(0.44, 0.48),
        lung_rx=(rng.uniform(0.125, 0.145) * infl**0.5, rng.uniform(0.12, 0.14) * infl**0.5),
        lung_ry=lung_ry,
        heart_cx=spine_x + rng.uniform(0.03, 0.06),
        heart_cy=rng.uniform(0.60, 0.64),
        heart_rx=rng.uniform(0.10, 0.12) * heart_scale,
        heart_ry=rng.uniform(0.085, 0.10) * (1 + (heart_scale - 1) * 0.4),
        spine_x=spine_x,
        tilt=rng.normal(0, 0.03),
        body_rx=rng.uniform(0.40, 0.47),
        rib_phase=rng.uniform(0, 1),
    )


def _lung_mask(xx, yy, g: _Geometry, i: int) -> np.ndarray:
    # Lungs are taller than wide, narrower at the apex: an ellipse plus a lower lobe bulge.
    upper = _ellipse(xx, yy, g.lung_cx[i], g.lung_cy - 0.03, g.lung_rx[i] * 0.9, g.lung_ry, soft=0.15)
    lower = _ellipse(xx, yy, g.lung_cx[i], g.lung_cy + 0.08, g.lung_rx[i], g.lung_ry * 0.72, soft=0.15)
    return np.maximum(upper, lower)


#: findings placed in one lung at a side and zone: the ones a finding mask outlines (edema, devices,
#: scoliosis and the geometric findings are not focal and have no region)
FOCAL_KINDS: frozenset[str] = frozenset({"opacity", "nodule", "mass", "granuloma", "effusion", "pneumothorax", "atelectasis"})
#: a pixel belongs to a finding's region where drawing the finding changed it by more than this
#: (intensity in [0, 1] before exposure; a faint opacity's core adds ~0.2, a pneumothorax darkens
#: the lung by ~0.1, the soft tails of a blob fall below it)
REGION_CHANGE = 0.04


def render_frontal(
    rng: np.random.Generator,
    size: int,
    findings: Sequence[Finding] = (),
    opacity_boxes: Sequence[tuple[float, float, float, float]] = (),
    pneumothorax_mask: np.ndarray | None = None,
) -> np.ndarray:
    """Render one frontal film as uint8 (size x size).

    ``opacity_boxes`` are pixel boxes (x1, y1, x2, y2) filled with airspace opacity
    (RSNA-style); ``pneumothorax_mask`` is a boolean mask where the lung collapses.
    """
    return _render_frontal(rng, size, findings, opacity_boxes, pneumothorax_mask, None)


def render_frontal_with_region(rng: np.random.Generator, size: int,
                               findings: Sequence[Finding] = ()) -> tuple[np.ndarray, np.ndarray]:
    """The film :func:`render_frontal` draws from the same generator state (the same bytes: the
    region costs no random draw), and a boolean (size x size) mask of where its focal findings
    (:data:`FOCAL_KINDS`) changed the film: the "findings" a positive control may be supervised on."""
    region = np.zeros((size, size), dtype=bool)
    return _render_frontal(rng, size, findings, (), None, region), region


def _render_frontal(rng, size, findings, opacity_boxes, pneumothorax_mask, region: np.ndarray | None) -> np.ndarray:
    """:func:`render_frontal`; with ``region`` given, the focal findings' pixels are set in it."""
    xx, yy = _grid(size)
    g = sample_geometry(rng, findings)
    if g.tilt:
        c, s = np.cos(g.tilt), np.sin(g.tilt)
        dx, dy = xx - 0.5, yy - 0.5
        xx, yy = (0.5 + c * dx - s * dy).astype(np.float64), (0.5 + s * dx + c * dy).astype(np.float64)

    body = _ellipse(xx, yy, 0.5, 0.62, g.body_rx, 0.62, soft=0.1)
    img = 0.05 + 0.50 * body
    # shoulders and soft tissue gradient
    img += 0.08 * _gauss(xx, yy, 0.5, 1.0, 0.35, 0.45) * body

    lungs = [_lung_mask(xx, yy, g, i) for i in (0, 1)]
    lung = np.maximum(lungs[0], lungs[1])
    lung_depth = 0.34 + rng.uniform(-0.03, 0.03)
    if any(f.kind == "hyperinflation" for f in findings):
        lung_depth += 0.06
    img -= lung_depth * lung
    # vascular markings: fine texture stronger near the hila
    vessels = smooth_noise(rng, size, max(8, size // 10))
    hilar = _gauss(xx, yy, g.lung_cx[0] + 0.05, g.lung_cy + 0.02, 0.08, 0.12) + _gauss(
        xx, yy, g.lung_cx[1] - 0.05, g.lung_cy + 0.02, 0.08, 0.12
    )
    img += lung * (0.025 * np.abs(vessels) + 0.10 * hilar)

    # ribs: curved bright bands across each lung
    rib_y = yy + 0.06 * np.cos((xx - g.spine_x) * 7.0) ** 2
    ribs = 0.5 + 0.5 * np.cos(2 * np.pi * (rib_y * 11.0 + g.rib_phase))
    img += 0.07 * (ribs**6) * lung * (yy < g.lung_cy + 0.2)

    # spine and mediastinum
    spine = _ellipse(xx, yy, g.spine_x, 0.55, 0.035, 0.6, soft=0.3)
    vertebrae = 0.5 + 0.5 * np.cos(2 * np.pi * yy * 16)
    img += spine * (0.18 + 0.05 * vertebrae)
    medi = _ellipse(xx, yy, g.spine_x, 0.33, 0.05, 0.16, soft=0.4)
    img += 0.15 * medi

    # heart
    heart = _ellipse(xx, yy, g.heart_cx, g.heart_cy, g.heart_rx, g.heart_ry, soft=0.25, angle=-0.25)
    img = img * (1 - heart) + (0.52 + 0.04 * rng.standard_normal()) * heart
    # diaphragm and abdomen below the lungs
    dome = np.minimum(
        yy - (g.lung_cy + g.lung_ry * 0.95 - 0.06 * np.cos((xx - g.lung_cx[0]) * 6)),
        yy - (g.lung_cy + g.lung_ry * 0.92 - 0.06 * np.cos((xx - g.lung_cx[1]) * 6)),
    )
    abdomen = np.clip(dome / 0.02, 0, 1) * body
    img = img * (1 - abdomen) + 0.55 * abdomen
    # clavicles
    for sgn in (-1, 1):
        cx = g.spine_x + sgn * 0.16
        clav = _ellipse(xx, yy, cx, 0.16 + 0.02 * rng.standard_normal(), 0.17, 0.018, soft=0.6, angle=sgn * 0.22)
        img += 0.12 * clav

    for f in findings:
        before = img
        img = _add_finding(img, f, g, xx, yy, lungs, rng, size)
        if region is not None and f.kind in FOCAL_KINDS:
            region |= np.abs(img - before) > REGION_CHANGE
    for box in opacity_boxes:
        img = _add_box_opacity(img, box, lung, rng, size)
    if pneumothorax_mask is not None:
        img = _add_pneumothorax_region(img, pneumothorax_mask.astype(np.float64), rng, size)

    # exposure, noise and detector response vary per film
    img = img * rng.uniform(0.85, 1.15) + rng.uniform(-0.06, 0.06)
    img += 0.05 * smooth_noise(rng, size, 4)
    img += rng.uniform(0.01, 0.03) * rng.standard_normal(img.shape).astype(np.float64)
    img = np.clip(img, 0, 1) ** rng.uniform(0.85, 1.2)
    return (img * 255 + 0.5).astype(np.uint8)


def _add_finding(img, f: Finding, g: _Geometry, xx, yy, lungs, rng, size) -> np.ndarray:
    sev = float(np.clip(f.severity, 0.2, 1.0))
    if f.kind in ("cardiomegaly", "hyperinflation", "hypoinflation"):
        return img  # already part of the geometry
    per_lung = f.kind not in ("edema", "device", "catheter", "scoliosis")
    for i in _side_lungs(f.side, rng) if per_lung else []:
        lung = lungs[i]
        cx = g.lung_cx[i] + rng.uniform(-0.5, 0.5) * g.lung_rx[i]
        cy = _zone_y(g, f.zone, rng)
        if f.kind == "opacity":
            blob = _gauss(xx, yy, cx, cy, rng.uniform(0.04, 0.08), rng.uniform(0.04, 0.08))
            tex = 0.75 + 0.25 * smooth_noise(rng, size, 12)
            img = img + (0.18 + 0.14 * sev) * blob * tex * lung
        elif f.kind in ("nodule", "mass", "granuloma"):
            r = {"nodule": 0.018, "mass": 0.045, "granuloma": 0.010}[f.kind] * rng.uniform(0.8, 1.3)
            amp = {"nodule": 0.22, "mass": 0.25, "granuloma": 0.40}[f.kind]
            img = img + amp * _ellipse(xx, yy, cx, cy, r, r, soft=0.5) * np.maximum(lung, 0.3)
        elif f.kind == "effusion":
            base = g.lung_cy + g.lung_ry * 0.9
            height = (0.06 + 0.10 * sev) * g.lung_ry / 0.29
            lateral = np.abs(xx - g.lung_cx[i]) / g.lung_rx[i]
            meniscus = base - height + 0.04 * lateral**2
            fluid = np.clip((yy - meniscus) / 0.03, 0, 1) * (np.abs(xx - g.lung_cx[i]) < g.lung_rx[i] * 1.2)
            img = img + 0.34 * fluid * lung
        elif f.kind == "pneumothorax":
            apex = _ellipse(xx, yy, g.lung_cx[i] + (-1 if i == 0 else 1) * 0.04, g.lung_cy - g.lung_ry * 0.55,
                            g.lung_rx[i] * 0.9, g.lung_ry * (0.35 + 0.3 * sev), soft=0.05)
            region = apex * lung
            img = _add_pneumothorax_region(img, region, rng, size)
        elif f.kind == "atelectasis":
            band = _ellipse(xx, yy, cx, cy, g.lung_rx[i] * 0.7, 0.012 + 0.01 * sev, soft=0.6, angle=rng.uniform(-0.3, 0.3))
            img = img + 0.25 * band * lung
    if f.kind == "edema":
        haze = sum(_gauss(xx, yy, g.lung_cx[i] + (0.04 if i == 0 else -0.04), g.lung_cy + 0.03, 0.09, 0.16) for i in (0, 1))
        tex = 0.7 + 0.3 * np.abs(smooth_noise(rng, size, 20))
        img = img + (0.12 + 0.1 * sev) * haze * tex * (lungs[0] + lungs[1])
    elif f.kind == "device":
        # pacemaker generator with a lead towards the heart
        side = -1 if f.side == "right" else 1
        px, py = g.spine_x + side * 0.22, 0.22
        img = img + 0.55 * _ellipse(xx, yy, px, py, 0.04, 0.03, soft=0.3)
        img = _draw_curve(img, xx, yy, [(px, py), (g.spine_x + 0.05, 0.35), (g.heart_cx, g.heart_cy)], 0.006, 0.45)
    elif f.kind == "catheter":
        side = -1 if f.side != "left" else 1
        start = (g.spine_x + side * 0.2, 0.05)
        img = _draw_curve(img, xx, yy, [start, (g.spine_x + side * 0.08, 0.22), (g.spine_x + 0.01, 0.42)], 0.004, 0.4)
    elif f.kind == "scoliosis":
        bend = 0.03 * sev * np.sin(np.pi * yy)
        img = img + 0.1 * _ellipse(xx - bend, yy, g.spine_x, 0.55, 0.03, 0.6, soft=0.3)
    return img


def _draw_curve(img, xx, yy, pts, width: float, amp: float) -> np.ndarray:
    """Thin bright polyline (tubes, leads, wires)."""
    out = img
    for (x0, y0), (x1, y1) in zip(pts[:-1], pts[1:]):
        vx, vy = x1 - x0, y1 - y0
        t = np.clip(((xx - x0) * vx + (yy - y0) * vy) / (vx * vx + vy * vy + 1e-9), 0, 1)
        d = np.hypot(xx - (x0 + t * vx), yy - (y0 + t * vy))
        out = out + amp * np.clip(1 - d / width, 0, 1)
    return out


def _add_box_opacity(img, box, lung, rng, size) -> np.ndarray:
    """Airspace opacity filling a pixel box, fading at its border, textured."""
    x1, y1, x2, y2 = (float(v) / size for v in box)
    xx, yy = _grid(size)
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    rx, ry = max((x2 - x1) / 2, 1.5 / size), max((y2 - y1) / 2, 1.5 / size)
    core = _ellipse(xx, yy, cx, cy, rx * 1.05, ry * 1.05, soft=0.6)
    tex = 0.6 + 0.4 * np.abs(smooth_noise(rng, size, max(6, size // 16)))
    amp = rng.uniform(0.20, 0.32)
    return img + amp * core * tex * np.maximum(lung, 0.35)


def _add_pneumothorax_region(img, region: np.ndarray, rng, size) -> np.ndarray:
    """Collapsed lung: the region loses markings and darkens, bounded by a bright pleural line."""
    region = np.clip(region, 0, 1)
    dark = 0.12 + rng.uniform(0.0, 0.03)
    out = img * (1 - region) + dark * region
    # pleural line: the border of the region
    gy, gx = np.gradient(region)
    edge = np.clip(np.hypot(gx, gy) * size * 0.08, 0, 1)
    return out + 0.25 * edge


def render_lateral(rng: np.random.Generator, size: int, findings: Sequence[Finding] = ()) -> np.ndarray:
    """A lateral film: different silhouette so that frontal filtering is testable and visible."""
    xx, yy = _grid(size)
    body = _ellipse(xx, yy, 0.5, 0.58, 0.36, 0.6, soft=0.1)
    lung = _ellipse(xx, yy, 0.48, 0.45, 0.24, 0.3, soft=0.2)
    heart_scale = 1.3 if any(f.kind == "cardiomegaly" for f in findings) else 1.0
    heart = _ellipse(xx, yy, 0.36, 0.6, 0.12 * heart_scale, 0.12, soft=0.3)
    spine = _ellipse(xx, yy, 0.74, 0.55, 0.04, 0.55, soft=0.3)
    img = 0.05 + 0.5 * body - 0.3 * lung + 0.25 * heart * lung + 0.2 * spine
    img = img * rng.uniform(0.85, 1.15) + 0.03 * rng.standard_normal(img.shape).astype(np.float64)
    img = np.clip(img, 0, 1)
    return (img * 255 + 0.5).astype(np.uint8)
