#!/usr/bin/env python3
"""A c104 (lib60870-C) controlling station for the interop tests of the iec104 crate.

Usage: c104_client.py HOST PORT COMMON_ADDRESS DOUBLE_COMMAND_IOA [TIMEOUT_SECONDS] [T3_SECONDS]

Connects, STARTDT, general interrogation of COMMON_ADDRESS, then a select-before-operate double
command (ON) to DOUBLE_COMMAND_IOA: select, wait ActCon, execute, wait ActCon and ActTerm.
Prints one JSON line on stdout per received information object
  {"kind": "object", "type": "M_SP_NA_1", "ioa": 1, "cot": "...", "value": ..., "quality": [...], "time": "iso"|null}
and per command-direction ASDU received (confirmations), as decoded by c104/lib60870:
  {"kind": "confirmation", "type": "C_DC_NA_1", "ioa": 4601, "cot": "ACTIVATION_CON", "negative": false, "select": true}
and per step outcome {"kind": "step", "step": "...", "ok": true}. Exits 0 when every step succeeded,
1 when one failed or timed out (every wait is bounded), 2 on bad usage.
With T3_SECONDS, c104's t3 is set to it and, after the command, the client stays idle until its
own TESTFR act has been confirmed by the station (step "testfr").
With IEC104_PEER_DEBUG set, every APDU sent and received is printed in hex on stderr.
"""
import datetime
import json
import os
import sys
import threading
import time

import c104

QUALITY_NAMES = [("Invalid", "IV"), ("NonTopical", "NT"), ("Substituted", "SB"), ("Blocked", "BL"),
                 ("Overflow", "OV"), ("ElapsedTimeInvalid", "EI"), ("Adjusted", "CA"), ("Carry", "CY")]

lock = threading.Lock()
confirmations = []  # (type name, cot name, negative, select flag, ioa)
cond = threading.Condition(lock)


def emit(record):
    with lock:
        print(json.dumps(record), flush=True)


def quality_names(quality):
    if quality is None:
        return []
    names = []
    for attr, short in QUALITY_NAMES:
        for cls in (c104.Quality, c104.BinaryCounterQuality):
            bit = getattr(cls, attr, None)
            if bit is not None and isinstance(quality, cls) and quality.value & bit.value:
                names.append(short)
    return names


def plain(value):
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value
    if isinstance(value, c104.Double):
        return {"INTERMEDIATE": 0, "OFF": 1, "ON": 2, "INDETERMINATE": 3}[value.name]
    if isinstance(value, c104.Byte32):
        return bytes(value).hex()
    for conv in (float, int):
        try:
            return conv(value)
        except Exception:
            pass
    if hasattr(value, "value"):
        return plain(value.value)
    return str(value)


def on_point_receive(point: c104.Point, previous_info: c104.Information, message: c104.IncomingMessage) -> c104.ResponseState:
    info = point.info
    recorded = info.recorded_at
    emit({"kind": "object", "type": point.type.name, "ioa": point.io_address, "cot": message.cot.name,
          "value": plain(info.value), "quality": quality_names(info.quality),
          "time": recorded.astimezone(datetime.timezone.utc).isoformat(timespec="milliseconds") if recorded else None})
    return c104.ResponseState.SUCCESS


def on_new_point(client: c104.Client, station: c104.Station, io_address: int, point_type: c104.Type) -> None:
    point = station.add_point(io_address=io_address, type=point_type)
    if point is not None:
        point.on_receive(callable=on_point_receive)


DEBUG = bool(os.environ.get("IEC104_PEER_DEBUG"))


def on_send_raw(connection: c104.Connection, data: bytes) -> None:
    print(f"c104 client -> {data.hex()}", file=sys.stderr, flush=True)


testfr_con_seen = [False]


def on_receive_raw(connection: c104.Connection, data: bytes) -> None:
    if DEBUG:
        print(f"c104 client <- {data.hex()}", file=sys.stderr, flush=True)
    if data == bytes.fromhex("680483000000"):  # TESTFR con
        with cond:
            testfr_con_seen[0] = True
            cond.notify_all()
        return
    d = c104.explain_bytes_dict(apdu=data)
    if d.get("format") != "I":
        return
    ty = d["type"].name
    if not ty.startswith("C_"):
        return
    elements = bytes.fromhex(d.get("elements", "").replace(" ", ""))
    ioa = int.from_bytes(elements[0:3], "little") if len(elements) >= 3 else None
    select = None
    if ty in ("C_SC_NA_1", "C_DC_NA_1", "C_RC_NA_1", "C_SC_TA_1", "C_DC_TA_1", "C_RC_TA_1") and len(elements) >= 4:
        select = bool(elements[3] & 0x80)
    record = {"kind": "confirmation", "type": ty, "ioa": ioa, "cot": d["cot"].name,
              "negative": bool(d["negative"]), "select": select, "common_address": d["commonAddress"]}
    emit(record)
    with cond:
        confirmations.append(record)
        cond.notify_all()


def wait_for(pred, timeout):
    deadline = time.monotonic() + timeout
    with cond:
        while True:
            for rec in confirmations:
                if pred(rec):
                    return rec
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            cond.wait(left)


def main():
    if len(sys.argv) not in (5, 6, 7):
        print(__doc__, file=sys.stderr)
        return 2
    host, port, ca, dc_ioa = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    timeout = float(sys.argv[5]) if len(sys.argv) >= 6 else 10.0
    t3 = int(sys.argv[6]) if len(sys.argv) == 7 else None

    client = c104.Client(tick_rate_ms=50, command_timeout_ms=int(timeout * 1000))
    client.on_new_point(callable=on_new_point)
    connection = client.add_connection(ip=host, port=port, init=c104.Init.MUTED)
    if connection is None:
        emit({"kind": "step", "step": "add_connection", "ok": False})
        return 1
    connection.on_receive_raw(callable=on_receive_raw)
    if DEBUG:
        connection.on_send_raw(callable=on_send_raw)
    station = connection.add_station(common_address=ca)
    dc = station.add_point(io_address=dc_ioa, type=c104.Type.C_DC_NA_1, command_mode=c104.CommandMode.SELECT_AND_EXECUTE)
    if t3 is not None:
        connection.protocol_parameters.keep_alive_interval = t3
    client.start()
    ok = True
    try:
        # Init.MUTED + unmute(): c104 2.2.1 with Init.NONE sometimes stays OPEN_MUTED without
        # ever sending STARTDT act (a race inside c104); muted start then an explicit unmute
        # (which sends STARTDT act) is deterministic.
        deadline = time.monotonic() + timeout
        while connection.state != c104.ConnectionState.OPEN_MUTED and time.monotonic() < deadline:
            time.sleep(0.02)
        unmuted = connection.state == c104.ConnectionState.OPEN_MUTED and connection.unmute()
        while unmuted and connection.state != c104.ConnectionState.OPEN and time.monotonic() < deadline:
            time.sleep(0.02)
        started = connection.state == c104.ConnectionState.OPEN
        emit({"kind": "step", "step": "startdt", "ok": started, "state": connection.state.name})
        if not started:
            return 1

        # wait_for_response=False: the outcome is read from the wire below. c104 2.2.1's
        # blocking wait loses the answer of a fast station (it sends, then waits on a condition
        # variable without checking whether the answer already arrived).
        gi_sent = connection.interrogation(common_address=ca, cause=c104.Cot.ACTIVATION, qualifier=c104.Qoi.STATION,
                                           wait_for_response=False)
        con = wait_for(lambda r: r["type"] == "C_IC_NA_1" and r["cot"] == "ACTIVATION_CON", timeout)
        term = wait_for(lambda r: r["type"] == "C_IC_NA_1" and r["cot"] == "ACTIVATION_TERMINATION", timeout)
        gi_ok = bool(gi_sent and con and not con["negative"] and term)
        emit({"kind": "step", "step": "interrogation", "ok": gi_ok})
        ok &= gi_ok

        # Select before operate: c104 sends the select (S/E = 1), waits for its ActCon, then the
        # execute (S/E = 0) and waits for that ActCon. The ActTerm is waited for here.
        dc.value = c104.Double.ON
        sent = dc.transmit(cause=c104.Cot.ACTIVATION)
        sel = wait_for(lambda r: r["type"] == "C_DC_NA_1" and r["cot"] == "ACTIVATION_CON" and r["select"], timeout)
        exe = wait_for(lambda r: r["type"] == "C_DC_NA_1" and r["cot"] == "ACTIVATION_CON" and r["select"] is False, timeout)
        trm = wait_for(lambda r: r["type"] == "C_DC_NA_1" and r["cot"] == "ACTIVATION_TERMINATION", timeout)
        # The outcome is what came over the wire. `transmit`'s own return value is only
        # reported: c104 2.2.1 sometimes returns False after its command timeout although the
        # execute ActCon arrived, when ActCon and ActTerm follow each other closely.
        emit({"kind": "step", "step": "select", "ok": bool(sel and not sel["negative"])})
        emit({"kind": "step", "step": "execute", "ok": bool(exe and not exe["negative"]), "c104_transmit": bool(sent)})
        emit({"kind": "step", "step": "termination", "ok": bool(trm and not trm["negative"])})
        ok &= bool(sel and exe and trm and not sel["negative"] and not exe["negative"] and not trm["negative"])

        if t3 is not None:
            # Idle until c104 tested the link (TESTFR act) and the station confirmed it.
            with cond:
                tested = cond.wait_for(lambda: testfr_con_seen[0], timeout)
            emit({"kind": "step", "step": "testfr", "ok": bool(tested)})
            ok &= bool(tested)
    finally:
        client.stop()
    emit({"kind": "done", "ok": bool(ok)})
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
