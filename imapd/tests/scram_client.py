"""A SCRAM client from Python's scramp library (an implementation nobody here wrote),
relayed to authd by the Rust test over stdin/stdout, one message per line.

usage: scram_client.py MECHANISM USERNAME PASSWORD [CHANNEL_BINDING_HEX]
"""
import sys

import scramp.core
from scramp import ScramClient

# scramp computes channel bindings for any type, but refuses the name "tls-exporter"
# because Python's ssl module cannot export keying material. Here the binding bytes come
# from the test (as the protocol daemon would send them), so allow the name.
scramp.core.CbName.SUPPORTED_TYPES = scramp.core.CbName.SUPPORTED_TYPES | {"tls-exporter"}
scramp.core.CbName.UNSUPPORTED_TYPES = frozenset()

mechanism, username, password = sys.argv[1:4]
binding = None
if len(sys.argv) > 4:
    binding = ("tls-exporter", bytes.fromhex(sys.argv[4]))
client = ScramClient([mechanism], username, password, channel_binding=binding)


def send(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


send(client.get_client_first())
client.set_server_first(sys.stdin.readline().rstrip("\n"))
send(client.get_client_final())
server_final = sys.stdin.readline().rstrip("\n")
try:
    client.set_server_final(server_final)
except Exception as e:  # scramp raises ScramException for e= and bad signatures
    send("CLIENT-REJECTS " + str(e))
else:
    send("CLIENT-ACCEPTS")
