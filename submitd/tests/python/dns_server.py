"""A tiny authoritative DNS server over UDP and TCP for submitd's tests (dnspython).

Usage: dns_server.py PORT ZONE.json, where ZONE.json maps names to records:
{"remote.example.": {"MX": ["10 mx.remote.example."]}, "mx.remote.example.": {"A": ["127.0.0.1"]}}
Names not in the zone get NXDOMAIN; known names without the asked type get an empty
answer (NOERROR). Prints READY once listening and runs until killed."""

import json
import socket
import struct
import sys
import threading

import dns.flags
import dns.message
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset


def answer(zone, wire):
    query = dns.message.from_wire(wire)
    response = dns.message.make_response(query)
    response.flags |= dns.flags.AA
    for question in query.question:
        name = question.name.to_text().lower()
        records = zone.get(name)
        if records is None:
            response.set_rcode(dns.rcode.NXDOMAIN)
            continue
        kind = dns.rdatatype.to_text(question.rdtype)
        values = records.get(kind, [])
        if values:
            response.answer.append(
                dns.rrset.from_text_list(question.name, 60, dns.rdataclass.IN, kind, values)
            )
    return response.to_wire()


def serve_udp(sock, zone):
    while True:
        data, peer = sock.recvfrom(4096)
        try:
            sock.sendto(answer(zone, data), peer)
        except Exception as e:  # noqa: BLE001 - keep serving
            print("bad query:", e, file=sys.stderr)


def serve_tcp(sock, zone):
    while True:
        conn, _ = sock.accept()
        with conn:
            try:
                (length,) = struct.unpack("!H", conn.recv(2))
                data = b""
                while len(data) < length:
                    data += conn.recv(length - len(data))
                reply = answer(zone, data)
                conn.sendall(struct.pack("!H", len(reply)) + reply)
            except Exception as e:  # noqa: BLE001
                print("bad tcp query:", e, file=sys.stderr)


def main():
    port = int(sys.argv[1])
    with open(sys.argv[2]) as f:
        zone = {k.lower(): v for k, v in json.load(f).items()}
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", port))
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    tcp.bind(("127.0.0.1", port))
    tcp.listen()
    threading.Thread(target=serve_tcp, args=(tcp, zone), daemon=True).start()
    print("READY", flush=True)
    serve_udp(udp, zone)


if __name__ == "__main__":
    main()
