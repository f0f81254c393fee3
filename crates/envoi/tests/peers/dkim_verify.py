"""Verifies every DKIM-Signature of a message with dkimpy, an independent implementation.

usage: dkim_verify.py MESSAGE RECORDS
  RECORDS is a file of zone lines as `envoi dkim keygen` prints them
  (`S._domainkey.D. IN TXT "v=DKIM1; ..." ...`); they answer dkimpy's DNS queries, so no DNS
  server is needed.
Prints one line per signature, "pass d=... s=... a=..." or "fail d=... s=...", and exits 1
when any fails or there is none.
"""
import re
import sys

import dkim


def load_records(path):
    records = {}
    for line in open(path, encoding="ascii"):
        line = line.strip()
        if not line:
            continue
        name, rest = line.split(None, 1)
        value = "".join(re.findall(r'"([^"]*)"', rest))
        records[name.lower().rstrip(".")] = value
    return records


def main():
    message = open(sys.argv[1], "rb").read()
    records = load_records(sys.argv[2])

    def dnsfunc(name, timeout=5):
        if isinstance(name, bytes):
            name = name.decode("ascii")
        return records.get(name.lower().rstrip("."), "").encode("ascii")

    verifier = dkim.DKIM(message)
    headers = [v for (k, v) in verifier.headers if k.lower() == b"dkim-signature"]
    if not headers:
        print("no DKIM-Signature")
        sys.exit(1)
    failed = False
    for index, value in enumerate(headers):
        tags = dkim.util.parse_tag_value(re.sub(rb"\s+", b"", value))
        label = "d=%s s=%s a=%s" % (tags[b"d"].decode(), tags[b"s"].decode(), tags[b"a"].decode())
        ok = dkim.DKIM(message).verify(idx=index, dnsfunc=dnsfunc)
        print(("pass " if ok else "fail ") + label)
        failed = failed or not ok
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
