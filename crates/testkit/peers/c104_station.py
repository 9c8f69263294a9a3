#!/usr/bin/env python3
"""THE c104 (lib60870-C) controlled station of the tests (the iec104 crate's interop tests, the
iec104 CLI's tests): one script, parametrised.

Usage: c104_station.py PORT COMMON_ADDRESS EXPECTED_JSON_PATH [T3_SECONDS] [--only IOA,IOA,...]

--only serves just the listed monitor points (all command points are always served).

Serves one or more points of every monitor-direction type c104 can serve, with edge values,
quality bits and a fixed CP56Time2a time tag (2026-11-24 10:15:30.123 UTC), plus command points.
Writes the description of what it was TOLD to serve to EXPECTED_JSON_PATH (so the Rust test
compares its decoder against the values given to c104, not against its own encoder), then prints
"READY <port>" on stdout. Afterwards one JSON line per received command ("CMD {...}").

Commands served:
- C_SC_NA_1 at IOA 4501 (direct): "transmit everything spontaneously" trigger — every monitor
  point is sent once with COT spont (types c104 leaves out of interrogations included).
- C_SC_NA_1 at IOA 4502 (direct): burst trigger — the scaled point at IOA 1199 (value 0 until
  then) is sent BURST times with COT spont, values 1..=BURST in order (BURST = 90, below c104's
  queue of 100 so c104 itself drops nothing). Then "BURST_DONE 90" on stdout.
- C_DC_NA_1 at IOA 4601 (select-before-operate).
- C_SE_NA_1 4801, C_SE_NB_1 4901, C_SE_NC_1 5001 (direct).
- C_SC_NA_1 at IOA 4701 (direct): refused (the callback answers FAILURE: a negative ActCon).

T3_SECONDS (default 20, c104's default) sets t3: after that long without a frame the server sends
TESTFR act (used by the link supervision interop test).

The process exits when stdin reaches end-of-file, so a killed test never leaves it running.
"""
import argparse
import datetime
import json
import queue
import sys
import threading

import c104

T = datetime.datetime(2026, 11, 24, 10, 15, 30, 123000, tzinfo=datetime.timezone.utc)
T_JSON = {
    "iso": "2026-11-24T10:15:30.123Z",
    "millis": 30123, "minute": 15, "hour": 10, "day": 24, "month": 11, "year": 26,
    "invalid": False, "summer_time": False,
}

Q = c104.Quality
BQ = c104.BinaryCounterQuality
QUALITY_NAMES = [
    (Q.Invalid, "IV"), (Q.NonTopical, "NT"), (Q.Substituted, "SB"), (Q.Blocked, "BL"),
    (Q.Overflow, "OV"), (Q.ElapsedTimeInvalid, "EI"),
]
COUNTER_QUALITY_NAMES = [(BQ.Invalid, "IV"), (BQ.Adjusted, "CA"), (BQ.Carry, "CY")]


def qnames(quality, table):
    """Names of the bits set in a c104 quality, in the table's order."""
    return [name for bit, name in table if (quality.value & bit.value) != 0]


def q(*bits):
    result = Q()
    for bit in bits:
        result = result | bit
    return result


def bq(*bits):
    result = BQ()
    for bit in bits:
        result = result | bit
    return result


# (ioa, type name, c104 info factory(time or None), JSON value, quality names)
# Types c104 includes in a station interrogation answer (COT 20): 1, 3, 5, 7, 9, 11, 13, 30..36.
# In a counter interrogation (COT 37): 15, 37. Only spontaneously: 20, 21, 38, 39, 40.
def point_table():
    pts = []

    def add(ioa, tname, make, value, quality, qtable=QUALITY_NAMES):
        pts.append((ioa, tname, make, value, qnames(quality, qtable) if quality is not None else []))

    # Single points (SIQ): SPI + BL/SB/NT/IV.
    for ioa, on, qual in [(101, True, q()), (102, False, q(Q.Invalid, Q.NonTopical, Q.Substituted, Q.Blocked)),
                          (0x123456, True, q())]:
        add(ioa, "M_SP_NA_1", lambda t, on=on, qual=qual: c104.SingleInfo(on=on, quality=qual, recorded_at=t), on, qual)
    add(3001, "M_SP_TB_1", lambda t: c104.SingleInfo(on=True, quality=q(Q.Substituted), recorded_at=t), True, q(Q.Substituted))
    # Double points (DIQ): 0 intermediate, 1 off, 2 on, 3 indeterminate.
    for ioa, state, val, qual in [(301, c104.Double.ON, 2, q()), (302, c104.Double.INDETERMINATE, 3, q(Q.Invalid)),
                                  (303, c104.Double.INTERMEDIATE, 0, q(Q.NonTopical))]:
        add(ioa, "M_DP_NA_1", lambda t, s=state, qual=qual: c104.DoubleInfo(state=s, quality=qual, recorded_at=t), val, qual)
    add(3101, "M_DP_TB_1", lambda t: c104.DoubleInfo(state=c104.Double.OFF, quality=q(Q.Blocked), recorded_at=t), 1, q(Q.Blocked))
    # Step positions (VTI + QDS): 7-bit two's complement -64..63, transient bit.
    for ioa, pos, tr, qual in [(501, -64, True, q()), (502, 63, False, q(Q.Overflow))]:
        add(ioa, "M_ST_NA_1", lambda t, pos=pos, tr=tr, qual=qual: c104.StepInfo(state=c104.Int7(pos), transient=tr, quality=qual, recorded_at=t),
            {"position": pos, "transient": tr}, qual)
    add(3201, "M_ST_TB_1", lambda t: c104.StepInfo(state=c104.Int7(0), transient=True, quality=q(Q.Invalid), recorded_at=t),
        {"position": 0, "transient": True}, q(Q.Invalid))
    # Bitstrings (BSI + QDS): the value is the four octets in transmission order.
    # c104 2.2.1 always sends QDS = 0 for bitstrings whatever quality it is given (seen on the
    # wire), so these points carry no quality bits.
    for ioa, octets, qual in [(701, "01020304", q()), (702, "ffffffff", q())]:
        add(ioa, "M_BO_NA_1", lambda t, o=octets, qual=qual: c104.BinaryInfo(blob=c104.Byte32(bytes.fromhex(o)), quality=qual, recorded_at=t),
            {"octets": octets}, qual)
    add(3301, "M_BO_TB_1", lambda t: c104.BinaryInfo(blob=c104.Byte32(bytes.fromhex("80000001")), quality=q(), recorded_at=t),
        {"octets": "80000001"}, q())
    # Normalized values (NVA): -1.0 .. 1 - 2^-15.
    for ioa, v, qual in [(901, -1.0, q()), (902, 0.999, q(Q.Overflow)), (903, 0.0, q(Q.Blocked, Q.Substituted))]:
        add(ioa, "M_ME_NA_1", lambda t, v=v, qual=qual: c104.NormalizedInfo(actual=c104.NormalizedFloat(v), quality=qual, recorded_at=t), v, qual)
    add(3401, "M_ME_TD_1", lambda t: c104.NormalizedInfo(actual=c104.NormalizedFloat(0.5), quality=q(Q.Invalid), recorded_at=t), 0.5, q(Q.Invalid))
    add(2101, "M_ME_ND_1", lambda t: c104.NormalizedInfo(actual=c104.NormalizedFloat(-0.25), recorded_at=t), -0.25, None)
    # Scaled values (SVA).
    for ioa, v, qual in [(1101, -32768, q()), (1102, 32767, q(Q.Overflow))]:
        add(ioa, "M_ME_NB_1", lambda t, v=v, qual=qual: c104.ScaledInfo(actual=c104.Int16(v), quality=qual, recorded_at=t), v, qual)
    # The burst point (see BURST): value 0 until the burst trigger.
    add(BURST_IOA, "M_ME_NB_1", lambda t: c104.ScaledInfo(actual=c104.Int16(0), recorded_at=t), 0, q())
    add(3501, "M_ME_TE_1", lambda t: c104.ScaledInfo(actual=c104.Int16(-1), quality=q(Q.NonTopical), recorded_at=t), -1, q(Q.NonTopical))
    # Short floats (IEEE 754 single).
    for ioa, v, qual in [(1301, 3.4e38, q()), (1302, -0.0015, q(Q.Invalid, Q.Overflow)), (1303, 21.5, q())]:
        add(ioa, "M_ME_NC_1", lambda t, v=v, qual=qual: c104.ShortInfo(actual=v, quality=qual, recorded_at=t), v, qual)
    add(3601, "M_ME_TF_1", lambda t: c104.ShortInfo(actual=-3.4e38, quality=q(Q.Substituted), recorded_at=t), -3.4e38, q(Q.Substituted))
    # Integrated totals (BCR): i32 counter, sequence 0..31, CY/CA/IV.
    for ioa, c, s, qual in [(1501, -2147483648, 31, bq()), (1502, 2147483647, 0, bq(BQ.Carry, BQ.Adjusted, BQ.Invalid))]:
        add(ioa, "M_IT_NA_1", lambda t, c=c, s=s, qual=qual: c104.BinaryCounterInfo(counter=c, sequence=c104.UInt5(s), quality=qual, recorded_at=t),
            {"counter": c, "sequence": s}, qual, COUNTER_QUALITY_NAMES)
    add(3701, "M_IT_TB_1", lambda t: c104.BinaryCounterInfo(counter=123456789, sequence=c104.UInt5(7), quality=bq(BQ.Carry), recorded_at=t),
        {"counter": 123456789, "sequence": 7}, bq(BQ.Carry), COUNTER_QUALITY_NAMES)
    # Packed single points with status change detection (SCD + QDS).
    add(2001, "M_PS_NA_1",
        lambda t: c104.StatusAndChanged(status=c104.PackedSingle.I0 | c104.PackedSingle.I15, changed=c104.PackedSingle.I1,
                                        quality=q(Q.NonTopical), recorded_at=t),
        {"status": 0x8001, "changed": 0x0002}, q(Q.NonTopical))
    # Protection equipment events with CP56Time2a (SEP/SPE/OCI + CP16Time2a).
    add(3801, "M_EP_TD_1",
        lambda t: c104.ProtectionEventInfo(state=c104.EventState.ON, elapsed_ms=c104.UInt16(65535), quality=q(Q.ElapsedTimeInvalid), recorded_at=t),
        {"state": 2, "elapsed_ms": 65535}, q(Q.ElapsedTimeInvalid))
    add(3901, "M_EP_TE_1",
        lambda t: c104.ProtectionStartInfo(events=c104.StartEvents.General | c104.StartEvents.ReverseDirection, relay_duration_ms=c104.UInt16(1000),
                                           quality=q(Q.Blocked), recorded_at=t),
        {"events": 0x21, "duration_ms": 1000}, q(Q.Blocked))
    add(4001, "M_EP_TF_1",
        lambda t: c104.ProtectionCircuitInfo(events=c104.OutputCircuits.General | c104.OutputCircuits.PhaseL3, relay_duration_ms=c104.UInt16(0),
                                             quality=q(), recorded_at=t),
        {"circuits": 0x09, "operating_ms": 0}, q())
    return pts


BURST_IOA = 1199
BURST = 90

GI_TYPES = {1, 3, 5, 7, 9, 11, 13, 30, 31, 32, 33, 34, 35, 36}
CI_TYPES = {15, 37}
TIMED = {30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40}

COMMANDS = [
    (4501, "C_SC_NA_1", c104.CommandMode.DIRECT, "trigger: every monitor point is sent with COT spont"),
    (4502, "C_SC_NA_1", c104.CommandMode.DIRECT, "trigger: IOA 1199 is sent BURST times, values 1..=BURST"),
    (4601, "C_DC_NA_1", c104.CommandMode.SELECT_AND_EXECUTE, "double command, select before operate"),
    (4801, "C_SE_NA_1", c104.CommandMode.DIRECT, "set-point normalized"),
    (4901, "C_SE_NB_1", c104.CommandMode.DIRECT, "set-point scaled"),
    (5001, "C_SE_NC_1", c104.CommandMode.DIRECT, "set-point float"),
    (4701, "C_SC_NA_1", c104.CommandMode.DIRECT, "refused: negative ActCon"),
]
REFUSED = {4701}


def info_json(info):
    value = info.value
    for conv in (lambda v: v.name, float, int):
        if isinstance(value, (bool, int, float)):
            break
        try:
            value = conv(value)
            break
        except Exception:
            continue
    return value if isinstance(value, (bool, int, float, str)) else str(value)


def main():
    parser = argparse.ArgumentParser(description="a c104 controlled station for the tests")
    parser.add_argument("port", type=int)
    parser.add_argument("ca", type=int)
    parser.add_argument("expected", help="where to write the description of what is served")
    parser.add_argument("t3", type=int, nargs="?", default=20, help="t3 in seconds (c104's default 20)")
    parser.add_argument("--only", default="", help="comma-separated IOAs: serve just these monitor points")
    args = parser.parse_args()
    port, ca, out_path, t3 = args.port, args.ca, args.expected, args.t3
    only = {int(x) for x in args.only.split(",") if x}

    server = c104.Server(ip="127.0.0.1", port=port, select_timeout_ms=10000)
    server.protocol_parameters.keep_alive_interval = t3
    station = server.add_station(common_address=ca)
    if station is None:
        print("cannot add station", ca, file=sys.stderr)
        return 2

    work = queue.Queue(maxsize=16)
    monitor = []
    described = []
    for ioa, tname, make, value, quality in point_table():
        if only and ioa not in only:
            continue
        ty = getattr(c104.Type, tname)
        point = station.add_point(io_address=ioa, type=ty)
        if point is None:
            print("cannot add point", ioa, tname, file=sys.stderr)
            return 2
        timed = ty.value in TIMED
        point.info = make(T if timed else None)
        monitor.append(point)
        described.append({
            "ioa": ioa, "type": tname, "type_id": ty.value, "value": value, "quality": quality,
            "time": T_JSON if timed else None,
            "gi": ty.value in GI_TYPES, "ci": ty.value in CI_TYPES,
        })

    def on_command(point: c104.Point, previous_info: c104.Information, message: c104.IncomingMessage) -> c104.ResponseState:
        record = {"ioa": point.io_address, "type": point.type.name, "cot": message.cot.name,
                  "select": bool(message.is_select_command), "value": info_json(message.info)}
        print("CMD " + json.dumps(record), flush=True)
        if point.io_address in (4501, 4502) and not message.is_select_command:
            try:
                work.put_nowait("spont" if point.io_address == 4501 else "burst")
            except queue.Full:
                return c104.ResponseState.FAILURE
        if point.io_address in REFUSED:
            return c104.ResponseState.FAILURE
        return c104.ResponseState.SUCCESS

    commands = []
    for ioa, tname, mode, what in COMMANDS:
        point = station.add_point(io_address=ioa, type=getattr(c104.Type, tname), command_mode=mode)
        if point is None:
            print("cannot add command point", ioa, tname, file=sys.stderr)
            return 2
        point.on_receive(callable=on_command)
        commands.append({"ioa": ioa, "type": tname, "type_id": getattr(c104.Type, tname).value,
                         "select_before_operate": mode == c104.CommandMode.SELECT_AND_EXECUTE, "what": what})

    with open(out_path, "w", encoding="utf-8") as f:
        json.dump({"common_address": ca, "time": T_JSON, "points": described, "commands": commands}, f, indent=1)

    stdin_closed = threading.Event()

    def watch_stdin():
        try:
            while sys.stdin.buffer.read(4096):
                pass
        finally:
            stdin_closed.set()

    threading.Thread(target=watch_stdin, daemon=True).start()
    server.start()
    print(f"READY {port}", flush=True)
    try:
        while not stdin_closed.is_set():
            try:
                job = work.get(timeout=0.05)
            except queue.Empty:
                continue
            if job == "spont":
                for point in monitor:
                    point.transmit(cause=c104.Cot.SPONTANEOUS)
                print("SPONT_DONE", flush=True)
            elif job == "burst":
                burst_point = station.get_point(io_address=BURST_IOA)
                for i in range(1, BURST + 1):
                    burst_point.info = c104.ScaledInfo(actual=c104.Int16(i))
                    burst_point.transmit(cause=c104.Cot.SPONTANEOUS)
                print(f"BURST_DONE {BURST}", flush=True)
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
