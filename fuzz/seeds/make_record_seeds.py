"""Writes seeds/record_decode/: valid idempotency records in the layout of hookguard-tower's `Record`."""
import pathlib
import struct

out = pathlib.Path(__file__).parent / "record_decode"
out.mkdir(exist_ok=True)
fp = bytes(range(32))
in_progress = b"\x01\x01" + fp + bytes([0xAB] * 16) + struct.pack(">q", 1_700_000_000_000)
headers = [(b"content-type", b"application/json"), (b"link", b"<a>"), (b"link", b"<b>")]
response = struct.pack(">HB", 201, len(headers))
for name, value in headers:
    response += struct.pack(">B", len(name)) + name + struct.pack(">H", len(value)) + value
completed = b"\x01\x02" + fp + struct.pack(">q", 1_700_000_360_000) + response + b'{"ok":true}'
empty_204 = b"\x01\x02" + fp + struct.pack(">q", 0) + struct.pack(">HB", 204, 0)
for name, value in [("in_progress", in_progress), ("completed", completed), ("empty_204", empty_204)]:
    (out / name).write_bytes(value)
