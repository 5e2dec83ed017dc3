"""G.711 on both implementations: ITU vectors, the stdlib C codec, and round trips."""

from __future__ import annotations

import array
import importlib
import os
import random
import subprocess
import sys
import warnings
from types import ModuleType

import pytest
from hypothesis import given
from hypothesis import strategies as st

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop  # the C reference (stdlib up to 3.12; audioop-lts after)

IMPLEMENTATIONS = ["recorder._g711_py", "recorder._g711_c"]


@pytest.fixture(params=IMPLEMENTATIONS, ids=["python", "cython"])
def g711(request: pytest.FixtureRequest) -> ModuleType:
    return importlib.import_module(request.param)


def pcm(*samples: int) -> bytes:
    return array.array("h", samples).tobytes()


def samples(data: bytes) -> list[int]:
    return list(array.array("h", data))


# Known values from G.711 (decoder output as the reference code scales it to 16 bits).
ULAW_VECTORS = {0xFF: 0, 0x7F: 0, 0x80: 32124, 0x00: -32124, 0xF0: 120, 0x70: -120, 0xEF: 132}
ALAW_VECTORS = {0xD5: 8, 0x55: -8, 0xAA: 32256, 0x2A: -32256, 0xD4: 24, 0xC5: 264}


def test_ulaw_known_vectors(g711: ModuleType) -> None:
    for code, value in ULAW_VECTORS.items():
        assert samples(g711.ulaw_decode(bytes([code]))) == [value], hex(code)


def test_alaw_known_vectors(g711: ModuleType) -> None:
    for code, value in ALAW_VECTORS.items():
        assert samples(g711.alaw_decode(bytes([code]))) == [value], hex(code)


def test_decoders_match_the_c_reference_on_every_code(g711: ModuleType) -> None:
    every = bytes(range(256))
    assert g711.ulaw_decode(every) == audioop.ulaw2lin(every, 2)
    assert g711.alaw_decode(every) == audioop.alaw2lin(every, 2)


def test_encoders_match_the_c_reference_on_every_sample(g711: ModuleType) -> None:
    every = array.array("h", range(-32768, 32768)).tobytes()
    assert g711.ulaw_encode(every) == audioop.lin2ulaw(every, 2)
    assert g711.alaw_encode(every) == audioop.lin2alaw(every, 2)


def test_decode_then_encode_is_identity_on_canonical_codes(g711: ModuleType) -> None:
    # 0x7F (negative zero) encodes back as 0xFF; every other mu-law code round-trips.
    codes = bytes(c for c in range(256) if c != 0x7F)
    assert g711.ulaw_encode(g711.ulaw_decode(codes)) == codes
    every = bytes(range(256))
    assert g711.alaw_encode(g711.alaw_decode(every)) == every


def test_empty_and_odd_input(g711: ModuleType) -> None:
    assert g711.ulaw_decode(b"") == b""
    assert g711.ulaw_encode(b"") == b""
    with pytest.raises(ValueError, match="even number of bytes"):
        g711.ulaw_encode(b"\x00\x01\x02")
    with pytest.raises(ValueError, match="even number of bytes"):
        g711.alaw_encode(b"\x00")


def test_accepts_any_bytes_like(g711: ModuleType) -> None:
    data = bytes(range(16))
    assert g711.ulaw_decode(bytearray(data)) == g711.ulaw_decode(memoryview(data))


@given(st.binary(max_size=2048))
def test_both_implementations_agree_on_random_input(data: bytes) -> None:
    py, c = (importlib.import_module(m) for m in IMPLEMENTATIONS)
    assert py.ulaw_decode(data) == c.ulaw_decode(data)
    assert py.alaw_decode(data) == c.alaw_decode(data)
    even = data[: len(data) // 2 * 2]
    assert py.ulaw_encode(even) == c.ulaw_encode(even)
    assert py.alaw_encode(even) == c.alaw_encode(even)


def test_quantization_error_is_bounded_on_a_random_signal() -> None:
    from recorder import g711

    rng = random.Random(7)
    sig = [rng.randint(-30000, 30000) for _ in range(4000)]
    back = samples(g711.ulaw_decode(g711.ulaw_encode(pcm(*sig))))
    for x, y in zip(sig, back, strict=True):
        # the reference truncates to the segment step: at most one step, <= 1/8 of x
        assert abs(x - y) <= max(32, abs(x) // 8)


def test_the_selector_honours_the_pure_python_switch() -> None:
    code = "from recorder import g711; print(g711.IMPLEMENTATION)"
    env = {**os.environ, "CCBOX_PURE_PYTHON": "1"}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "python"
    env.pop("CCBOX_PURE_PYTHON")
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "cython"  # the build must have produced the extension
