"""Product testing (产品质量检验): batches sampled at enterprises, one row each as the laboratory
reports it, by one of two programmes that are reported apart and never pooled (``kind``,
gis/models.py SpotCheck): supervision sampling (监督抽查: national, provincial or city) and
periodic supervisory testing (定期监督检验).

A batch is entered by hand (``record_batch``) or imported from the laboratory's table
(``import_batches``: XLSX, or CSV as Excel saves it in GBK, or UTF-8; Chinese or English
headers, ``COLUMNS``; full-width letters, digits and punctuation read as their ASCII forms in
codes, dates and the words of the closed columns). Either way a batch is keyed by the
laboratory's report number: the same report again changes nothing; a report whose values
changed is updated, and the summary names the fields. An import is one transaction: one bad
row and nothing is written, and the refusal lists every bad row with its field and reason.

A batch counts as ``batches`` 1 and ``passed`` 1 or 0, so the wall's figures (batches, pass
rate per programme, failed batches: gis/wall.py) are sums over these rows. A failed batch
(不合格) opens one rectification (整改, gis/rectification.py) for its enterprise, due
``deadline_days`` after the sampling date unless a deadline is given.
"""
from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.orm import Session

from gis import dates, policy, tables
from gis.errors import GridWatchError, ImportRefused, RowProblem
from gis.limits import Limits
from gis.rectification import open_rectification
from gis.users import cell_path
from gis.validation import ValidationError, check_text

# field -> accepted headers (the canonical English one first, then the Chinese one).
COLUMNS: dict[str, tuple[str, ...]] = {
    "report_number": ("report_number", "报告编号", "检验报告编号", "报告号"),
    "management_code": ("management_code", "企业管理编码", "管理编码"),
    "credit_code": ("credit_code", "统一社会信用代码", "信用代码"),
    "enterprise_name": ("enterprise_name", "企业名称", "受检单位", "被抽样单位", "生产单位"),
    "product": ("product", "产品名称", "样品名称"),
    "batch_number": ("batch_number", "批号", "生产批号", "批号/生产日期"),
    "sampled_on": ("sampled_on", "抽样日期", "抽样时间"),
    "kind": ("kind", "检验类别", "抽检类别"),
    "level": ("level", "抽查级别", "级别"),
    "laboratory": ("laboratory", "检验机构", "承检机构"),
    "result": ("result", "检验结论", "结论", "判定结论"),
    "failed_items": ("failed_items", "不合格项目"),
    "deadline": ("deadline", "整改期限"),
}
ENTERPRISE_FIELDS = ("management_code", "credit_code", "enterprise_name")
REQUIRED = ("report_number", ENTERPRISE_FIELDS, "product", "sampled_on", "kind", "result")

# The words of the closed columns, folded (NFKC, lower case, no spaces) -> the stored value.
KIND_WORDS = {"监督抽查": "spot_check", "抽查": "spot_check", "spot_check": "spot_check",
              "定期监督检验": "periodic", "定期检验": "periodic", "periodic": "periodic"}
LEVEL_WORDS = {"国家": "national", "国家级": "national", "国抽": "national",
               "national": "national", "省": "provincial", "省级": "provincial",
               "省抽": "provincial", "provincial": "provincial", "市": "city", "市级": "city",
               "市抽": "city", "city": "city"}
RESULT_WORDS = {"合格": True, "pass": True, "passed": True,
                "不合格": False, "fail": False, "failed": False}
# The words a refusal offers (the file's own language).
CHOICES = {"kind": "监督抽查, 定期监督检验", "level": "国家, 省, 市", "result": "合格, 不合格"}
# The database's widths (gis/models.py SpotCheck), so a long value is a refusal naming the row.
MAX_LENGTH = {"report_number": 64, "batch_number": 64, "laboratory": 200, "product": 200,
              "failed_items": 2000, "enterprise_name": 200, "management_code": 40,
              "credit_code": 18}
# Several failed items in one field: 净含量、标签 (or , ; and their full-width forms).
ITEM_SEPARATORS = re.compile(r"\s*[,;、]\s*")
# Days a failed batch's enterprise has to correct it, from the sampling date (the app passes
# FAILED_BATCH_RECTIFICATION_DAYS).
DEADLINE_DAYS = 30


class NotAllowed(GridWatchError):
    """The user may not record testing for this enterprise (policy ``record_testing``)."""

    def __init__(self, management_code: str):
        super().__init__(f"not allowed to record testing for enterprise {management_code}")
        self.management_code = management_code


@dataclass
class Batch:
    """One sampled batch, checked: the values ``spot_check`` stores, and the enterprise's
    place (``path``) permissions are judged at."""

    report_number: str
    enterprise_id: int
    management_code: str
    enterprise: str
    path: tuple[int, ...]
    kind: str
    level: str
    product: str
    batch_number: str | None
    checked_on: dt.date
    laboratory: str | None
    passed: bool
    failed_items: str | None
    deadline: dt.date | None = None
    row: int | None = None

    def columns(self) -> dict:
        return {"enterprise_id": self.enterprise_id, "kind": self.kind, "level": self.level,
                "product": self.product, "batch_number": self.batch_number,
                "checked_on": self.checked_on, "laboratory": self.laboratory, "batches": 1,
                "passed": int(self.passed), "failed_items": self.failed_items}


# A stored column -> the field people give it as (what a change names).
_FIELD_OF = {"enterprise_id": "enterprise", "checked_on": "sampled_on", "passed": "result",
             "batches": "result"}


@dataclass
class Outcome:
    """What saving one batch did: ``status`` inserted/updated/unchanged, the fields changed,
    the batch's rectification (``rectification_opened``: by this save)."""

    id: int
    report_number: str
    management_code: str
    enterprise: str
    product: str
    kind: str
    passed: bool
    status: str
    changed: list[str] = field(default_factory=list)
    rectification_id: int | None = None
    rectification_opened: bool = False
    row: int | None = None


@dataclass
class TestingSummary:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    refused: int = 0  # an import never skips rows: one bad row and nothing is written
    rectifications: int = 0
    batches: list[Outcome] = field(default_factory=list)
    problems: list[RowProblem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.batches if not o.passed]

    def line(self) -> str:
        return (f"inserted {self.inserted}, updated {self.updated}, unchanged "
                f"{self.unchanged}; failed batches {len(self.failed)}, rectifications opened "
                f"{self.rectifications}")


# --- checking one batch -------------------------------------------------------------------------

def _folded(value) -> str:
    return unicodedata.normalize("NFKC", str(value if value is not None else "")).strip()


def _text(name: str, value) -> str | None:
    """Free text as given (stripped); None when empty."""
    value = str(value if value is not None else "").strip()
    if not value:
        return None
    check_text(name, value)
    if name in MAX_LENGTH and len(value) > MAX_LENGTH[name]:
        raise ValidationError(name, f"at most {MAX_LENGTH[name]} characters", "max_length",
                              n=MAX_LENGTH[name])
    return value


def _code(name: str, value) -> str | None:
    """A code or number: full-width forms folded, spaces inside refused."""
    value = _text(name, _folded(value))
    if value is not None and re.search(r"\s", value):
        raise ValidationError(name, "a code has no spaces", "pattern")
    return value


def _word(name: str, value, words: dict):
    folded = re.sub(r"\s+", "", _folded(value)).lower()
    if not folded:
        return None
    if folded not in words:
        raise ValidationError(name, f"one of {CHOICES[name]}", "choices", choices=CHOICES[name])
    return words[folded]


def _items(value) -> str | None:
    """Failed items, one list however the laboratory separated them: 净含量、标签."""
    value = _text("failed_items", value)
    if value is None:
        return None
    parts = [p for p in ITEM_SEPARATORS.split(unicodedata.normalize("NFKC", value)) if p]
    return "、".join(parts) or None


def _enterprise(session: Session, values: dict, cache: dict) -> tuple:
    """(id, management code, name, cell path) of the enterprise a row names: by management
    code, else credit code, else exact name (full-width forms folded on both sides); when
    both codes are given they must name the same enterprise."""
    found = []
    for name, sql in (("management_code", "e.management_code = :v"),
                      ("credit_code", "e.credit_code = upper(:v)"),
                      ("enterprise_name", "normalize(e.name, NFKC) = normalize(:v, NFKC)")):
        value = values.get(name)
        if value is None or (found and name == "enterprise_name"):
            continue
        key = (name, value)
        if key not in cache:
            cache[key] = session.execute(text(f"""
                SELECT e.id, e.management_code, e.name, ec.cell_id FROM enterprise e
                LEFT JOIN enterprise_cell_current ec ON ec.enterprise_id = e.id
                WHERE {sql} ORDER BY e.management_code LIMIT 2"""), {"v": value}).all()
        rows = cache[key]
        if not rows:
            raise ValidationError(name, f"there is no enterprise {value}", "no_such_target",
                                  kind="enterprise", name=value)
        if len(rows) > 1:
            raise ValidationError(name, f"several enterprises are {value}; give the "
                                  "management code", "several_enterprises", name=value)
        if found and found[0].id != rows[0].id:
            raise ValidationError(name, f"{value} is enterprise {rows[0].management_code}, "
                                  f"not {found[0].management_code}", "other_enterprise",
                                  name=value, enterprise=found[0].management_code)
        found.append(rows[0])
    if not found:
        raise ValidationError("management_code", "required: the management code, credit code "
                              "or name of the enterprise", "enterprise_required")
    e = found[0]
    if ("path", e.cell_id) not in cache:
        cache[("path", e.cell_id)] = cell_path(session, e.cell_id)
    return e.id, e.management_code, e.name, cache[("path", e.cell_id)]


def check_batch(session: Session, values: dict, *, today: dt.date,
                cache: dict | None = None) -> tuple[Batch | None, list[ValidationError]]:
    """Check one batch given as {field: value} (``COLUMNS``' fields; values as typed or as a
    file holds them). Returns (the batch, []) or (None, every problem found)."""
    cache = {} if cache is None else cache
    errors: list[ValidationError] = []
    got: dict = {}

    def take(name, reader, *args):
        try:
            got[name] = reader(name, values.get(name), *args)
        except ValidationError as exc:
            errors.append(exc)
            got[name] = None

    for name in ("report_number", "management_code", "credit_code", "batch_number"):
        take(name, _code)
    for name in ("enterprise_name", "product", "laboratory"):
        take(name, _text)
    take("kind", _word, KIND_WORDS)
    take("level", _word, LEVEL_WORDS)
    take("result", _word, RESULT_WORDS)
    try:
        got["failed_items"] = _items(values.get("failed_items"))
    except ValidationError as exc:
        errors.append(exc)
    for name in ("sampled_on", "deadline"):
        value = values.get(name)
        got[name] = None
        if value not in (None, "") and str(value).strip():
            try:
                got[name] = dates.parse_written_date(value, name)
            except ValidationError as exc:
                errors.append(exc)
    for name in ("report_number", "product", "sampled_on", "kind", "result"):
        if got.get(name) is None and not any(e.field == name for e in errors):
            errors.append(ValidationError(name, "required", "required"))
    if got["kind"] == "spot_check" and got["level"] is None and \
            not any(e.field == "level" for e in errors):
        errors.append(ValidationError("level", "required for supervision sampling (监督抽查): "
                                      + CHOICES["level"], "level_required",
                                      choices=CHOICES["level"]))
    if got["result"] is False and not got.get("failed_items") and \
            not any(e.field == "failed_items" for e in errors):
        errors.append(ValidationError("failed_items", "required for a failed batch",
                                      "failed_items_required"))
    if got["result"] is True and got.get("failed_items"):
        errors.append(ValidationError("failed_items", "a batch that passed has no failed items",
                                      "failed_items_passed"))
    if got["sampled_on"] is not None and got["sampled_on"] > today:
        errors.append(ValidationError("sampled_on", f"after today ({today})", "after_today",
                                      day=today.isoformat()))
    if got["deadline"] is not None and got["sampled_on"] is not None and \
            got["deadline"] < got["sampled_on"]:
        errors.append(ValidationError("deadline", "before the sampling date", "before",
                                      other="sampled_on"))
    enterprise = None
    if not any(e.field in ENTERPRISE_FIELDS for e in errors):
        try:
            enterprise = _enterprise(session, got, cache)
        except ValidationError as exc:
            errors.append(exc)
    if errors:
        return None, errors
    eid, code, name, path = enterprise
    return Batch(report_number=got["report_number"], enterprise_id=eid, management_code=code,
                 enterprise=name, path=path, kind=got["kind"],
                 level=got["level"] or "city", product=got["product"],
                 batch_number=got["batch_number"], checked_on=got["sampled_on"],
                 laboratory=got["laboratory"], passed=got["result"],
                 failed_items=got["failed_items"], deadline=got["deadline"]), []


def problem_of(batch: Batch) -> str:
    """The rectification's problem: what failed, in which batch and report."""
    what = batch.product + (f" {batch.batch_number}" if batch.batch_number else "")
    return f"{what} ({batch.report_number}): {batch.failed_items}"


# --- saving ------------------------------------------------------------------------------------

def save_batch(session: Session, batch: Batch, *, username: str | None = None,
               deadline_days: int = DEADLINE_DAYS) -> Outcome:
    """Insert the batch, or update the stored report of the same number (``changed`` names the
    fields), or leave it (unchanged). A failed batch without a rectification gets one."""
    values = batch.columns()
    row = session.execute(text("""
        SELECT id, enterprise_id, kind, level, product, batch_number, checked_on, laboratory,
               batches, passed, failed_items FROM spot_check WHERE report_number = :r
        FOR UPDATE"""), {"r": batch.report_number}).one_or_none()
    changed: list[str] = []
    if row is None:
        sid = session.execute(text("""
            INSERT INTO spot_check (report_number, enterprise_id, kind, level, product,
                                    batch_number, checked_on, laboratory, batches, passed,
                                    failed_items, username)
            VALUES (:report_number, :enterprise_id, :kind, :level, :product, :batch_number,
                    :checked_on, :laboratory, :batches, :passed, :failed_items, :username)
            RETURNING id"""), {**values, "report_number": batch.report_number,
                               "username": username}).scalar()
        status = "inserted"
    else:
        sid = row.id
        stored = row._mapping
        changed = sorted({_FIELD_OF.get(k, k) for k, v in values.items() if stored[k] != v})
        status = "updated" if changed else "unchanged"
        if changed:
            session.execute(text("""
                UPDATE spot_check SET enterprise_id = :enterprise_id, kind = :kind,
                       level = :level, product = :product, batch_number = :batch_number,
                       checked_on = :checked_on, laboratory = :laboratory, batches = :batches,
                       passed = :passed, failed_items = :failed_items, username = :username,
                       recorded_at = now()
                WHERE id = :id"""), {**values, "id": sid, "username": username})
    outcome = Outcome(id=sid, report_number=batch.report_number,
                      management_code=batch.management_code, enterprise=batch.enterprise,
                      product=batch.product, kind=batch.kind, passed=batch.passed,
                      status=status, changed=changed, row=batch.row)
    outcome.rectification_id = session.execute(text(
        "SELECT min(id) FROM rectification WHERE spot_check_id = :s"), {"s": sid}).scalar()
    if not batch.passed and outcome.rectification_id is None:
        outcome.rectification_id = open_rectification(
            session, enterprise_id=batch.enterprise_id, spot_check_id=sid,
            problem=problem_of(batch), username=username,
            deadline=batch.deadline or batch.checked_on + dt.timedelta(days=deadline_days))
        outcome.rectification_opened = True
    elif changed and not batch.passed:
        # A corrected report: the rectification not yet acted on says what the report says now.
        session.execute(text("""
            UPDATE rectification SET problem = :p, enterprise_id = :e
            WHERE spot_check_id = :s AND status = 'open'"""),
            {"p": problem_of(batch), "e": batch.enterprise_id, "s": sid})
    return outcome


def record_batch(session: Session, values: dict, *, today: dt.date,
                 username: str | None = None, grants=None,
                 deadline_days: int = DEADLINE_DAYS) -> Outcome:
    """One batch entered by hand: {field: value} with ``COLUMNS``' English fields. Raises the
    first ValidationError (naming its field) when any is wrong; NotAllowed when ``grants``
    (None: the server's operator) may not ``record_testing`` at the enterprise."""
    unknown = sorted(set(values) - set(COLUMNS))
    if unknown:
        raise ValidationError(unknown[0], "unknown field", "unknown_field")
    batch, errors = check_batch(session, values, today=today)
    if errors:
        raise errors[0]
    if grants is not None and not policy.can(grants, "record_testing", batch.path):
        raise NotAllowed(batch.management_code)
    return save_batch(session, batch, username=username, deadline_days=deadline_days)


# --- files -------------------------------------------------------------------------------------

def _records(source, limits: Limits | None) -> tuple[str, list[tuple[int, dict]]]:
    """(source name, [(row number as the sheet shows it, {header: value})]) of a table file,
    or of rows given as dicts (numbered from 2: the header is row 1)."""
    if isinstance(source, (str, Path)):
        frame = tables.read_table(source, limits)
        return str(source), list(zip(frame.index, frame.to_dict("records")))
    return "rows", [(i, dict(r)) for i, r in enumerate(source, start=2)]


def import_batches(session: Session, source, *, today: dt.date, username: str | None = None,
                   grants=None, deadline_days: int = DEADLINE_DAYS,
                   limits: Limits | None = None) -> TestingSummary:
    """``flask testing import`` and the upload page: the laboratory's table (a path to XLSX or
    CSV, or a list of {header: value} rows), checked whole, then saved in the caller's
    transaction. Raises ImportRefused listing every bad row (第 N 行: field: reason) before
    anything is written. ``grants`` (None: the server's operator) must allow
    ``record_testing`` at each row's enterprise."""
    name, records = _records(source, limits)
    headers = list(dict.fromkeys(h for _row, rec in records for h in rec))
    mapping = tables.map_columns(headers, COLUMNS, REQUIRED, name)
    problems: list[RowProblem] = []
    batches: list[Batch] = []
    seen: dict[str, int] = {}
    cache: dict = {}
    for rowno, rec in records:
        values = {f: rec.get(col) for col, f in mapping.items()}
        report = _folded(values.get("report_number"))[:64]
        where = f"row {rowno}" + (f" ({report})" if report else "")
        batch, errors = check_batch(session, values, today=today, cache=cache)
        if batch is not None:
            if batch.report_number in seen:
                errors.append(ValidationError("report_number", f"{batch.report_number} repeats "
                                              f"row {seen[batch.report_number]}",
                                              "repeats_row", row=seen[batch.report_number]))
            elif grants is not None and not policy.can(grants, "record_testing", batch.path):
                errors.append(ValidationError(
                    "management_code", f"not allowed to record testing for enterprise "
                    f"{batch.management_code}", "testing_not_allowed",
                    enterprise=batch.management_code))
            seen.setdefault(batch.report_number, rowno)
        if errors:
            problems.extend(RowProblem(where, str(e), rowno, e) for e in errors)
            continue
        batch.row = rowno
        batches.append(batch)
    if problems:
        raise ImportRefused(name, problems)
    if not batches:
        raise ValidationError("file", "no batches in the file", "no_rows")
    summary = TestingSummary()
    for batch in batches:
        outcome = save_batch(session, batch, username=username, deadline_days=deadline_days)
        summary.batches.append(outcome)
        setattr(summary, outcome.status, getattr(summary, outcome.status) + 1)
        summary.rectifications += int(outcome.rectification_opened)
        if outcome.changed:
            summary.notes.append(f"report {outcome.report_number} (row {batch.row}): changed "
                                 + ", ".join(outcome.changed))
        if outcome.rectification_opened:
            summary.notes.append(f"report {outcome.report_number} failed: rectification "
                                 f"{outcome.rectification_id} opened")
        elif outcome.passed and outcome.rectification_id is not None:
            summary.notes.append(f"report {outcome.report_number} passes now; its "
                                 f"rectification {outcome.rectification_id} stays as it is")
    return summary


def get_batch(session: Session, spot_check_id: int) -> dict | None:
    """One stored batch with its enterprise and rectification."""
    row = session.execute(text("""
        SELECT k.id, k.report_number, k.kind, k.level, k.product, k.batch_number, k.checked_on,
               k.laboratory, k.batches, k.passed, k.failed_items, e.management_code,
               e.name AS enterprise, ec.cell_id,
               (SELECT min(r.id) FROM rectification r WHERE r.spot_check_id = k.id)
                   AS rectification_id
        FROM spot_check k JOIN enterprise e ON e.id = k.enterprise_id
        LEFT JOIN enterprise_cell_current ec ON ec.enterprise_id = e.id
        WHERE k.id = :s"""), {"s": spot_check_id}).one_or_none()
    return None if row is None else dict(row._mapping)
