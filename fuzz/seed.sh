#!/bin/sh
# Writes seed corpora for every target to fuzz/corpus/<target>/ from the APDUs of the c104
# session (/work/shared/vectors/c104-session.jsonl, override with $1). The corpus directory
# is git-ignored: run this once before fuzzing.
set -eu
cd "$(dirname "$0")"
VECTORS="${1:-/work/shared/vectors/c104-session.jsonl}"
python3 - "$VECTORS" <<'PY'
import json, os, sys

apdus = []
segments = []
for line in open(sys.argv[1]):
    rec = json.loads(line)
    seg = [bytes.fromhex(h) for h in rec["apdus"]]
    segments.append((rec["direction"], seg))
    apdus += seg

def write(target, name, data):
    d = os.path.join("corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)

for i, a in enumerate(apdus):
    # apci: one frame.
    write("apci", f"c104-{i:03}", a)
    # asdu: selector 0x00 (IEC 104 sizes), then the ASDU of each I frame.
    if len(a) > 6 and a[2] & 1 == 0:
        write("asdu", f"c104-{i:03}", b"\x00" + a[6:])
# apdu_stream: each TCP segment with a few chunkings, and the whole session.
for i, (_, seg) in enumerate(segments):
    for sel in (0x00, 0x05, 0x7F, 0x80):
        write("apdu_stream", f"c104-{i:03}-{sel:02x}", bytes([sel]) + b"".join(seg))
write("apdu_stream", "c104-session", b"\x03" + b"".join(apdus))

# link: the controlling station's view of the session. Config octets (see
# fuzz_targets/link.rs): mode 0 (one link, peer driven by the input), role controlling,
# k 12, w 8, queue 16, auto release; then op 0x00 (raw frame: length octet, frame) for
# every frame the RTU sent, with a transmit drain (0x07) after each.
cfg = bytes([0x00, 0x00, 11, 7, 15, 0x01])
ops = bytearray(b"\x01\x07")  # start, drain (STARTDT act)
for direction, seg in segments:
    if direction == "rtu->master":
        for a in seg:
            ops += bytes([0x00, len(a)]) + a + b"\x07"
write("link", "c104-master", cfg + bytes(ops))
PY
echo "seeded: $(ls corpus/apci | wc -l) apci, $(ls corpus/asdu | wc -l) asdu, $(ls corpus/apdu_stream | wc -l) apdu_stream, $(ls corpus/link | wc -l) link"
