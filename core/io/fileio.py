"""Atomic file writes: write next to the target, then rename.

A crash or a full disk in the middle of a save leaves the previous file
intact and never a half-written one under the final name.
"""
from __future__ import annotations

import errno
import io
import json
import os
import re
import struct
import tempfile
import zipfile
import zlib
from pathlib import Path
from typing import Any, Optional, Union

import numpy as np

PathLike = Union[str, os.PathLike]


def atomic_write_bytes(path: PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (same-directory temp file + rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        # mkstemp makes the file private (0600); give it the permissions a
        # plain open() would, so colleagues and other tools can read results.
        os.fchmod(fd, 0o666 & ~_UMASK)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def _read_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# Read once at import: os.umask can only be read by setting it, which is not
# safe while other threads create files.
_UMASK = _read_umask()


def atomic_write_text(path: PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: PathLike, obj: Any, depth: Optional[int] = None) -> None:
    """Save ``obj`` as JSON, atomically: indented by 2, or with ``depth`` by :func:`json_lines`."""
    text = json.dumps(obj, indent=2, sort_keys=False) if depth is None else json_lines(obj, depth)
    atomic_write_text(path, text + "\n")


def json_lines(obj: Any, depth: int, _indent: str = "") -> str:
    """JSON indented by 2 for the outer ``depth`` levels of objects and lists, each deeper value on one line.

    Reads back as :func:`json.dumps` would; written by the C encoder, several
    times faster than ``indent=2`` (which encodes in Python) on records with
    long lists of numbers, and shorter.
    """
    if depth <= 0 or not isinstance(obj, (dict, list)) or not obj \
            or (isinstance(obj, dict) and not all(isinstance(k, str) for k in obj)):
        return json.dumps(obj)
    inner = _indent + "  "
    if isinstance(obj, dict):
        items = [f"{inner}{json.dumps(str(k))}: {json_lines(v, depth - 1, inner)}" for k, v in obj.items()]
        return "{\n" + ",\n".join(items) + "\n" + _indent + "}"
    return "[\n" + ",\n".join(inner + json_lines(v, depth - 1, inner) for v in obj) + "\n" + _indent + "]"


def atomic_write_png(path: PathLike, image: np.ndarray, noisy: bool = False) -> None:
    """Save an 8/16-bit gray or RGB(A) array as PNG, atomically.

    Compression level 1: files barely larger, written 2-3x faster (dataset
    writing is dominated by PNG compression). 8-bit arrays go to Pillow
    directly (the same bytes as through imageio, a few ms sooner); with
    ``noisy`` (micrographs, synthetic images) 8-bit gray ones are encoded by
    :func:`png_gray8`, 3x faster still.
    """
    image = np.asarray(image)
    if noisy and image.dtype == np.uint8 and image.ndim == 2 and image.size:
        buf = png_gray8(image)
    elif image.dtype == np.uint8 and (image.ndim == 2 or (image.ndim == 3 and image.shape[2] in (3, 4))):
        from PIL import Image

        out = io.BytesIO()
        Image.fromarray(np.ascontiguousarray(image)).save(out, format="PNG", compress_level=1)
        buf = out.getvalue()
    else:
        import imageio.v3 as iio

        buf = iio.imwrite("<bytes>", image, extension=".png", compress_level=1)
    atomic_write_bytes(path, buf)


def _png_chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)


def png_gray8(image: np.ndarray) -> bytes:
    """A standard 8-bit gray PNG of ``image`` (H, W) uint8, encoded fast.

    Every row with the PNG "Up" filter (difference to the row above) and the
    deflate stream run-length only (zlib ``Z_RLE``): on noisy micrographs
    and synthetic images as small as Pillow's adaptive filters at level 1,
    and 3-4x faster to write (drawings with repeating patterns compress
    far worse). Any PNG reader reads it.
    """
    h, w = image.shape
    rows = np.empty((h, w + 1), np.uint8)
    rows[:, 0] = 2  # filter type Up
    rows[0, 1:] = image[0]
    np.subtract(image[1:], image[:-1], out=rows[1:, 1:])  # modulo 256
    z = zlib.compressobj(1, zlib.DEFLATED, 15, 9, zlib.Z_RLE)
    idat = z.compress(rows.tobytes()) + z.flush()
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
            + _png_chunk(b"IDAT", idat) + _png_chunk(b"IEND", b""))


def output_error(e: OSError, folder: PathLike, option: str = "--out"):
    """One clear :class:`~core.errors.DislocError` for a failed write into our own output ``folder``.

    Every job that writes results turns an ``OSError`` there into this, so
    a full disk, a read-only folder or a missing drive gives one line that
    names the folder and says what to do, never a traceback. ``option``
    names the setting that chose the folder (``--out``, ``DIR``).
    """
    from ..errors import DislocError

    what = e.strerror or str(e) or type(e).__name__
    name = Path(str(e.filename)).name if e.filename else ""
    name = re.sub(r"^\.(.+)\.[^.]+\.tmp$", r"\1", name)  # the file an atomic write was making, not its temp file
    if name and name != Path(str(folder)).name:
        what = f"{what}: {name}"
    if e.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", -1)):
        return DislocError(f"{folder}: disk full ({what}); what was finished is kept: free some space and run the "
                           "same command again to resume")
    if e.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return DislocError(f"{folder}: cannot write there ({what}): the folder is read-only or not yours; make it "
                           f"writable, or choose another {option}")
    return DislocError(f"{folder}: cannot write results ({what}); check the folder, or choose another {option}")


TIFF_EXTS = (".tif", ".tiff")


def read_image_pixels(path: PathLike) -> np.ndarray:
    """An image file's pixels as stored: a TIFF's first page (tifffile), PNG, JPEG, BMP and the like through Pillow.

    Raises FileNotFoundError, or OSError whose text says what is wrong
    with the file. Naming the reader keeps imageio from trying each of its
    plugins on a damaged file and then suggesting plugins to install.
    """
    p = Path(path)
    if p.suffix.lower() in TIFF_EXTS:
        import tifffile

        return tifffile.imread(p, key=0)
    import imageio.v3 as iio
    from imageio.core.request import InitializationError

    try:
        return iio.imread(p, plugin="pillow")
    except OSError as e:
        if isinstance(e.__cause__, InitializationError):  # Pillow did not recognise the file
            kind = p.suffix.lstrip(".").upper() or "image"
            raise OSError(f"the file is empty, damaged or not a {kind} image") from None
        raise


def atomic_write_npz(path: PathLike, level: Optional[int] = None, **arrays: np.ndarray) -> None:
    """Save arrays as a compressed ``.npz``, atomically; ``level``: the deflate level (default as numpy's, 6)."""
    buf = io.BytesIO()
    if level is None:
        np.savez_compressed(buf, **arrays)
    else:  # what savez_compressed writes, at another level (1: 2x faster, files a little larger)
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=level) as zf:
            for name, arr in arrays.items():
                with zf.open(name + ".npy", "w", force_zip64=True) as f:
                    np.lib.format.write_array(f, np.asanyarray(arr), allow_pickle=False)
    atomic_write_bytes(path, buf.getvalue())


def read_json(path: PathLike) -> Any:
    """Read JSON, turning syntax errors into a message that names the file."""
    return read_json_text(path)[0]


def read_json_text(path: PathLike) -> tuple[Any, str]:
    """(parsed JSON, the text as read): for writers that keep a file's own layout."""
    from ..errors import DislocError

    path = Path(path)
    try:
        with open(path, "r", encoding="utf-8") as f:
            text = f.read()
        return json.loads(text), text
    except FileNotFoundError:
        raise DislocError(f"{path}: file not found") from None
    except json.JSONDecodeError as e:
        raise DislocError(f"{path}: not valid JSON (line {e.lineno}, column {e.colno}: {e.msg})") from None
    except RecursionError:
        raise DislocError(f"{path}: not valid JSON (nested too deeply)") from None
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise DislocError(f"{path}: cannot be read ({e})") from None
