"""An independent SMTP peer for envoi-relay's tests, built on aiosmtpd.

Usage: python3 aiosmtpd_peer.py PORT OUTDIR

Recipients starting with "reject" get 550 5.1.1, with "later" 450 4.2.1, others 250.
Each accepted message is written to OUTDIR/NNNN.json (envelope, options, raw content);
each EHLO appends a line to OUTDIR/ehlo.log. Runs until killed.
"""

import json
import os
import sys
import time

from aiosmtpd.controller import Controller

PORT = int(sys.argv[1])
OUTDIR = sys.argv[2]


class Handler:
    def __init__(self):
        self.count = 0

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        with open(os.path.join(OUTDIR, "ehlo.log"), "a") as log:
            log.write(hostname + "\n")
        return responses

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.startswith("reject"):
            return "550 5.1.1 no such user"
        if address.startswith("later"):
            return "450 4.2.1 try later"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        record = {
            "mail_from": envelope.mail_from,
            "mail_options": envelope.mail_options,
            "rcpt_tos": envelope.rcpt_tos,
            "content": envelope.original_content.decode("utf-8", "replace"),
        }
        tmp = os.path.join(OUTDIR, "%04d.tmp" % self.count)
        with open(tmp, "w") as out:
            json.dump(record, out)
        os.rename(tmp, os.path.join(OUTDIR, "%04d.json" % self.count))
        return "250 2.0.0 accepted"


controller = Controller(Handler(), hostname="127.0.0.1", port=PORT, enable_SMTPUTF8=True)
controller.start()
try:
    while True:
        time.sleep(1)
finally:
    controller.stop()
