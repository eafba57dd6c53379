"""PDF reports and certificates, drawn with reportlab; charts drawn with matplotlib.

A report: title and period, the executive summary, charts of the trends, the completion
funnel, the day-by-hour heatmap and the progress distribution (when the report has
them), the recommendations, the at-risk learners, and each section as a table. A table
in a PDF is for reading, not for analysis: it shows the first :data:`PDF_TABLE_ROWS`
rows and says where the rest are (the same export as CSV or XLSX).

matplotlib is used through its object API (``Figure`` + the Agg canvas), never pyplot,
whose global state is not safe in a server's worker threads.
"""

from __future__ import annotations

import io
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO
from xml.sax.saxutils import escape

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import cm
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (
    Image,
    KeepTogether,
    PageBreak,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from learnstream.exports.domain.exports import PDF_TABLE_ROWS, Column, Report
from learnstream.exports.domain.exports import Table as ReportTable

ACCENT = "#2F5D9E"
_STYLES = getSampleStyleSheet()
_CELL = ParagraphStyle("cell", parent=_STYLES["BodyText"], fontSize=7.5, leading=9)
_HEAD = ParagraphStyle("head", parent=_CELL, textColor=colors.white, fontName="Helvetica-Bold")


def _chart(figure: Figure, width_cm: float) -> Image:
    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    buffer.seek(0)
    width, height = figure.get_size_inches()
    return Image(buffer, width=width_cm * cm, height=width_cm * cm * height / width)


def _trends_chart(trends: dict[str, Any]) -> Image | None:
    enrollment = trends.get("enrollmentData") or []
    engagement = trends.get("engagementData") or []
    if not enrollment:
        return None
    figure = Figure(figsize=(8, 2.8))
    axes = figure.add_subplot()
    days = [point["date"][5:] for point in enrollment]
    axes.plot(days, [p["total"] for p in enrollment], color=ACCENT, label="Enrolled (total)")
    axes.plot(days, [p.get("active", 0) for p in engagement], color="#E07B39", label="Active learners")
    axes.bar(days, [p["count"] for p in enrollment], color="#9DB8DE", label="New enrollments")
    step = max(1, len(days) // 10)
    axes.set_xticks(range(0, len(days), step), days[::step], fontsize=7)
    axes.tick_params(axis="y", labelsize=7)
    axes.legend(fontsize=7, loc="upper left")
    axes.set_title("Enrollment and engagement", fontsize=9)
    axes.grid(alpha=0.3)
    return _chart(figure, 17)


def _funnel_chart(funnel: list[dict[str, Any]]) -> Image | None:
    if not funnel:
        return None
    figure = Figure(figsize=(4.2, 3))
    axes = figure.add_subplot()
    labels = [stage["label"] for stage in funnel][::-1]
    counts = [stage["count"] for stage in funnel][::-1]
    bars = axes.barh(labels, counts, color=ACCENT)
    for bar, stage in zip(bars, funnel[::-1], strict=True):
        axes.text(
            bar.get_width(),
            bar.get_y() + bar.get_height() / 2,
            f" {stage['percentage']:g}%",
            va="center",
            fontsize=7,
        )
    axes.tick_params(labelsize=7)
    axes.set_title("Completion funnel", fontsize=9)
    axes.margins(x=0.2)
    return _chart(figure, 8.5)


def _distribution_chart(distribution: list[dict[str, Any]]) -> Image | None:
    if not distribution:
        return None
    figure = Figure(figsize=(4.2, 3))
    axes = figure.add_subplot()
    axes.bar(
        [bucket["range"] for bucket in distribution], [b["count"] for b in distribution], color="#5B9E6B"
    )
    axes.tick_params(axis="x", labelsize=6, rotation=45)
    axes.tick_params(axis="y", labelsize=7)
    axes.set_title("Progress distribution (% complete)", fontsize=9)
    return _chart(figure, 8.5)


def _heatmap_chart(cells: list[dict[str, Any]]) -> Image | None:
    if not cells:
        return None
    grid = [[0] * 24 for _ in range(7)]
    for cell in cells:
        grid[cell["dayOfWeek"] - 1][cell["hour"]] = cell["value"]
    figure = Figure(figsize=(8, 2.4))
    axes = figure.add_subplot()
    image = axes.imshow(grid, aspect="auto", cmap="Blues")
    axes.set_yticks(range(7), ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"], fontsize=7)
    axes.set_xticks(range(0, 24, 2), [f"{h:02d}" for h in range(0, 24, 2)], fontsize=7)
    axes.set_title("Learning activity by day and hour", fontsize=9)
    figure.colorbar(image, ax=axes, fraction=0.02, pad=0.01).ax.tick_params(labelsize=6)
    return _chart(figure, 17)


def _text(value: Any, column: Column) -> str:
    if value is None or value == "":
        return ""
    if column.kind == "bool":
        return "yes" if value else "no"
    if column.kind == "percent" and isinstance(value, int | float):
        return f"{value:g}%"
    if column.kind == "seconds" and isinstance(value, int | float):
        hours, rest = divmod(int(value), 3600)
        return f"{hours}h {rest // 60:02d}m" if hours else f"{rest // 60}m {rest % 60:02d}s"
    if column.kind == "datetime" and isinstance(value, str):
        return value[:16].replace("T", " ")
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


def _table(table: ReportTable, width: float) -> list[Any]:
    shown = table.rows[:PDF_TABLE_ROWS]
    header = [Paragraph(escape(c.header), _HEAD) for c in table.columns]
    body = [
        [Paragraph(escape(_text(row.get(c.key), c))[:400], _CELL) for c in table.columns] for row in shown
    ]
    flowable = Table(
        [header, *body], repeatRows=1, colWidths=[width / len(table.columns)] * len(table.columns)
    )
    flowable.setStyle(
        TableStyle(
            [
                ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor(ACCENT)),
                ("ROWBACKGROUNDS", (0, 1), (-1, -1), [colors.white, colors.HexColor("#F2F5FA")]),
                ("GRID", (0, 0), (-1, -1), 0.25, colors.HexColor("#C8D2E0")),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ]
        )
    )
    parts: list[Any] = [Paragraph(escape(table.title), _STYLES["Heading2"]), flowable]
    if table.count > len(shown):
        parts.append(
            Paragraph(
                f"The first {len(shown):,} of {table.count:,} rows; the CSV and XLSX exports hold them all.",
                _STYLES["Italic"],
            )
        )
    if not table.count:
        parts.append(Paragraph("Nothing to show for this period.", _STYLES["Italic"]))
    return parts


def _footer(canvas: Canvas, document: Any) -> None:
    canvas.saveState()
    canvas.setFont("Helvetica", 7)
    canvas.setFillColor(colors.grey)
    canvas.drawString(document.leftMargin, 0.8 * cm, "Learnstream report")
    canvas.drawRightString(document.pagesize[0] - document.rightMargin, 0.8 * cm, f"Page {document.page}")
    canvas.restoreState()


def _when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def render_pdf(report: Report, path: Path) -> str:
    page = landscape(A4)
    document = SimpleDocTemplate(
        str(path),
        pagesize=page,
        leftMargin=1.5 * cm,
        rightMargin=1.5 * cm,
        topMargin=1.5 * cm,
        bottomMargin=1.5 * cm,
        title=report.title,
        author="Learnstream",
    )
    width = page[0] - 3 * cm
    story: list[Any] = [
        Paragraph(escape(report.title), _STYLES["Title"]),
        Paragraph(escape(report.subtitle), _STYLES["Heading3"]),
    ]
    if report.period:
        story.append(
            Paragraph(f"Period: {_when(report.period[0])} to {_when(report.period[1])}", _STYLES["Normal"])
        )
    story.append(Paragraph(f"Generated {_when(report.generated_at)}", _STYLES["Normal"]))
    story.append(Spacer(1, 0.4 * cm))
    if report.figures:
        story.append(Paragraph("Executive summary", _STYLES["Heading2"]))
        rows = [
            [Paragraph(escape(label), _CELL), Paragraph(escape(value), _CELL)]
            for label, value in report.figures
        ]
        summary = Table(rows, colWidths=[7 * cm, width - 7 * cm])
        summary.setStyle(
            TableStyle(
                [
                    ("GRID", (0, 0), (-1, -1), 0.25, colors.HexColor("#C8D2E0")),
                    ("BACKGROUND", (0, 0), (0, -1), colors.HexColor("#E8EEF7")),
                ]
            )
        )
        story.append(summary)
    charts = report.charts
    trends = _trends_chart(charts.get("trends") or {})
    funnel = _funnel_chart(charts.get("funnel") or [])
    distribution = _distribution_chart(charts.get("distribution") or [])
    heatmap = _heatmap_chart(charts.get("heatmap") or [])
    if trends or funnel or distribution or heatmap:
        story.append(PageBreak())
        story.append(Paragraph("Charts", _STYLES["Heading2"]))
        if trends:
            story.append(trends)
        pair = [chart for chart in (funnel, distribution) if chart]
        if pair:
            row = Table([pair], colWidths=[width / len(pair)] * len(pair))
            story.append(row)
        if heatmap:
            story.append(heatmap)
    if report.recommendations:
        story.append(
            KeepTogether(
                [
                    Paragraph("Recommendations", _STYLES["Heading2"]),
                    *[
                        Paragraph("• " + escape(advice), _STYLES["BodyText"])
                        for advice in report.recommendations
                    ],
                ]
            )
        )
    for table in report.tables:
        story.append(Spacer(1, 0.4 * cm))
        story.extend(_table(table, width))
    document.build(story, onFirstPage=_footer, onLaterPages=_footer)
    return "pdf"


def render_certificate(
    path: Path | BinaryIO,
    *,
    learner: str,
    course: str,
    instructor: str,
    completed_at: datetime,
    verification_id: str,
    verify_url: str,
) -> None:
    """A one-page landscape certificate of completion with its verification id."""
    width, height = landscape(A4)
    canvas = Canvas(str(path) if isinstance(path, Path) else path, pagesize=(width, height))
    canvas.setTitle(f"Certificate of completion: {course}")
    canvas.setAuthor("Learnstream")
    canvas.setStrokeColor(colors.HexColor(ACCENT))
    canvas.setLineWidth(4)
    canvas.rect(1.2 * cm, 1.2 * cm, width - 2.4 * cm, height - 2.4 * cm)
    canvas.setLineWidth(1)
    canvas.rect(1.6 * cm, 1.6 * cm, width - 3.2 * cm, height - 3.2 * cm)
    centre = width / 2
    canvas.setFillColor(colors.HexColor(ACCENT))
    canvas.setFont("Helvetica-Bold", 34)
    canvas.drawCentredString(centre, height - 5 * cm, "Certificate of Completion")
    canvas.setFillColor(colors.black)
    canvas.setFont("Helvetica", 14)
    canvas.drawCentredString(centre, height - 7 * cm, "This certifies that")
    canvas.setFont("Helvetica-Bold", 28)
    canvas.drawCentredString(centre, height - 8.8 * cm, learner)
    canvas.setFont("Helvetica", 14)
    canvas.drawCentredString(centre, height - 10.4 * cm, "has completed the course")
    style = ParagraphStyle("course", fontName="Helvetica-Bold", fontSize=20, leading=24, alignment=TA_CENTER)
    title = Paragraph(escape(course), style)
    _, used = title.wrap(width - 8 * cm, 5 * cm)
    title.drawOn(canvas, 4 * cm, height - 11.4 * cm - used)
    canvas.setFont("Helvetica", 12)
    canvas.drawCentredString(centre, 6.2 * cm, f"Completed on {completed_at.strftime('%d %B %Y')}")
    canvas.drawCentredString(centre, 5.4 * cm, f"Instructor: {instructor}")
    canvas.setFont("Helvetica", 9)
    canvas.setFillColor(colors.grey)
    canvas.drawCentredString(centre, 3.4 * cm, f"Verification id: {verification_id}")
    canvas.drawCentredString(centre, 2.8 * cm, f"Verify at {verify_url}")
    canvas.showPage()
    canvas.save()
