#!/usr/bin/env python3
"""A c104 (lib60870-C, mbedtls) controlling station over TLS for the TLS interop tests.

Usage: c104_tls_client.py PORT CERT KEY CA

Connects to 127.0.0.1:PORT with TLS (certificate CERT/KEY, server checked against CA),
interrogates CA 1 and prints "POINT <ioa> <value>" for every point received, then "DONE",
or "FAILED <state>" when the connection does not open within 10 s, or at once when lib60870
reports a failed TLS handshake (a certificate it refuses is refused again on every retry).
c104's own TLS messages (from lib60870, on stderr) are passed through to stdout: the test
reads them to name a failure.
Exits when stdin reaches end-of-file or after printing DONE/FAILED.
"""
import os
import sys
import threading
import time

import c104

# lib60870 writes its TLS messages to stderr: read them from a pipe, pass them on to stdout
# (where the test reads them) and note a failed handshake.
HANDSHAKE_FAILED = threading.Event()


def forward_stderr():
    read_end, write_end = os.pipe()
    os.dup2(write_end, 2)
    os.close(write_end)

    def forward():
        with os.fdopen(read_end, "r", errors="replace") as lines:
            for line in lines:
                sys.stdout.write(line)
                sys.stdout.flush()
                if "mbedtls_ssl_handshake returned" in line:
                    HANDSHAKE_FAILED.set()

    threading.Thread(target=forward, daemon=True).start()


def main():
    forward_stderr()
    port, cert, key, ca = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
    tls = c104.TransportSecurity(validate=True, only_known=False)
    tls.set_certificate(cert=cert, key=key)
    tls.set_ca_certificate(cert=ca)
    client = c104.Client(transport_security=tls)
    conn = client.add_connection(ip="127.0.0.1", port=port, init=c104.Init.INTERROGATION)
    station = conn.add_station(common_address=1)
    client.start()
    deadline = time.time() + 10
    while (
        time.time() < deadline
        and conn.state != c104.ConnectionState.OPEN
        and not HANDSHAKE_FAILED.is_set()
    ):
        time.sleep(0.05)
    if conn.state != c104.ConnectionState.OPEN:
        time.sleep(0.1)  # the rest of lib60870's message, through the forwarding thread
        print(f"FAILED {conn.state}", flush=True)
        client.stop()
        return
    deadline = time.time() + 10
    while time.time() < deadline and not station.points:
        time.sleep(0.05)
    for point in station.points:
        print(f"POINT {point.io_address} {point.value}", flush=True)
    print("DONE", flush=True)
    client.stop()


if __name__ == "__main__":
    main()
