"""The export rules and file formats, each file opened by a real reader (csv, zipfile,
json, openpyxl, pypdf), and the signed links."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import uuid4

import openpyxl
import pytest
from pypdf import PdfReader

from learnstream.exports.adapters.formats import count_csv_rows, render_csv, render_json, render_xlsx
from learnstream.exports.adapters.pdf import render_certificate, render_pdf
from learnstream.exports.domain.exports import (
    COURSE_SECTIONS,
    PDF_TABLE_ROWS,
    Column,
    InvalidExport,
    Report,
    Table,
    course_export,
    creator_export,
    recommendations,
)
from learnstream.exports.service_layer.services import ExportService
from learnstream.runtime.problems import Problem

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def students(count: int) -> Table:
    rows = [
        {
            "name": f'Learner {i:05d}, "quoted"' if i == 0 else f"Learner {i:05d}",
            "progress": round(i * 100 / max(count, 1), 1),
            "timeSpent": i * 60,
            "atRisk": i % 3 == 0,
            "enrolledAt": "2026-11-01T09:30:00.000Z",
            "reasons": ["inactive", "stuck"] if i % 3 == 0 else [],
        }
        for i in range(count)
    ]
    columns = (
        Column("name", "Student"),
        Column("progress", "Progress", "percent"),
        Column("timeSpent", "Time spent (s)", "seconds"),
        Column("atRisk", "At risk", "bool"),
        Column("enrolledAt", "Enrolled", "datetime"),
        Column("reasons", "Risk reasons"),
    )
    return Table("students", "Students", columns, rows)


def report(*tables: Table, charts: dict | None = None) -> Report:
    return Report(
        title="Course report: Python 101",
        subtitle="Time zone UTC",
        generated_at=NOW,
        period=(NOW - timedelta(days=30), NOW),
        tables=list(tables),
        figures=[("Students", "245 (+12% vs previous period)"), ("Completion rate", "18.4%")],
        charts=charts or {},
        recommendations=["Lesson 5 loses 40% of its learners."],
    )


def funnel() -> Table:
    rows = [
        {"label": "Enrolled", "count": 10, "percentage": 100.0, "dropOff": 0.0},
        {"label": "Completed", "count": 4, "percentage": 40.0, "dropOff": 60.0},
    ]
    return Table(
        "funnel", "Completion funnel", (Column("label", "Stage"), Column("count", "Students", "int")), rows
    )


def test_one_section_is_one_csv_file_that_the_csv_module_reads_back(tmp_path: Path) -> None:
    path = tmp_path / "out"
    assert render_csv(report(students(25)), path) == "csv"
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # the BOM spreadsheet programs need for UTF-8
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    assert len(rows) == 25
    assert rows[0]["Student"] == 'Learner 00000, "quoted"'
    assert rows[0]["At risk"] == "yes" and rows[1]["At risk"] == "no"
    assert rows[0]["Risk reasons"] == "inactive; stuck"


def test_several_sections_are_a_zip_of_one_csv_each(tmp_path: Path) -> None:
    path = tmp_path / "out"
    assert render_csv(report(students(3), funnel()), path) == "zip"
    with zipfile.ZipFile(path) as archive:
        assert archive.namelist() == ["students.csv", "funnel.csv"]
        rows = list(csv.reader(io.StringIO(archive.read("funnel.csv").decode("utf-8-sig"))))
    assert rows == [["Stage", "Students"], ["Enrolled", "10"], ["Completed", "4"]]


def _upstream(tmp_path: Path, keys: str) -> Path:
    """Rows as analytics' ClickHouse writes them: every text quoted, CRLF, a header of keys."""
    path = tmp_path / "rows.csv"
    path.write_bytes(
        f"{keys}\r\n".encode()
        + b'"Ada ""the first"" Lovelace",12.5,"yes","inactive; stuck"\r\n'
        + '"Bo\r\nNewline Ö",100,"no",""\r\n'.encode()
    )
    return path


UPSTREAM_COLUMNS = (
    Column("name", "Student"),
    Column("progress", "Progress", "percent"),
    Column("atRisk", "At risk", "bool"),
    Column("reasons", "Risk reasons"),
)


def test_rows_written_upstream_are_copied_under_the_readable_header(tmp_path: Path) -> None:
    source = _upstream(tmp_path, '"name","progress","atRisk","reasons"')
    assert count_csv_rows(source) == 2  # the line end inside the quoted name is not a row
    table = Table("students", "Students", UPSTREAM_COLUMNS, [], total=2, source=source)
    assert report(table).row_count == 2
    assert render_csv(report(table), tmp_path / "one.csv") == "csv"
    raw = (tmp_path / "one.csv").read_bytes()
    assert raw.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"), newline="")))
    assert rows == [
        ["Student", "Progress", "At risk", "Risk reasons"],
        ['Ada "the first" Lovelace', "12.5", "yes", "inactive; stuck"],
        ["Bo\r\nNewline Ö", "100", "no", ""],
    ]
    assert render_csv(report(table, funnel()), tmp_path / "two.zip") == "zip"
    with zipfile.ZipFile(tmp_path / "two.zip") as archive:
        assert archive.read("students.csv") == raw
        assert archive.read("funnel.csv").decode("utf-8-sig").startswith("Stage,Students")


def test_rows_written_upstream_with_other_columns_or_for_another_format_are_refused(tmp_path: Path) -> None:
    table = Table(
        "students",
        "Students",
        UPSTREAM_COLUMNS,
        [],
        source=_upstream(tmp_path, "name,progress,reasons,atRisk"),
    )
    with pytest.raises(ValueError, match="columns"):
        render_csv(report(table), tmp_path / "one.csv")
    with pytest.raises(ValueError, match="only a CSV export"):
        render_json(report(table), tmp_path / "one.json")
    with pytest.raises(ValueError, match="only a CSV export"):
        render_xlsx(report(table), tmp_path / "one.xlsx")


def test_json_holds_the_summary_and_each_sections_rows(tmp_path: Path) -> None:
    path = tmp_path / "out"
    render_json(report(students(4), funnel()), path)
    document = json.loads(path.read_text())
    assert document["title"] == "Course report: Python 101"
    assert document["period"]["start"] == "2026-10-31T12:00:00Z"
    assert [row["label"] for row in document["summary"]] == ["Students", "Completion rate"]
    assert len(document["sections"]["students"]["rows"]) == 4
    assert document["sections"]["students"]["columns"][1] == {
        "key": "progress",
        "header": "Progress",
        "type": "percent",
    }
    assert document["sections"]["students"]["rows"][0]["atRisk"] is True


def test_xlsx_has_a_sheet_per_section_with_readable_headers_and_typed_cells(tmp_path: Path) -> None:
    path = tmp_path / "out"
    render_xlsx(report(students(12), funnel()), path)
    book = openpyxl.load_workbook(io.BytesIO(path.read_bytes()))
    assert book.sheetnames == ["Summary", "Students", "Completion funnel"]
    assert book["Summary"]["A1"].value == "Course report: Python 101"
    sheet = book["Students"]
    assert [c.value for c in sheet[1]] == [
        "Student",
        "Progress",
        "Time spent (s)",
        "At risk",
        "Enrolled (UTC)",
        "Risk reasons",
    ]
    rows = list(sheet.iter_rows(min_row=2, values_only=True))
    assert len(rows) == 12
    name, progress, seconds, at_risk, enrolled, reasons = rows[3]
    assert (name, progress, seconds, at_risk) == ("Learner 00003", 25.0, 180, True)
    assert enrolled == datetime(2026, 11, 1, 9, 30)
    assert reasons == "inactive; stuck"
    assert sheet.freeze_panes == "A2"


def test_the_pdf_has_title_period_summary_charts_recommendations_and_tables(tmp_path: Path) -> None:
    path = tmp_path / "out"
    charts = {
        "trends": {
            "enrollmentData": [
                {"date": f"2026-11-{d:02d}", "count": d % 3, "total": d} for d in range(1, 31)
            ],
            "engagementData": [{"date": f"2026-11-{d:02d}", "active": d % 5} for d in range(1, 31)],
        },
        "funnel": funnel().rows,
        "heatmap": [{"dayOfWeek": d, "hour": h, "value": d * h} for d in range(1, 8) for h in range(24)],
        "distribution": [{"range": f"{i * 10}-{i * 10 + 10}", "count": i} for i in range(10)],
    }
    render_pdf(report(students(PDF_TABLE_ROWS + 50), funnel(), charts=charts), path)
    pdf = PdfReader(path)
    text = "\n".join(page.extract_text() for page in pdf.pages)
    assert "Course report: Python 101" in text
    assert "Period: 2026-10-31 12:00 UTC to 2026-11-30 12:00 UTC" in text
    assert "Executive summary" in text and "245 (+12% vs previous period)" in text
    assert "Recommendations" in text and "Lesson 5 loses 40% of its learners." in text
    assert "Learner 00199" in text and "Learner 00200" not in text
    assert f"The first {PDF_TABLE_ROWS} of {PDF_TABLE_ROWS + 50} rows" in text
    assert sum(len(page.images) for page in pdf.pages) == 4


def test_a_certificate_names_the_learner_course_and_its_verification_id(tmp_path: Path) -> None:
    path = tmp_path / "cert.pdf"
    render_certificate(
        path,
        learner="Ada Lovelace",
        course="Analytical Engines",
        instructor="Charles Babbage",
        completed_at=NOW,
        verification_id="LS-ABCD-1234",
        verify_url="http://127.0.0.1:8000/api/certificates/LS-ABCD-1234",
    )
    text = PdfReader(path).pages[0].extract_text()
    assert "Ada Lovelace" in text and "Analytical Engines" in text and "LS-ABCD-1234" in text


@pytest.mark.parametrize(
    ("body", "field", "allowed"),
    [
        ({"format": "docx"}, "format", ("csv", "json", "xlsx", "pdf")),
        ({}, "format", ("csv", "json", "xlsx", "pdf")),
        ({"format": "csv", "sections": ["gossip"]}, "sections", COURSE_SECTIONS),
        ({"format": "csv", "sections": []}, "sections", COURSE_SECTIONS),
        ({"format": "csv", "colour": "red"}, "colour", ("dateRange", "format", "sections")),
        ({"format": "csv", "dateRange": {"start": "2026-11-01"}}, "dateRange", None),
        ({"format": "csv", "dateRange": {"start": "2026-11-01", "end": "yesterday"}}, "dateRange.end", None),
    ],
)
def test_a_course_export_request_names_what_is_wrong_and_what_is_allowed(
    body: dict, field: str, allowed: tuple[str, ...] | None
) -> None:
    with pytest.raises(InvalidExport) as error:
        course_export(uuid4(), body)
    assert error.value.field == field
    assert error.value.allowed == allowed


def test_a_course_export_keeps_the_sections_in_report_order() -> None:
    spec = course_export(uuid4(), {"format": "pdf", "sections": ["at_risk", "summary", "at_risk"]})
    assert spec.sections == ("summary", "at_risk")
    assert course_export(uuid4(), {"format": "csv"}).sections == COURSE_SECTIONS


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"type": "everything", "format": "csv"}, "type"),
        ({"type": "students", "format": "csv", "filters": {"courseId": "x"}}, "filters.courseId"),
        ({"type": "chat", "format": "csv", "filters": {"courseId": "not-a-uuid"}}, "filters.courseId"),
        ({"type": "students", "format": "csv", "filters": {"status": "asleep"}}, "filters.status"),
        ({"type": "chat", "format": "json", "filters": {"startDate": "2026-11-02"}}, "filters"),
    ],
)
def test_a_creator_export_request_names_what_is_wrong(body: dict, field: str) -> None:
    with pytest.raises(InvalidExport) as error:
        creator_export(body)
    assert error.value.field == field


def test_a_creator_export_keeps_its_filters() -> None:
    course = uuid4()
    spec = creator_export(
        {
            "type": "chat",
            "format": "json",
            "filters": {"courseId": str(course), "startDate": "2026-11-01", "endDate": "2026-11-30"},
        }
    )
    assert spec.course_id == course and spec.date_range is not None
    assert spec.describe()["filters"]["startDate"] == "2026-11-01"


def test_recommendations_point_at_the_leaky_stage_lessons_and_at_risk_students() -> None:
    stages = [
        {"label": "Enrolled", "count": 100, "dropOff": 0.0},
        {"label": "Started", "count": 90, "dropOff": 10.0},
        {"label": "50% complete", "count": 40, "dropOff": 55.6},
    ]
    lessons = [
        {"title": "Loops", "dropOffRate": 30.0, "questions": 9},
        {"title": "Intro", "dropOffRate": 2.0, "questions": 0},
    ]
    advice = recommendations(stages, lessons, 12, 100, {"unansweredRate": 0.0})
    assert advice[0].startswith('55.6% of learners stop before "50% complete"')
    assert any('"Loops"' in line and "30%" in line for line in advice)
    assert any("12 of 100 students (12%)" in line for line in advice)
    assert recommendations([], [], 0, 0, {})[0].startswith("No weak spot")


def service() -> ExportService:
    return ExportService(
        None,  # type: ignore[arg-type]  # links are checked before any database read
        None,  # type: ignore[arg-type]
        None,  # type: ignore[arg-type]
        None,  # type: ignore[arg-type]
        signing_key=b"k" * 32,
        public_base_url="http://127.0.0.1:8000/",
        link_ttl=timedelta(hours=24),
    )


async def test_a_link_is_signed_for_its_export_and_expiry_and_anything_changed_is_refused() -> None:
    exports = service()
    export_id = uuid4()
    expires_at = datetime.now(UTC) + timedelta(hours=24)
    link = exports.link(export_id, expires_at)
    assert link.startswith(f"http://127.0.0.1:8000/api/exports/{export_id}/download?expires=")
    expires = int(expires_at.timestamp())
    signature = link.rsplit("signature=", 1)[1]
    for changed in (
        (uuid4(), expires, signature),
        (export_id, expires + 1, signature),
        (export_id, expires, signature[:-1] + ("A" if signature[-1] != "A" else "B")),
    ):
        with pytest.raises(Problem) as refused:
            await exports.download(*changed)
        assert refused.value.status_code == 403
    past = int((datetime.now(UTC) - timedelta(seconds=1)).timestamp())
    with pytest.raises(Problem) as expired:
        await exports.download(export_id, past, exports._signature(export_id, past))
    assert expired.value.status_code == 403 and "expired" in str(expired.value.detail)
