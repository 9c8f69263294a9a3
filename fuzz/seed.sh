#!/bin/sh
# Writes seed corpora for every target to fuzz/corpus/<target>/ from the APDUs of the c104
# session (the copy in crates/iec104/tests/data/, override with $1). The corpus directory
# is git-ignored: run this once before fuzzing.
set -eu
cd "$(dirname "$0")"
VECTORS="${1:-../crates/iec104/tests/data/c104-session.jsonl}"
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

# link (layout in fuzz_targets/link.rs): config [mode, role, k-1, w, queue-1, flags].
# 1. The controlling station's side of the session: start, drain (STARTDT act), then every
#    frame the RTU sent: U frames raw (op 0x00, length, frame), I frames as well-formed I
#    frames carrying the session's ASDU (op 0x04, length, ASDU), S frames acknowledging all
#    (op 0x05), each followed by a drain (0x07) and a time step (0x09, 100 ms).
cfg = bytes([0x00, 0x00, 11, 7, 15, 0x01])
for name, flags in (("c104-master", 0x01), ("c104-master-noauto", 0x00)):
    ops = bytearray(b"\x01\x07")
    for direction, seg in segments:
        if direction != "rtu->master":
            continue
        for a in seg:
            if a[2] & 1 == 0:
                ops += bytes([0x04, len(a) - 6]) + a[6:]
            elif a[2] & 3 == 1:
                ops += b"\x05"
            else:
                ops += bytes([0x00, len(a)]) + a
            ops += b"\x07\x09\x01\x0a\xff"
    write("link", name, cfg[:5] + bytes([flags]) + bytes(ops))
# 2. The controlled station: STARTDT act, interrogation, its own data, acks, STOPDT.
ops = bytes([0x00, 6, 0x68, 4, 0x07, 0, 0, 0, 0x07, 0x04, 0, 0x07])
ops += bytes([0x03, 20, 0x03, 30, 0x07, 0x05, 0x07, 0x09, 0x64, 0x07, 0x08, 2, 0x07, 0x09, 0xC8])
write("link", "controlled", bytes([0x00, 0x01, 11, 7, 15, 0x03]) + ops)
# 3. Back to back: start, data both ways, time, stop, restart.
ops = bytes([0x00, 0x07, 0x08, 0x02, 10, 0x03, 20, 0x03, 40, 0x07, 0x08, 0x04, 50, 0x06, 0, 0x05, 0,
             0x04, 200, 0x01, 0x07, 0x08, 0x04, 10, 0x00, 0x04, 1])
write("link", "pair", bytes([0x01, 0x00, 2, 1, 3, 0x03]) + ops)
write("link", "pair-noauto", bytes([0x01, 0x00, 2, 1, 3, 0x00]) + ops)
# 4. Sequence numbers wrapping around 2^15: mode 0xAA/0xAB runs a prelude of 32760
#    exchanges, then these operations carry N(S)/N(R) across 32767 -> 0.
ops = bytes([0x03, 5, 0x07, 0x04, 0, 0x05, 0x0A, 0] * 16)
write("link", "wrap-single", bytes([0xAA, 0x01, 11, 7, 15, 0x01]) + ops)
write("link", "wrap-single-noauto", bytes([0xAA, 0x00, 11, 7, 15, 0x00]) + ops)
ops = bytes([0x02, 5, 0x03, 6, 0x07, 0x08, 0x05, 0, 0x06, 0] * 16 + [0x04, 200])
write("link", "wrap-pair", bytes([0xAB, 0x00, 11, 7, 15, 0x01]) + ops)
write("link", "wrap-pair-noauto", bytes([0xAB, 0x00, 11, 7, 15, 0x00]) + ops)
# json_command: command requests as the gateway receives them over MQTT (docs/json.md).
for name, text in (
    ("dc", '{"type":"C_DC_NA_1","value":"on","select":true,"id":"op-17"}'),
    ("se", '{"type":"c_se_nc_1","value":1.5e3,"ql":3,"time":"2026-11-24T10:15:30.123Z","ca":47,"ioa":1193046}'),
    ("bo", '{"type":"C_BO_TA_1","value":"0x01020304","time":true}'),
    ("sc", '{"type":"C_SC_NA_1","value":1,"qu":31}'),
    ("rc", '{"type":"C_RC_TA_1","value":"higher"}'),
    ("sena", '{"type":"C_SE_NA_1","value":-1.0}'),
    ("senb", '{"type":"C_SE_NB_1","value":-32768}'),
    ("notcmd", '{"type":"M_SP_NA_1","value":true}'),
):
    write("json_command", name, text.encode())
PY
echo "seeded: $(ls corpus/apci | wc -l) apci, $(ls corpus/asdu | wc -l) asdu, $(ls corpus/apdu_stream | wc -l) apdu_stream, $(ls corpus/link | wc -l) link, $(ls corpus/json_command | wc -l) json_command"
