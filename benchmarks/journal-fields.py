#!/usr/bin/env python3
"""What journald spends per entry, by the fields an entry carries.

Sends entries shaped like claimsd's access record of a claim's POST to the native journal
socket (sd_journal_sendv through ctypes, one process, so journald's own trusted fields are the
same for every variant) and reads journald's CPU time from /proc before and after each batch.
Variants differ only in which fields are sent beside MESSAGE; the batches alternate so the
machine's drift weighs on every variant alike. Prints a Markdown table: journald µs per entry.

    benchmarks/journal-fields.py JOURNALD_PID [ENTRIES_PER_BATCH] [ROUNDS]

benchmarks/journal-fields.sh starts journald (scripts/services.sh) and runs this.
"""
import ctypes
import os
import sys
import time
import uuid

journald_pid = int(sys.argv[1])
entries = int(sys.argv[2]) if len(sys.argv) > 2 else 20000
rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 3
ticks = os.sysconf("SC_CLK_TCK")
systemd = ctypes.CDLL("libsystemd.so.0")


class IOVec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_char_p), ("length", ctypes.c_size_t)]


def journald_cpu_seconds():
    with open(f"/proc/{journald_pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    # utime and stime are fields 14 and 15 of the whole line, 12 and 13 after "(comm)".
    return (int(fields[11]) + int(fields[12])) / ticks


def message(request_id, claim_id, extra=""):
    return (
        '{"timestamp":"%s","level":"info","logger":"claimsd","message":"request completed",'
        '"event":"request_completed","request_id":"%s","method":"POST","route":"/api/v1/claims",'
        '"status":201,"duration_ms":4.312,"response_bytes":1893,"principal":"api_key:f7lw3e6zpqvy",'
        '"domain_event":"claim_accepted","claim_id":"%s","lines":4%s}'
        % (time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()), request_id, claim_id, extra or ',"warnings":[]')
    )


# What the benchmarks' claims added to the record before their NPIs had valid check digits (four
# warnings) and before Hummingbird's own request id left the records, which take the message past 512 bytes, the size above which
# journald compresses a field (Compress= in journald.conf).
LONG = (
    ',"hb.request.id":"f9675199cf3435aecb4dea196ad35417",'
    '"warnings":["npi_check_digit","npi_check_digit","npi_check_digit","npi_check_digit"]'
)


CONSTANT = ["PRIORITY=6", "SYSLOG_IDENTIFIER=claimsd-fields-bench"]
LOCATION = [
    "CODE_FILE=Hummingbird/Middleware/LogRequestMiddleware.swift",
    "CODE_LINE=88",
    "CODE_FUNC=handle(_:context:next:)",
    "LOGGER=claimsd",
]
REQUEST = [
    "EVENT=request_completed",
    "HTTP_METHOD=POST",
    "HTTP_ROUTE=/api/v1/claims",
    "HTTP_STATUS=201",
    "PRINCIPAL=api_key:f7lw3e6zpqvy",
    "DOMAIN_EVENT=claim_accepted",
    "LINES=4",
    "WARNINGS=[]",
]


# Each variant: its name in the table, the fields it sends beside MESSAGE given the entry's
# unique fields (REQUEST_ID, CLAIM_ID), and what its message adds. The first is what claimsd
# sends; the others compare to it.
VARIANTS = {
    "as claimsd sends (all fields)": (lambda unique: CONSTANT + LOCATION + REQUEST + unique, ""),
    "without REQUEST_ID and CLAIM_ID": (lambda unique: CONSTANT + LOCATION + REQUEST, ""),
    "without CODE_FILE, CODE_LINE, CODE_FUNC, LOGGER": (lambda unique: CONSTANT + REQUEST + unique, ""),
    "MESSAGE, PRIORITY, SYSLOG_IDENTIFIER only": (lambda unique: CONSTANT, ""),
    "all fields, message over 512 bytes (4 warnings, hb.request.id)": (lambda unique: CONSTANT + LOCATION + REQUEST + unique, LONG),
}


def send_batch(variant):
    for _ in range(entries):
        request_id, claim_id = str(uuid.uuid4()), str(uuid.uuid4())
        chosen, extra = VARIANTS[variant]
        fields = [("MESSAGE=" + message(request_id, claim_id, extra)).encode()]
        unique = [f"REQUEST_ID={request_id}", f"CLAIM_ID={claim_id}"]
        fields += [field.encode() for field in chosen(unique)]
        vectors = (IOVec * len(fields))(*[IOVec(field, len(field)) for field in fields])
        if systemd.sd_journal_sendv(vectors, len(fields)) < 0:
            sys.exit("journal-fields: journald refused an entry")


def settle():
    """Waits until journald has worked through what it was sent (its CPU time stops moving)."""
    last = journald_cpu_seconds()
    while True:
        time.sleep(0.5)
        now = journald_cpu_seconds()
        if now == last:
            return now
        last = now


spent = {variant: 0.0 for variant in VARIANTS}
settle()
for round_number in range(rounds):
    order = list(VARIANTS) if round_number % 2 == 0 else list(reversed(VARIANTS))
    for variant in order:
        before = settle()
        send_batch(variant)
        spent[variant] += settle() - before

print()
print(f"journald CPU per entry, {rounds} rounds of {entries} entries per variant, alternating")
print()
print("| fields beside MESSAGE | journald µs per entry | against all fields |")
print("| --- | --- | --- |")
base = spent[next(iter(VARIANTS))]
for variant in VARIANTS:
    per_entry = spent[variant] / (rounds * entries) * 1e6
    print(f"| {variant} | {per_entry:.1f} | {100 * spent[variant] / base:.0f} % |")
