"""schemathesis hooks for claimsd's contract test (Tests/AppTests/ContractTests.swift).

The OpenAPI document names a few string formats of its own, for values whose validity a JSON
Schema pattern cannot state (a PromQL expression, an NPI's check digit, a date that is not in
the future). Each is registered here as a Hypothesis strategy that generates only values claimsd
must accept, so that `positive_data_acceptance` can hold the service to "a request the document
allows is never refused". The strategies describe the formats; they never look at the server.

Two rules span several fields and are applied to generated requests instead (`map_body`,
`map_query`), only when the fields involved already hold valid values, so a deliberately broken
(negative) request stays broken:
- the lines of one claim share a provider NPI (`single_provider`);
- a range query's `end` is not before its `start`, and it asks for at most 11,000 points.
"""
import base64
import datetime
import json
import math
import string

import schemathesis
from hypothesis import strategies as st

# ---------------------------------------------------------------- claims

LATEST_SERVICE_DAY = datetime.date(2025, 12, 31)  # "not in the future", for any day this test runs
EARLIEST_SERVICE_DAY = datetime.date(1990, 1, 1)


def npi_check_digit(first_nine):
    """The NPI check digit: Luhn over the prefix 80840 followed by the first nine digits."""
    total = 0
    for position, digit in enumerate(reversed("80840" + first_nine)):
        value = int(digit)
        if position % 2 == 0:  # every second digit from the right, starting next to the check digit
            value *= 2
            value = value - 9 if value > 9 else value
        total += value
    return str((10 - total % 10) % 10)


NPIS = st.from_regex(r"[12][0-9]{8}", fullmatch=True).map(lambda nine: nine + npi_check_digit(nine))


def service_date_text(day, form):
    if form == "iso":
        return day.isoformat()
    if form == "us-two-digit-year":  # as the spreadsheet export writes it: 3/28/18 0:00
        return f"{day.month}/{day.day}/{day.year % 100:02d} 0:00"
    if form == "us":
        return f"{day.month}/{day.day}/{day.year}"
    if form == "iso-time":
        return f"{day.isoformat()} 00:00:00"
    return f"{day.isoformat()}T00:00:00Z"


SERVICE_DATES = st.builds(
    service_date_text,
    st.dates(min_value=EARLIEST_SERVICE_DAY, max_value=LATEST_SERVICE_DAY),
    st.sampled_from(["iso", "us-two-digit-year", "us", "iso-time", "iso-zoned"]),
)

MAX_CENTS = 10_000_000_000  # ClaimLimits.maxAmountCents


def money_text(cents, form):
    whole, fraction = divmod(cents, 100)
    if form == "plain":
        return f"{whole}.{fraction:02d}"
    if form == "spreadsheet":  # "$1,300.00 "
        return f"${whole:,}.{fraction:02d} "
    if form == "whole" and fraction == 0:
        return str(whole)
    return f" {whole}.{fraction:02d}"


MONEY = st.builds(money_text, st.integers(min_value=0, max_value=MAX_CENTS), st.sampled_from(["plain", "spreadsheet", "whole", "padded"]))

schemathesis.openapi.format("npi", NPIS)
schemathesis.openapi.format("service-date", SERVICE_DATES)
schemathesis.openapi.format("money", MONEY)

CSV_COLUMNS = [
    "service date", "submitted procedure", "quadrant", "Plan/Group #", "Subscriber#", "Provider NPI",
    "provider fees", "Allowed fees", "member coinsurance", "member copay",
]


def claim_lines(npi):
    """Strategy: the lines of one valid claim, all for `npi`."""
    line = st.fixed_dictionaries({
        "service date": SERVICE_DATES,
        "submitted procedure": st.from_regex(r"D[0-9]{4}", fullmatch=True),
        "quadrant": st.sampled_from(["", "UR", "UL", "LR", "LL"]),
        "Plan/Group #": st.from_regex(r"GRP-[0-9]{1,6}", fullmatch=True),
        "Subscriber#": st.from_regex(r"[0-9]{10}", fullmatch=True),
        "Provider NPI": st.just(npi),
        "provider fees": MONEY,
        "Allowed fees": MONEY,
        "member coinsurance": MONEY,
        "member copay": MONEY,
    })
    return st.lists(line, min_size=1, max_size=4)


def csv_field(text):
    return '"' + text.replace('"', '""') + '"' if any(c in text for c in ',"\n') else text


def csv_document(claims, numbered=True):
    """CSV of `claims`, a list of (number, lines); with a claim-number column when `numbered`."""
    def row(number, cells):
        return ",".join(([number] if numbered else []) + cells)
    rows = [row("claim number", CSV_COLUMNS)]
    for number, lines in claims:
        rows += [row(number, [csv_field(line[column]) for column in CSV_COLUMNS]) for line in lines]
    return "\n".join(rows) + "\n"


CLAIMS = st.lists(
    st.tuples(st.from_regex(r"C-[0-9]{1,8}", fullmatch=True), NPIS.flatmap(claim_lines)),
    min_size=1, max_size=3, unique_by=lambda claim: claim[0],
)
schemathesis.openapi.format("claims-csv", CLAIMS.map(csv_document))
# One claim as CSV for POST /api/v1/claims: without a claim-number column.
schemathesis.openapi.format("claim-csv", NPIS.flatmap(claim_lines).map(lambda lines: csv_document([("", lines)], numbered=False)))


def cursor_for(identifier):
    return base64.urlsafe_b64encode(f"v1:{identifier}".encode()).decode().rstrip("=")


schemathesis.openapi.format("claims-cursor", st.uuids().map(str).map(cursor_for))

# ------------------------------------------------------------- accounts

# At least 12 characters, at most 72 bytes of UTF-8, no NUL.
PASSWORDS = st.text(st.characters(codec="utf-8", categories=["L", "N", "P", "S"]), min_size=12, max_size=24).filter(
    lambda text: len(text.encode()) <= 72)
schemathesis.openapi.format("password", PASSWORDS)

# ------------------------------------------------------- Prometheus API

METRIC_NAMES = st.sampled_from([
    "up", "scrape_duration_seconds", "claimsd_http_requests_total", "claimsd_http_request_duration_seconds_bucket",
    "claimsd_claims_accepted_total", "process_resident_memory_bytes", "no_such_metric_anywhere",
])
LABEL_NAMES = st.sampled_from(["job", "instance", "route", "status", "method", "le", "never_seen"])
LABEL_VALUES = st.text(string.ascii_letters + string.digits + " -_./:", max_size=12)


def quoted(text):
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


MATCHER = st.one_of(
    st.builds(lambda name, op, value: f"{name}{op}{quoted(value)}", LABEL_NAMES, st.sampled_from(["=", "!="]), LABEL_VALUES),
    st.builds(lambda name, op, value: f"{name}{op}{quoted(value)}", LABEL_NAMES, st.sampled_from(["=~", "!~"]),
              st.sampled_from([".*", ".+", "claimsd", "2..", "(GET|POST)"])),
)
# A metric name with optional matchers, or matchers of which one cannot match the empty value.
NAMED_SELECTORS = st.builds(
    lambda name, matchers: name + ("{" + ",".join(matchers) + "}" if matchers else ""),
    METRIC_NAMES, st.lists(MATCHER, max_size=3),
)
SELECTORS = st.one_of(
    NAMED_SELECTORS,
    st.builds(lambda name, value, matchers: "{" + ",".join([f"{name}={quoted(value)}"] + matchers) + "}",
              LABEL_NAMES, LABEL_VALUES.filter(bool), st.lists(MATCHER, max_size=2)),
)
RANGES = st.sampled_from(["1m", "5m", "1h", "30s"])
# Expressions whose result is an instant vector or a scalar (what range queries need), built so
# that no evaluation can fail: no vector-to-vector matching, and functions that drop the metric
# name only over one metric's series.
EXPRESSIONS = st.one_of(
    SELECTORS,
    st.builds(lambda s, r: f"rate({s}[{r}])", NAMED_SELECTORS, RANGES),
    st.builds(lambda s, r: f"sum by (job) (rate({s}[{r}]))", SELECTORS, RANGES),
    st.builds(lambda a, s: f"{a}({s})", st.sampled_from(["sum", "count", "max", "min", "avg"]), SELECTORS),
    st.builds(lambda f, s: f"{f}({s})", st.sampled_from(["abs", "ceil", "floor", "sqrt", "timestamp"]), NAMED_SELECTORS),
    st.builds(lambda q, s: f"histogram_quantile({q}, sum by (le) (rate({s}[5m])))", st.sampled_from(["0.5", "0.99"]), NAMED_SELECTORS),
    st.builds(lambda s, op, n: f"{s} {op} {n}", SELECTORS, st.sampled_from(["*", "+", ">", "<=", "== bool"]), st.integers(0, 1000)),
    st.builds(lambda n: f"vector({n})", st.integers(-1000, 1000)),
    st.builds(str, st.integers(-10**6, 10**6)),
    st.just("time()"),
)
schemathesis.openapi.format("promql", EXPRESSIONS)
schemathesis.openapi.format("series-selector", SELECTORS)

EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
LATEST_TIME = 4_102_444_800  # 2100-01-01
PROMETHEUS_TIMES = st.one_of(
    st.integers(0, LATEST_TIME * 1000).map(lambda ms: f"{ms / 1000:.3f}"),
    st.integers(0, LATEST_TIME).map(str),
    st.integers(0, LATEST_TIME).map(lambda s: (EPOCH + datetime.timedelta(seconds=s)).strftime("%Y-%m-%dT%H:%M:%SZ")),
)
schemathesis.openapi.format("prometheus-time", PROMETHEUS_TIMES)
DURATIONS = st.one_of(
    st.builds(lambda n, unit: f"{n}{unit}", st.integers(1, 500), st.sampled_from(["s", "m", "h", "d", "w"])),
    st.sampled_from(["15s", "1m30s", "1h", "2h30m", "1d"]),
    st.integers(1, 86400).map(str),
)
schemathesis.openapi.format("prometheus-duration", DURATIONS)

# The Prometheus text format: at least one sample, optionally with HELP and TYPE lines.
SAMPLE_LINES = st.builds(
    lambda name, labels, value, timestamp: name + ("{" + ",".join(f"{k}={quoted(v)}" for k, v in labels.items()) + "}" if labels else "")
    + f" {value}" + (f" {timestamp}" if timestamp is not None else ""),
    st.from_regex(r"[a-zA-Z_:][a-zA-Z0-9_:]{0,20}", fullmatch=True),
    st.dictionaries(st.from_regex(r"[a-zA-Z][a-zA-Z0-9_]{0,10}", fullmatch=True), LABEL_VALUES, max_size=3),
    st.one_of(st.integers(-10**9, 10**9).map(str), st.floats(allow_nan=False, allow_infinity=False, width=32).map(repr), st.sampled_from(["NaN", "+Inf", "-Inf"])),
    st.one_of(st.none(), st.integers(0, LATEST_TIME * 1000)),
)
schemathesis.openapi.format(
    "prometheus-text",
    st.lists(SAMPLE_LINES, min_size=1, max_size=5).map(lambda lines: "\n".join(lines) + "\n"),
)


def seconds(text):
    """A Prometheus time or duration as written by the strategies above, in seconds; None otherwise."""
    if not isinstance(text, str):
        return None
    try:
        return float(text)
    except ValueError:
        pass
    try:
        return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc).timestamp()
    except ValueError:
        pass
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
    total, number = 0.0, ""
    index = 0
    while index < len(text):
        if text[index].isdigit():
            number += text[index]
            index += 1
            continue
        unit = text[index:index + 2] if text[index:index + 2] == "ms" else text[index]
        if not number or unit not in units:
            return None
        total += int(number) * units[unit]
        number = ""
        index += len(unit)
    return total if not number and total > 0 else None


def fit_range(values):
    """end ≥ start and at most 11,000 points, when start, end and step are all valid."""
    if not isinstance(values, dict):
        return values
    start, end, step = (seconds(values.get(name)) for name in ("start", "end", "step"))
    if start is None or end is None or step is None:
        return values
    values = dict(values)
    if end < start:
        values["start"], values["end"] = values["end"], values["start"]
        start, end = end, start
    if (end - start) / step > 11_000:
        values["step"] = str(int((end - start) / 11_000) + 1)
    return values


def ordered(values):
    """start not after end, when both are valid times."""
    if not isinstance(values, dict):
        return values
    start, end = seconds(values.get("start")), seconds(values.get("end"))
    if start is None or end is None or start <= end:
        return values
    return dict(values, start=values["end"], end=values["start"])


@schemathesis.hook
def map_query(ctx, query):
    path = ctx.operation.path if ctx.operation is not None else None
    if path == "/api/v1/query_range":
        return fit_range(query)
    if path == "/api/v1/admin/tsdb/delete_series":
        return ordered(query)
    return query


@schemathesis.hook
def map_body(ctx, body):
    if ctx.operation is None:
        return body
    path = ctx.operation.path
    if path == "/api/v1/query_range":
        return fit_range(body)
    if path in ("/api/v1/claims", "/claims", "/api/v1/claims/{id}"):
        return one_provider(body)
    return body


MONEY_FIELDS = ("provider_fees", "allowed_fees", "member_coinsurance", "member_copay")


def one_provider(body):
    """The lines of a claim share the first line's NPI, when every line's NPI is a valid one.

    Also writes integral NPIs as integers, and amounts that are a whole number of cents as such: Hypothesis builds multiples of
    0.01 by multiplication, and 57 * 0.01 is 0.5700000000000001 in binary floating point.
    """
    lines = body.get("lines") if isinstance(body, dict) and "lines" in body else body if isinstance(body, list) else [body]
    if not isinstance(lines, list) or not all(isinstance(line, dict) for line in lines):
        return body
    for line in lines:
        # JSON Schema counts 8957169267.0 as an integer; JSON text keeps the ".0", which is not
        # ten digits. Written as the integer it is.
        npi = line.get("provider_npi")
        if isinstance(npi, float) and npi.is_integer():
            line["provider_npi"] = int(npi)
        for field in MONEY_FIELDS:
            amount = line.get(field)
            if isinstance(amount, float) and math.isfinite(amount * 100) and abs(amount * 100 - round(amount * 100)) < 1e-6:
                line[field] = round(amount, 2)
    if len(lines) < 2:
        return body
    npis = [line.get("provider_npi") for line in lines]
    if not all(isinstance(npi, (str, int)) and not isinstance(npi, bool) and str(npi).isdigit() and len(str(npi)) == 10 for npi in npis):
        return body
    for line in lines:
        line["provider_npi"] = npis[0]
    return body


# ------------------------------------------------- query-string equivalence

@schemathesis.hook
def filter_case(ctx, case):
    """Drops a "schema-violating" request whose query or form text is one a valid request sends.

    A query string and a form are text: a mutation that turns `match[]` into the boolean `true`
    (or null) sends `match[]=true`, which selects the metric named `true`; one that turns `limit`,
    `start`, `end`, `time` or `timeout` into the empty string (or an empty object or list) sends
    `limit=`, which Prometheus (and claimsd) read as no value at all. Neither is an
    invalid request on the wire, so neither can be expected to be refused.
    """
    meta = getattr(case, "meta", None)
    mode = getattr(getattr(getattr(meta, "generation", None), "mode", None), "value", None)
    if mode != "negative":
        return True
    for values in (case.query, case.body):
        if not isinstance(values, dict):
            continue
        selectors = values.get("match[]")
        if any(item is None or isinstance(item, bool) for item in (selectors if isinstance(selectors, list) else [selectors])):
            return False  # sent as match[]=true, match[]=null: metric names
        for name in ("limit", "start", "end", "time", "timeout"):
            value = values.get(name, 0)
            if value == "" or (isinstance(value, (dict, list)) and not value):  # sent as `name=`
                return False
    return True


# ----------------------------------------------------------- NDJSON bodies

@schemathesis.serializer("application/x-ndjson")
def ndjson(ctx, value):
    """NDJSON import bodies: text is sent as its UTF-8 bytes; any other value as one JSON text."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    return json.dumps(value).encode("utf-8")
