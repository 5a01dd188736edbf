"""Videos through imageio-ffmpeg (its wheel ships an ffmpeg binary).

One ffmpeg process decodes to 8- or 16-bit gray and is kept open at its
position, so sequential reads cost one frame each; a jump backwards or far
forwards restarts it with a seek (fast keyframe seek, then an exact decode of
the last few seconds, as imageio does). The frame count is the number of
video packets (``ffmpeg -c copy``: no decoding, fast even for long videos).
"""
from __future__ import annotations

import logging
import re
import subprocess
from typing import Optional

import numpy as np

from ..errors import DislocError
from .dataset import to_gray_float
from .source import FrameReadError, FrameSource

log = logging.getLogger(__name__)

# Forward jumps up to this many frames decode through instead of seeking.
MAX_SKIP = 100
# Decode the last seconds before a seek target exactly (keyframe seeks can land early/late).
SLOW_SEEK_S = 10.0


class VideoSource(FrameSource):
    """Frames of a video file, decoded on demand."""

    kind = "video"

    def __init__(self, path) -> None:
        super().__init__(path)
        import imageio_ffmpeg

        self._ff = imageio_ffmpeg
        self._exe = imageio_ffmpeg.get_ffmpeg_exe()
        meta, n_packets, header_frames = self._probe()
        w, h = meta["size"]
        self.shape = (int(h), int(w))
        fps = float(meta.get("fps") or 0.0)
        self.fps = fps if fps > 0 else None
        self._high_bit = bool(re.search(r"(1[0-6])(le|be)", meta.get("pix_fmt", "")))
        self._pix_fmt, self._bits = ("gray16le", 16) if self._high_bit else ("gray", 8)
        self._n = n_packets
        if header_frames is not None and header_frames > n_packets + 1:
            self._warn(f"{self.path}: the header announces about {header_frames} frames but the file holds "
                       f"{n_packets} (truncated file?); frames {n_packets}.. are missing")
        self._gen = None
        self._pos = -1  # index of the frame last returned by the open decoder
        self._eof_at: Optional[int] = None  # first index known to be unreadable (decoder ran dry)
        self._cache: Optional[tuple[int, np.ndarray]] = None

    def _probe(self) -> tuple[dict, int, Optional[int]]:
        cmd = [self._exe, "-hide_banner", "-nostdin", "-i", str(self.path), "-map", "0:v:0", "-c", "copy",
               "-f", "null", "-"]
        try:
            r = subprocess.run(cmd, capture_output=True, timeout=600)
        except (OSError, subprocess.TimeoutExpired) as e:
            raise DislocError(f"{self.path}: cannot run ffmpeg to read the video ({e})") from None
        text = r.stderr.decode("utf-8", errors="replace")
        if "Stream #" not in text or "Video:" not in text:
            reason = _last_error_line(text) or "no video stream"
            raise DislocError(f"{self.path}: not a readable video ({reason}); the file may be damaged or truncated")
        meta = _parse_header(text)
        if meta is None:
            raise DislocError(f"{self.path}: cannot understand the video header; convert it to MP4 or a TIFF stack")
        frames = re.findall(r"frame=\s*(\d+)", text)
        n = int(frames[-1]) if frames else 0
        header_frames = None
        if meta.get("fps") and meta.get("duration"):
            header_frames = int(round(float(meta["duration"]) * float(meta["fps"])))
        return meta, n, header_frames

    # -- decoding -----------------------------------------------------------
    def _start(self, index: int) -> None:
        self._stop_decoder()
        iargs: list[str] = []
        oargs: list[str] = []
        if index > 0:
            if not self.fps:
                raise FrameReadError(self.path, index, "the video has no frame rate, so it cannot seek")
            # Aim a tenth of a frame early so rounding of timestamps never skips the target.
            t = max(0.0, (index - 0.1) / self.fps)
            slow = min(SLOW_SEEK_S, t)
            iargs += ["-ss", f"{t - slow:.6f}"]
            oargs += ["-ss", f"{slow:.6f}"]
        try:
            self._gen = self._ff.read_frames(str(self.path), pix_fmt=self._pix_fmt, bits_per_pixel=self._bits,
                                             input_params=["-nostdin"] + iargs, output_params=oargs)
            next(self._gen)  # metadata
        except (OSError, RuntimeError, StopIteration) as e:
            self._stop_decoder()
            raise FrameReadError(self.path, index, f"ffmpeg failed: {_short(e)}") from None
        self._pos = index - 1

    def _next(self, index: int) -> np.ndarray:
        try:
            buf = next(self._gen)
        except StopIteration:
            self._stop_decoder()
            self._eof_at = index if self._eof_at is None else min(self._eof_at, index)
            raise FrameReadError(self.path, index, "the decoder found no more frames (truncated or damaged file)") from None
        except RuntimeError as e:
            self._stop_decoder()
            raise FrameReadError(self.path, index, _short(e)) from None
        self._pos += 1
        dtype = np.uint16 if self._bits == 16 else np.uint8
        return np.frombuffer(buf, dtype=dtype).reshape(self.shape)

    def _read(self, index: int) -> np.ndarray:
        if self._cache is not None and self._cache[0] == index:
            return self._cache[1]
        if self._eof_at is not None and index >= self._eof_at:
            raise FrameReadError(self.path, index, f"the file ends after frame {self._eof_at - 1} (truncated?)")
        if self._gen is None or index <= self._pos or index > self._pos + MAX_SKIP:
            self._start(index)
        while self._pos < index - 1:
            self._next(self._pos + 1)
        frame = to_gray_float(self._next(index))
        self._cache = (index, frame)
        return frame

    def _stop_decoder(self) -> None:
        if self._gen is not None:
            gen, self._gen = self._gen, None
            gen.close()  # terminates the ffmpeg process
        self._pos = -1

    def close(self) -> None:
        with self._lock:
            self._stop_decoder()
            self._cache = None

    def __del__(self) -> None:
        try:
            self._stop_decoder()
        except Exception:  # interpreter shutdown: nothing left to clean
            pass


def _parse_header(text: str) -> Optional[dict]:
    """Size, frame rate, pixel format and duration of the first video stream from ffmpeg's log."""
    line = next((ln for ln in text.splitlines() if ln.lstrip().startswith("Stream #") and "Video:" in ln), None)
    if line is None:
        return None
    desc = line.split("Video:", 1)[1]
    parts = re.split(r",\s*(?![^()]*\))", desc)  # commas outside parentheses
    size = re.search(r"\b(\d{1,6})x(\d{1,6})\b", desc)
    if size is None:
        return None
    fps = re.search(r"([0-9.]+)(k?) fps", desc) or re.search(r"([0-9.]+)(k?) tbr", desc)
    meta = {"size": (int(size.group(1)), int(size.group(2))), "pix_fmt": parts[1].strip() if len(parts) > 1 else "",
            "fps": float(fps.group(1)) * (1000 if fps.group(2) else 1) if fps else 0.0, "duration": 0.0}
    dur = re.search(r"Duration:\s*(\d+):(\d+):(\d+(?:\.\d+)?)", text)
    if dur:
        meta["duration"] = int(dur.group(1)) * 3600 + int(dur.group(2)) * 60 + float(dur.group(3))
    return meta


def _last_error_line(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    for ln in reversed(lines):
        if "rror" in ln or "not found" in ln or "Invalid" in ln:
            return re.sub(r"^\[[^\]]*\]\s*", "", ln)
    return lines[-1] if lines else ""


def _short(e: Exception) -> str:
    text = str(e)
    first = text.splitlines()[0] if text else type(e).__name__
    err = _last_error_line(text.split("=== stderr ===")[-1]) if "stderr" in text else ""
    return f"{first} {err}".strip()
