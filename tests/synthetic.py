"""Synthetic audio and video (PyAV frames) for tests and benchmarks: no camera needed."""

from __future__ import annotations

import fractions
import math
import struct

import av
from aiortc import AudioStreamTrack, VideoStreamTrack

VIDEO_CLOCK = 90000
AUDIO_RATE = 48000
AUDIO_SAMPLES = 960  # 20 ms


class SyntheticVideo(VideoStreamTrack):
    """A moving bar on a grey field at 15 frames a second, so frames really change."""

    def __init__(self, width: int = 320, height: int = 240) -> None:
        super().__init__()
        self.width, self.height = width, height
        self.count = 0

    async def recv(self) -> av.VideoFrame:
        pts, time_base = await self.next_timestamp()
        frame = av.VideoFrame(self.width, self.height, "yuv420p")
        bar = (self.count * 8) % self.width
        row = bytes(200 if bar <= x < bar + 16 else 90 for x in range(self.width))
        luma = frame.planes[0]
        luma.update(
            row * self.height if luma.line_size == self.width else self._pad(row, luma.line_size)
        )
        for plane in frame.planes[1:]:
            plane.update(bytes([128]) * plane.buffer_size)
        frame.pts, frame.time_base = pts, time_base
        self.count += 1
        return frame

    def _pad(self, row: bytes, line_size: int) -> bytes:
        return (row + bytes(line_size - len(row))) * self.height


class SyntheticAudio(AudioStreamTrack):
    """A quiet 440 Hz tone in 20 ms frames."""

    def __init__(self) -> None:
        super().__init__()
        self.sample = 0

    async def recv(self) -> av.AudioFrame:
        await super().recv()  # paces the track like a real source
        samples = [
            int(3000 * math.sin(2 * math.pi * 440 * (self.sample + i) / AUDIO_RATE))
            for i in range(AUDIO_SAMPLES)
        ]
        frame = av.AudioFrame(format="s16", layout="mono", samples=AUDIO_SAMPLES)
        frame.planes[0].update(struct.pack(f"<{AUDIO_SAMPLES}h", *samples))
        frame.sample_rate = AUDIO_RATE
        frame.pts = self.sample
        frame.time_base = fractions.Fraction(1, AUDIO_RATE)
        self.sample += AUDIO_SAMPLES
        return frame
