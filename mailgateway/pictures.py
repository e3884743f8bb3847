"""A profile picture from a mail attachment (pure): decoded with Pillow and made again as a small JPEG.

What is stored is never what was sent: the picture is decoded (JPEG, PNG, GIF or WebP, whatever
the attachment says it is), turned upright as its EXIF orientation says, made at most
:data:`SIDE` pixels a side, flattened on white and written as a new JPEG. Nothing of the sent file
survives but its pixels: no EXIF (a phone photo's GPS position), no comments, no second file
hidden after the image. Pictures too large to decode safely are refused before they are decoded.
"""

from __future__ import annotations

import io
import warnings

from PIL import Image, ImageOps, UnidentifiedImageError

from intranet.format import PICTURE_MAX_BYTES

from .parse import Inbound, Part

SIDE = 512  # pixels, at most, a side
MAX_PIXELS = 40_000_000  # the sent picture, before it is decoded (a phone photo is 12-50 million)
MAX_SENT_BYTES = 15_000_000
FORMATS = ("JPEG", "PNG", "GIF", "WEBP")


def picture_part(mail: Inbound) -> Part | None:
    """The first attachment or inline part of ``mail`` that says it is an image, if any."""
    return next((p for p in mail.parts if p.content_type.lower().startswith("image/")), None)


def profile_picture(data: bytes) -> tuple[bytes | None, str]:
    """(The JPEG to keep, "") or (None, why it cannot be a picture)."""
    if len(data) > MAX_SENT_BYTES:
        return None, f"the picture is over {MAX_SENT_BYTES // 1_000_000} MB"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=FORMATS) as sent:
                width, height = sent.size
                if width * height > MAX_PIXELS:
                    return (
                        None,
                        f"the picture is {width}×{height} pixels; send one under {MAX_PIXELS // 1_000_000} million",
                    )
                sent.seek(0)  # (an animation: its first frame)
                image = ImageOps.exif_transpose(sent)
                image.thumbnail((SIDE, SIDE), Image.Resampling.LANCZOS)
                image = _flattened(image)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        return None, f"the picture has far too many pixels; send one under {MAX_PIXELS // 1_000_000} million"
    except UnidentifiedImageError:
        return None, "it is not a JPEG, PNG, GIF or WebP picture"
    except (OSError, ValueError, SyntaxError):
        return None, "the picture could not be read (damaged or cut short)"
    out = io.BytesIO()
    for quality in (85, 70, 50):
        out = io.BytesIO()
        image.save(out, "JPEG", quality=quality, optimize=True)
        if out.tell() <= PICTURE_MAX_BYTES:
            return out.getvalue(), ""
    return None, "the picture is too detailed to keep"


def _flattened(image: Image.Image) -> Image.Image:
    """``image`` in RGB, transparent parts made white."""
    if image.mode in ("RGBA", "LA", "P", "PA"):
        rgba = image.convert("RGBA")
        back = Image.new("RGB", rgba.size, (255, 255, 255))
        back.paste(rgba, mask=rgba.getchannel("A"))
        return back
    return image.convert("RGB")
