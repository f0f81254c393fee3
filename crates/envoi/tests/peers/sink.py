"""A scriptable next hop for envoi's end-to-end tests, built on aiosmtpd.

usage: sink.py PORT OUTDIR MODE [CERT KEY]
  MODE accept       every message 250
       defer-first  the first DATA 451 4.3.0, then 250
       reject       every RCPT 550 5.1.1
Each accepted message is written to OUTDIR as N.eml (the bytes received) and N.json
(envelope, with "tls": whether the session was inside STARTTLS). With CERT and KEY (PEM
files) the sink offers STARTTLS with that certificate. Prints "ready" once listening.
"""
import json
import os
import ssl
import sys
import threading

from aiosmtpd.controller import Controller


class Handler:
    def __init__(self, outdir, mode):
        self.outdir = outdir
        self.mode = mode
        self.data_count = 0
        self.stored = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.mode == "reject":
            return "550 5.1.1 <%s>: no such user here" % address
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        self.data_count += 1
        if self.mode == "defer-first" and self.data_count == 1:
            return "451 4.3.0 try again later"
        self.stored += 1
        base = os.path.join(self.outdir, "%06d" % self.stored)
        with open(base + ".tmp", "wb") as f:
            f.write(envelope.original_content)
        meta = {"mail_from": envelope.mail_from, "rcpt_tos": envelope.rcpt_tos,
                "tls": bool(session.ssl)}
        with open(base + ".json", "w") as f:
            json.dump(meta, f)
        os.rename(base + ".tmp", base + ".eml")
        return "250 2.0.0 stored"


def main():
    port, outdir, mode = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    tls = {}
    if len(sys.argv) > 5:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(sys.argv[4], sys.argv[5])
        tls = {"tls_context": context}
    controller = Controller(Handler(outdir, mode), hostname="127.0.0.1", port=port,
                            decode_data=False, enable_SMTPUTF8=True, **tls)
    controller.start()
    print("ready", flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
