#!/usr/bin/env python3
"""A small c104 (lib60870-C) controlled station for the iec104 CLI tests.

Usage: c104_station.py PORT

Common address 1 with:
- M_SP_NA_1 IOA 101: on, good quality
- M_ME_NC_1 IOA 1301: 21.5, good quality
- M_DP_TB_1 IOA 3101: off, blocked, recorded at 2026-11-24T10:15:30.123Z
- C_DC_NA_1 IOA 4601: select before operate, accepted
- C_SE_NB_1 IOA 4901: direct, accepted
- C_SC_NA_1 IOA 4701: direct, refused (the callback answers FAILURE: negative ActCon)

Prints "READY <port>" when listening and one line "CMD {...}" per command received; exits when
stdin reaches end-of-file, so a killed test never leaves it running.
"""
import datetime
import json
import sys
import threading

import c104

T = datetime.datetime(2026, 11, 24, 10, 15, 30, 123000, tzinfo=datetime.timezone.utc)


def main():
    port = int(sys.argv[1])
    server = c104.Server(ip="127.0.0.1", port=port, select_timeout_ms=10000)
    station = server.add_station(common_address=1)

    sp = station.add_point(io_address=101, type=c104.Type.M_SP_NA_1)
    sp.info = c104.SingleInfo(on=True)
    me = station.add_point(io_address=1301, type=c104.Type.M_ME_NC_1)
    me.info = c104.ShortInfo(actual=21.5)
    dp = station.add_point(io_address=3101, type=c104.Type.M_DP_TB_1)
    dp.info = c104.DoubleInfo(state=c104.Double.OFF, quality=c104.Quality.Blocked, recorded_at=T)

    def accept(point: c104.Point, previous_info: c104.Information, message: c104.IncomingMessage) -> c104.ResponseState:
        print("CMD " + json.dumps({"ioa": point.io_address, "select": bool(message.is_select_command)}), flush=True)
        return c104.ResponseState.SUCCESS

    def refuse(point: c104.Point, previous_info: c104.Information, message: c104.IncomingMessage) -> c104.ResponseState:
        print("CMD " + json.dumps({"ioa": point.io_address, "select": bool(message.is_select_command)}), flush=True)
        return c104.ResponseState.FAILURE

    for ioa, ty, mode, cb in [
        (4601, c104.Type.C_DC_NA_1, c104.CommandMode.SELECT_AND_EXECUTE, accept),
        (4901, c104.Type.C_SE_NB_1, c104.CommandMode.DIRECT, accept),
        (4701, c104.Type.C_SC_NA_1, c104.CommandMode.DIRECT, refuse),
    ]:
        point = station.add_point(io_address=ioa, type=ty, command_mode=mode)
        point.on_receive(callable=cb)

    done = threading.Event()

    def watch_stdin():
        try:
            while sys.stdin.buffer.read(4096):
                pass
        finally:
            done.set()

    threading.Thread(target=watch_stdin, daemon=True).start()
    server.start()
    print(f"READY {port}", flush=True)
    done.wait()
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
