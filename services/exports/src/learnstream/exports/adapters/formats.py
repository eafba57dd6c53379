"""CSV, JSON and XLSX files from a :class:`~learnstream.exports.domain.exports.Report`.

CSV: one table is one ``.csv`` file (UTF-8 with a byte-order mark, which spreadsheet
programs need to read it as UTF-8); several are a ``.zip`` of one file per section.
JSON: one document with the title, period, summary and each section's rows. XLSX
(xlsxwriter in constant-memory mode, so a sheet of 100,000 rows does not sit in
memory): one sheet per section with readable headers, typed cells (numbers, dates,
percentages) and a frozen header row. Each renderer writes to a path and returns the
media type and the file name a download should carry.
"""

from __future__ import annotations

import csv
import io
import re
import shutil
import zipfile
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import IO, Any

import orjson
import xlsxwriter

from learnstream.exports.domain.exports import Column, Report, Table

BOM = "\ufeff".encode()
MEDIA_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "zip": "application/zip",
    "json": "application/json",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pdf": "application/pdf",
}


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60] or "export"


def _cell_text(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return "; ".join(str(v) for v in value)
    return value


def _write_csv(out: io.TextIOBase, table: Table) -> None:
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([column.header for column in table.columns])
    keys = [column.key for column in table.columns]
    # the csv module writes numbers, text and None ("") itself; only yes/no and lists are
    # turned into text here, column by column (a call per cell costs a third of the time)
    first = table.rows[0] if table.rows else {}
    special = [
        index
        for index, column in enumerate(table.columns)
        if column.kind == "bool" or isinstance(first.get(column.key), list | bool)
    ]
    if not special:
        writer.writerows([row.get(key) for key in keys] for row in table.rows)
        return
    for row in table.rows:
        values = [row.get(key) for key in keys]
        for index in special:
            values[index] = _cell_text(values[index])
        writer.writerow(values)


def _copy_csv(out: IO[bytes], table: Table) -> None:
    """The readable header, then the rows of ``table.source`` after its header of keys."""
    assert table.source is not None
    text = io.StringIO()
    csv.writer(text, lineterminator="\r\n").writerow([column.header for column in table.columns])
    out.write(text.getvalue().encode())
    with table.source.open("rb") as rows:
        keys = next(csv.reader([rows.readline().decode()]), [])
        if keys != [column.key for column in table.columns]:
            raise ValueError(f"the {table.name} rows have the columns {keys}, not the section's")
        shutil.copyfileobj(rows, out, 1 << 20)


def count_csv_rows(path: Path) -> int:
    """Rows of a CSV file after its header: line ends outside quotes (a cell may hold one)."""
    rows = quotes = 0
    with path.open("rb") as lines:
        for line in lines:
            quotes += line.count(b'"')
            if quotes % 2 == 0:
                rows += 1
    return max(rows - 1, 0)


def render_csv(report: Report, path: Path) -> str:
    """One section as a .csv, several as a .zip of one .csv each; returns the extension."""
    if len(report.tables) == 1:
        table = report.tables[0]
        if table.source is not None:
            with path.open("wb") as out:
                out.write(BOM)
                _copy_csv(out, table)
            return "csv"
        with path.open("w", encoding="utf-8-sig", newline="") as text_out:
            _write_csv(text_out, table)
        return "csv"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
        for table in report.tables:
            with archive.open(f"{table.name}.csv", "w") as member:
                member.write(BOM)
                if table.source is not None:
                    _copy_csv(member, table)
                else:
                    with io.TextIOWrapper(member, encoding="utf-8", newline="") as text:
                        _write_csv(text, table)
    return "zip"


def _held(report: Report) -> None:
    for table in report.tables:
        if table.source is not None:
            raise ValueError(f"the {table.name} rows are a CSV file: only a CSV export can hold them")


def render_json(report: Report, path: Path) -> str:
    _held(report)
    document = {
        "title": report.title,
        "subtitle": report.subtitle,
        "generatedAt": report.generated_at,
        "period": {"start": report.period[0], "end": report.period[1]} if report.period else None,
        "summary": [{"label": label, "value": value} for label, value in report.figures],
        "recommendations": report.recommendations,
        "sections": {
            table.name: {
                "title": table.title,
                "columns": [{"key": c.key, "header": c.header, "type": c.kind} for c in table.columns],
                "rows": [{c.key: row.get(c.key) for c in table.columns} for row in table.rows],
            }
            for table in report.tables
        },
    }
    path.write_bytes(orjson.dumps(document, option=orjson.OPT_INDENT_2 | orjson.OPT_UTC_Z))
    return "json"


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    # Excel has no time zones: cells hold UTC, the header says so
    return moment.replace(tzinfo=None)


def render_xlsx(report: Report, path: Path) -> str:
    _held(report)
    book = xlsxwriter.Workbook(
        str(path), {"constant_memory": True, "strings_to_numbers": False, "strings_to_urls": False}
    )
    try:
        bold = book.add_format({"bold": True, "bg_color": "#E8EEF7", "border": 1, "text_wrap": True})
        formats = {
            "datetime": book.add_format({"num_format": "yyyy-mm-dd hh:mm"}),
            "percent": book.add_format({"num_format": "0.0\\%"}),
            "float": book.add_format({"num_format": "0.0"}),
            "seconds": book.add_format({"num_format": "#,##0"}),
            "int": book.add_format({"num_format": "#,##0"}),
        }
        title_format = book.add_format({"bold": True, "font_size": 14})
        summary = book.add_worksheet("Summary")
        summary.set_column(0, 0, 34)
        summary.set_column(1, 1, 60)
        summary.write(0, 0, report.title, title_format)
        summary.write(1, 0, report.subtitle)
        line = 3
        for label, value in report.figures:
            summary.write(line, 0, label, bold)
            summary.write(line, 1, value)
            line += 1
        if report.recommendations:
            line += 1
            summary.write(line, 0, "Recommendations", bold)
            for advice in report.recommendations:
                line += 1
                summary.write(line, 0, "•")
                summary.write(line, 1, advice)
        used = {"summary"}
        # the summary section is the Summary sheet above, with the recommendations
        for table in (t for t in report.tables if t.name != "summary"):
            name = _sheet_name(table.title, used)
            sheet = book.add_worksheet(name)
            _write_sheet(sheet, table, bold, formats)
    finally:
        book.close()
    return "xlsx"


def _sheet_name(title: str, used: set[str]) -> str:
    base = re.sub(r"[\[\]:*?/\\]", " ", title)[:28].strip() or "Sheet"
    name, n = base, 2
    while name.lower() in used:
        name = f"{base[:25]} {n}"
        n += 1
    used.add(name.lower())
    return name


def _write_sheet(sheet: Any, table: Table, bold: Any, formats: dict[str, Any]) -> None:
    columns = table.columns
    for index, column in enumerate(columns):
        header = column.header + (" (UTC)" if column.kind == "datetime" else "")
        width = max(10, min(48, len(header) + 2)) if column.kind != "text" else 24
        sheet.set_column(index, index, width)
        sheet.write(0, index, header, bold)
    sheet.freeze_panes(1, 0)
    writers: list[Callable[[int, int, Any], None]] = [_cell_writer(sheet, c, formats) for c in columns]
    keys = [column.key for column in columns]
    for line, row in enumerate(table.rows, start=1):
        for index, key in enumerate(keys):
            writers[index](line, index, row.get(key))
    if table.rows:
        sheet.autofilter(0, 0, len(table.rows), len(columns) - 1)


def _cell_writer(sheet: Any, column: Column, formats: dict[str, Any]) -> Callable[[int, int, Any], None]:
    kind = column.kind
    if kind == "datetime":
        style = formats["datetime"]

        def write_time(line: int, index: int, value: Any) -> None:
            moment = _parse_time(value)
            if moment is not None:
                sheet.write_datetime(line, index, moment, style)

        return write_time
    if kind in ("int", "float", "percent", "seconds"):
        style = formats[kind]

        def write_number(line: int, index: int, value: Any) -> None:
            if isinstance(value, int | float) and not isinstance(value, bool):
                sheet.write_number(line, index, value, style)

        return write_number
    if kind == "bool":

        def write_bool(line: int, index: int, value: Any) -> None:
            if isinstance(value, bool):
                sheet.write_boolean(line, index, value)

        return write_bool

    def write_text(line: int, index: int, value: Any) -> None:
        if value is not None and value != "":
            sheet.write_string(line, index, str(_cell_text(value))[:32_000])

    return write_text


RENDERERS: dict[str, Callable[[Report, Path], str]] = {
    "csv": render_csv,
    "json": render_json,
    "xlsx": render_xlsx,
}
