#!/usr/bin/env python3
"""A c104 (lib60870-C, mbedtls) controlled station over TLS for the iec104 crate's TLS interop test.

Usage: c104_tls_server.py PORT CERT KEY CA [ALLOWED_CERT...]

Serves CA 1 with a single point M_SP_NA_1 at IOA 100, value on, behind TLS with mutual
authentication: clients must present a certificate signed by CA (chain and time checked by
mbedtls); with ALLOWED_CERT files, only those certificates are accepted (c104's only_known).
Prints "READY <port>" when listening; lib60870's own TLS messages ("TLS: ...") come on stdout
too, and name why a handshake was refused.
Exits when stdin reaches end-of-file.
"""
import os
import sys

import c104

# lib60870 writes its TLS messages to stderr: send them to stdout, where the test reads them.
os.dup2(1, 2)


def main():
    port, cert, key, ca = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
    allowed = sys.argv[5:]
    tls = c104.TransportSecurity(validate=True, only_known=bool(allowed))
    tls.set_certificate(cert=cert, key=key)
    tls.set_ca_certificate(cert=ca)
    for a in allowed:
        tls.add_allowed_remote_certificate(cert=a)
    server = c104.Server(ip="127.0.0.1", port=port, transport_security=tls)
    station = server.add_station(common_address=1)
    point = station.add_point(io_address=100, type=c104.Type.M_SP_NA_1)
    point.value = True

    server.start()
    print(f"READY {port}", flush=True)
    sys.stdin.read()
    server.stop()


if __name__ == "__main__":
    main()
