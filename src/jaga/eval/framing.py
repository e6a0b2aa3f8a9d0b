"""Screenshot-like framing: a photo shown inside a phone app or a desktop browser, then captured.

Offenders often share a screenshot rather than the file. The photo then sits inside UI chrome:
a status bar, a title bar, buttons, a caption, other posts. These renderings are seeded, so every
run of the benchmark draws the same frames; the layout varies between images (light or dark theme,
margins, bar heights, caption length) so a detector cannot key on one fixed geometry.
"""

from __future__ import annotations

from typing import Final

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageDraw, ImageFont

U8 = NDArray[np.uint8]
RGB = tuple[int, int, int]

_WORDS: Final = [
    "summer",
    "light",
    "walk",
    "river",
    "morning",
    "city",
    "weekend",
    "friends",
    "garden",
    "coffee",
    "market",
    "old",
    "street",
    "harbour",
    "view",
    "autumn",
    "colours",
    "lake",
    "trip",
    "evening",
    "quiet",
    "road",
    "hills",
    "window",
    "train",
]
_NAMES: Final = ("lena.k", "photo_daily", "m.travels", "north_side", "ana_pics", "tomasz.b")


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def _words(rng: np.random.Generator, count: int) -> str:
    return " ".join(str(rng.choice(_WORDS)) for _ in range(count))


def _fit(photo: U8, width: int, height: int) -> Image.Image:
    """The photo scaled (aspect kept) to fit inside width x height."""
    h, w = photo.shape[:2]
    scale = min(width / w, height / h)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return Image.fromarray(photo).resize(size, Image.Resampling.BICUBIC)


def _icon_row(
    draw: ImageDraw.ImageDraw, y: int, width: int, size: int, fg: RGB, count: int
) -> None:
    """A row of simple outline icons spread across the width (nav bars, action rows)."""
    for i in range(count):
        cx = round((i + 0.5) * width / count)
        box = (cx - size // 2, y - size // 2, cx + size // 2, y + size // 2)
        if i % 3 == 0:
            draw.ellipse(box, outline=fg, width=3)
        elif i % 3 == 1:
            draw.rounded_rectangle(box, radius=size // 5, outline=fg, width=3)
        else:
            draw.polygon(
                [(box[0], box[3]), ((box[0] + box[2]) // 2, box[1]), (box[2], box[3])],
                outline=fg,
                width=3,
            )


#: Where the photo landed in a rendered frame: (top, left, bottom, right) in pixels.
PhotoBox = tuple[int, int, int, int]


def phone_screenshot(photo: U8, rng: np.random.Generator) -> U8:
    """A portrait phone screenshot of a social-media post showing the photo full width."""
    return render_phone(photo, rng)[0]


def desktop_screenshot(photo: U8, rng: np.random.Generator) -> U8:
    """A landscape desktop screenshot: window and browser chrome, a sidebar, the photo, text."""
    return render_desktop(photo, rng)[0]


def render_phone(photo: U8, rng: np.random.Generator) -> tuple[U8, PhotoBox]:
    """:func:`phone_screenshot` and the box the photo occupies in it."""
    dark = bool(rng.random() < 0.5)
    bg: RGB = (0, 0, 0) if dark else (255, 255, 255)
    fg: RGB = (240, 240, 240) if dark else (25, 25, 25)
    muted: RGB = (140, 140, 140)
    accent: RGB = tuple(int(v) for v in rng.integers(40, 220, size=3))  # type: ignore[assignment]
    width = int(rng.integers(640, 801))
    height = round(width * rng.uniform(2.0, 2.2))
    margin = 0 if rng.random() < 0.6 else int(rng.integers(8, 25))
    canvas = Image.new("RGB", (width, height), bg)
    draw = ImageDraw.Draw(canvas)
    unit = width / 100

    status = round(6 * unit)
    bar_colour = accent if rng.random() < 0.3 else bg
    draw.rectangle((0, 0, width, status), fill=bar_colour)
    draw.text(
        (3 * unit, 1 * unit),
        f"{rng.integers(0, 24):02d}:{rng.integers(0, 60):02d}",
        fill=fg,
        font=_font(round(3.5 * unit)),
    )
    for i in range(3):
        x = width - (6 + 5 * i) * unit
        draw.rectangle((x, 1.5 * unit, x + 3 * unit, 4.5 * unit), outline=fg, width=2)

    app_top, app_height = status, round(12 * unit)
    draw.rectangle((0, app_top, width, app_top + app_height), fill=bar_colour)
    draw.line((3 * unit, app_top + 6 * unit, 6 * unit, app_top + 3 * unit), fill=fg, width=4)
    draw.line((3 * unit, app_top + 6 * unit, 6 * unit, app_top + 9 * unit), fill=fg, width=4)
    draw.text(
        (12 * unit, app_top + 3 * unit),
        str(rng.choice(["Photos", "Feed", "Post"])),
        fill=fg,
        font=_font(round(5 * unit)),
    )

    header_top = app_top + app_height
    header = round(12 * unit)
    draw.ellipse((3 * unit, header_top + 2 * unit, 11 * unit, header_top + 10 * unit), fill=accent)
    draw.text(
        (14 * unit, header_top + 3.5 * unit),
        str(rng.choice(_NAMES)),
        fill=fg,
        font=_font(round(4 * unit)),
    )
    draw.text((90 * unit, header_top + 2 * unit), "...", fill=fg, font=_font(round(5 * unit)))

    photo_top = header_top + header
    shown = _fit(photo, width - 2 * margin, round(0.55 * height))
    photo_left = (width - shown.width) // 2
    canvas.paste(shown, (photo_left, photo_top))
    box = (photo_top, photo_left, photo_top + shown.height, photo_left + shown.width)
    y = photo_top + shown.height

    _icon_row(draw, y + round(6 * unit), round(45 * unit), round(6 * unit), fg, 3)
    y += round(12 * unit)
    draw.text(
        (3 * unit, y), f"{rng.integers(12, 9000)} likes", fill=fg, font=_font(round(4 * unit))
    )
    y += round(6 * unit)
    for _ in range(int(rng.integers(2, 5))):
        draw.text(
            (3 * unit, y),
            _words(rng, int(rng.integers(4, 8))),
            fill=fg,
            font=_font(round(3.6 * unit)),
        )
        y += round(5 * unit)
    draw.text(
        (3 * unit, y), f"{rng.integers(2, 23)} hours ago", fill=muted, font=_font(round(3 * unit))
    )
    y += round(8 * unit)
    if y + 20 * unit < height - 14 * unit:
        draw.ellipse((3 * unit, y + 2 * unit, 11 * unit, y + 10 * unit), fill=muted)
        draw.text(
            (14 * unit, y + 3.5 * unit),
            str(rng.choice(_NAMES)),
            fill=fg,
            font=_font(round(4 * unit)),
        )
        grey = (40, 40, 40) if dark else (225, 225, 225)
        draw.rectangle((margin, y + 12 * unit, width - margin, height), fill=grey)

    nav = round(12 * unit)
    draw.rectangle((0, height - nav, width, height), fill=bg)
    draw.line((0, height - nav, width, height - nav), fill=muted, width=1)
    _icon_row(draw, height - nav // 2, width, round(6 * unit), fg, 5)
    return np.asarray(canvas), box


def render_desktop(photo: U8, rng: np.random.Generator) -> tuple[U8, PhotoBox]:
    """:func:`desktop_screenshot` and the box the photo occupies in it."""
    width = int(rng.integers(1200, 1441))
    height = int(rng.integers(760, 901))
    page: RGB = (255, 255, 255) if rng.random() < 0.6 else (242, 242, 242)
    chrome: RGB = (222, 222, 222)
    text: RGB = (30, 30, 30)
    canvas = Image.new("RGB", (width, height), page)
    draw = ImageDraw.Draw(canvas)

    title = 30
    draw.rectangle((0, 0, width, title), fill=chrome)
    for i, colour in enumerate(((237, 95, 87), (245, 190, 80), (98, 197, 85))):
        draw.ellipse((12 + 22 * i, 8, 26 + 22 * i, 22), fill=colour)
    draw.text((width // 2 - 60, 7), "Gallery - Browser", fill=text, font=_font(15))
    toolbar = 44
    draw.rectangle((0, title, width, title + toolbar), fill=(236, 236, 236))
    draw.rounded_rectangle(
        (120, title + 8, width - 160, title + toolbar - 8),
        radius=12,
        fill=(255, 255, 255),
        outline=(200, 200, 200),
    )
    draw.text(
        (140, title + 14),
        f"https://example.org/gallery/{rng.integers(1000, 99999)}",
        fill=(90, 90, 90),
        font=_font(15),
    )
    top = title + toolbar

    sidebar = round(width * rng.uniform(0.14, 0.22))
    for i in range(int(rng.integers(6, 12))):
        draw.text((20, top + 30 + 34 * i), _words(rng, 2).title(), fill=text, font=_font(17))
    draw.line((sidebar, top, sidebar, height), fill=chrome, width=1)

    area_w = width - sidebar - 80
    area_h = round((height - top) * rng.uniform(0.6, 0.75))
    shown = _fit(photo, area_w, area_h)
    x = sidebar + 40 + (area_w - shown.width) // 2
    y = top + 50
    draw.text((sidebar + 40, top + 14), _words(rng, 4).title(), fill=text, font=_font(22))
    canvas.paste(shown, (x, y))
    box = (y, x, y + shown.height, x + shown.width)
    y += shown.height + 16
    for _ in range(int(rng.integers(1, 4))):
        if y > height - 30:
            break
        draw.text(
            (sidebar + 40, y), _words(rng, int(rng.integers(6, 12))), fill=text, font=_font(16)
        )
        y += 24
    if y < height - 50:
        draw.rounded_rectangle(
            (sidebar + 40, y + 6, sidebar + 170, y + 40), radius=8, fill=(40, 110, 220)
        )
        draw.text((sidebar + 62, y + 14), "Download", fill=(255, 255, 255), font=_font(16))
    return np.asarray(canvas), box
