"""A receiving SMTP server for submitd's delivery tests (aiosmtpd).

Usage: smtp_sink.py PORT OUT_DIR [--dns RECORDS.json] [--tls CERT KEY]
       [--implicit-tls CERT KEY] [--auth USER PASSWORD]

--tls offers (and requires) STARTTLS; --implicit-tls speaks TLS from the first byte.

Every accepted message is written to OUT_DIR/<n>.eml (the bytes as received, after
dot-unstuffing) with OUT_DIR/<n>.json: envelope, the client's AUTH login, whether TLS
was used, and the result of verifying every DKIM-Signature with dkimpy, whose DNS
lookups are answered from RECORDS.json ({"sel._domainkey.example.org.": "v=DKIM1; ..."}).

AUTH offers PLAIN and LOGIN (aiosmtpd's) and SCRAM-SHA-256 and SCRAM-SHA-1 (scramp's
server side), all checking USER and PASSWORD from --auth.

While OUT_DIR/hold exists, the end of data is not answered (OUT_DIR/holding appears).

Recipients whose localpart starts with "reject" get 550 5.1.1 at RCPT TO, "defer" get
451 4.3.0. Prints READY once listening and runs until killed.
"""

import asyncio
import io
import logging
import json
import os
import ssl
import sys

import dkim
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


def main():
    port = int(sys.argv[1])
    out_dir = sys.argv[2]
    args = sys.argv[3:]
    records = {}
    tls_context = None
    credentials = None
    implicit_context = None
    while args:
        opt = args.pop(0)
        if opt == "--dns":
            with open(args.pop(0)) as f:
                records = json.load(f)
        elif opt == "--tls":
            cert, key = args.pop(0), args.pop(0)
            tls_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            tls_context.load_cert_chain(cert, key)
        elif opt == "--implicit-tls":
            cert, key = args.pop(0), args.pop(0)
            implicit_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            implicit_context.load_cert_chain(cert, key)
        elif opt == "--auth":
            credentials = (args.pop(0), args.pop(0))
        else:
            raise SystemExit("unknown option " + opt)

    def dnsfunc(name, timeout=5):
        if isinstance(name, bytes):
            name = name.decode()
        value = records.get(name) or records.get(name.rstrip(".") + ".")
        return value.encode() if value else None

    counter = [0]

    def scram(mechanism_name):
        async def auth(self, server, args):
            import base64

            import scramp

            if credentials is None:
                return AuthResult(success=False, handled=False)
            mechanism = scramp.ScramMechanism(mechanism_name)
            info = mechanism.make_auth_info(credentials[1], iteration_count=4096)
            seen = []

            def lookup(username):
                seen.append(username)
                if username != credentials[0]:
                    raise scramp.ScramException("unknown user")
                return info

            scram_server = mechanism.make_server(lookup)
            try:
                if len(args) > 1:
                    first = base64.b64decode(args[1])
                else:
                    first = await server.challenge_auth("")
                scram_server.set_client_first(first.decode())
                final = await server.challenge_auth(scram_server.get_server_first())
                if not isinstance(final, bytes):
                    return AuthResult(success=False, handled=True)
                scram_server.set_client_final(final.decode())
                done = await server.challenge_auth(scram_server.get_server_final())
                if done != b"":
                    return AuthResult(success=False, handled=False)
            except scramp.ScramException:
                return AuthResult(success=False, handled=False)
            return AuthResult(success=True, auth_data=seen[0] + " via " + mechanism_name)

        return auth

    class Handler:
        auth_SCRAM__SHA__256 = scram("SCRAM-SHA-256")
        auth_SCRAM__SHA__1 = scram("SCRAM-SHA-1")

        async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
            local = address.split("@")[0].lower()
            if local.startswith("reject"):
                return "550 5.1.1 no such user here"
            if local.startswith("defer"):
                return "451 4.3.0 try again later"
            envelope.rcpt_tos.append(address)
            return "250 OK"

        async def handle_DATA(self, server, session, envelope):
            # While OUT_DIR/hold exists, the end of data is not answered (a receiver
            # that hangs), and OUT_DIR/holding says a transaction waits.
            hold = os.path.join(out_dir, "hold")
            if os.path.exists(hold):
                open(os.path.join(out_dir, "holding"), "w").close()
                while os.path.exists(hold):
                    await asyncio.sleep(0.05)
            content = envelope.content
            results = []
            log = io.StringIO()
            logger = logging.getLogger("dkim-%d" % id(log))
            logger.addHandler(logging.StreamHandler(log))
            logger.setLevel(logging.DEBUG)
            d = dkim.DKIM(content, logger=logger)
            count = sum(1 for line in content.split(b"\r\n") if line.lower().startswith(b"dkim-signature:"))
            for idx in range(count):
                try:
                    ok = d.verify(idx=idx, dnsfunc=dnsfunc)
                except Exception as e:  # noqa: BLE001 - reported to the test
                    ok = "error: %s" % e
                results.append(ok if ok is not False else "failed: " + log.getvalue()[-2000:])
            counter[0] += 1
            base = os.path.join(out_dir, "%d" % counter[0])
            with open(base + ".eml.tmp", "wb") as f:
                f.write(content)
            meta = {
                "mail_from": envelope.mail_from,
                "rcpt_tos": envelope.rcpt_tos,
                "dkim": results,
                "login": str(session.auth_data) if session.authenticated else None,
                "tls": server.transport.get_extra_info("ssl_object") is not None,
                "helo": session.host_name,
            }
            with open(base + ".json", "w") as f:
                json.dump(meta, f)
            os.rename(base + ".eml.tmp", base + ".eml")
            return "250 2.0.0 queued as %d" % counter[0]

    def authenticator(server, session, envelope, mechanism, auth_data):
        if credentials is None or not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        ok = (auth_data.login.decode(), auth_data.password.decode()) == credentials
        if ok:
            return AuthResult(success=True, auth_data=auth_data.login.decode())
        return AuthResult(success=False, handled=False)

    kwargs = {}
    if tls_context is not None:
        kwargs.update(tls_context=tls_context, require_starttls=True)
    if implicit_context is not None:
        kwargs.update(ssl_context=implicit_context)
    if credentials is not None:
        kwargs.update(
            authenticator=authenticator,
            auth_required=True,
            # aiosmtpd counts only STARTTLS as TLS here; with implicit TLS every
            # connection is TLS anyway.
            auth_require_tls=tls_context is not None,
        )
    controller = Controller(Handler(), hostname="127.0.0.1", port=port, server_hostname="sink.test", **kwargs)
    controller.start()
    print("READY", flush=True)
    try:
        asyncio.run(asyncio.Event().wait())
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
