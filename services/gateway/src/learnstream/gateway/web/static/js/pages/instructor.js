// "/instructor/courses/{id}/analytics": one course's analytics for its instructor. Stats
// with trend arrows, a period selector, trends, the completion funnel, the day × hour
// heatmap, lesson performance (drop-off highlighted), progress distribution, assistant
// usage, top students, students needing help, and the export button.
import { api, download } from "../api.js";
import { plot } from "../charts.js";
import { ago, card, countUp, duration, h, number, panel, percent, unavailable, show, periodSelect } from "../ui.js";

const DAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
const HIGH_DROP_OFF = 30;

function trendsChart(element, trends) {
  const enrolled = trends.enrollmentData || [];
  const active = trends.engagementData || [];
  const completion = trends.completionData || [];
  plot(element, [
    { type: "scatter", mode: "lines", name: "Enrolled", x: enrolled.map((p) => p.date), y: enrolled.map((p) => p.total) },
    { type: "scatter", mode: "lines", name: "Active learners", x: active.map((p) => p.date), y: active.map((p) => p.active) },
    { type: "scatter", mode: "lines", name: "Completion rate %", x: completion.map((p) => p.date), y: completion.map((p) => p.rate), yaxis: "y2" },
  ], { margin: { l: 48, r: 48, t: 16, b: 48 }, yaxis: { title: { text: "learners" }, rangemode: "tozero" },
    yaxis2: { title: { text: "%" }, overlaying: "y", side: "right", rangemode: "tozero" } });
  element.setAttribute("aria-label", "Enrolled learners, active learners and completion rate per day");
}

function funnelChart(element, funnel) {
  plot(element, [{
    type: "funnel", y: funnel.map((s) => s.label || s.stage), x: funnel.map((s) => s.count),
    textinfo: "value+percent initial", marker: { color: funnel.map((s) => (s.dropOff >= HIGH_DROP_OFF ? "#a32020" : "#1f5fbf")) },
  }], { margin: { l: 110, r: 16, t: 8, b: 24 } });
  element.setAttribute("aria-label", `Completion funnel: ${funnel.map((s) => `${s.label || s.stage} ${s.count}`).join(", ")}`);
}

function heatmapChart(element, cells) {
  const z = DAYS.map(() => Array(24).fill(0));
  for (const cell of cells) z[cell.dayOfWeek - 1][cell.hour] = cell.value;
  plot(element, [{
    type: "heatmap", z, x: [...Array(24).keys()].map((hour) => `${hour}:00`), y: DAYS,
    colorscale: [[0, "#f2f5fa"], [1, "#1f3f8f"]], hovertemplate: "%{y} %{x}: %{z} events<extra></extra>",
  }], { yaxis: { autorange: "reversed" }, margin: { l: 48, r: 16, t: 8, b: 48 } });
  element.setAttribute("aria-label", "Learning activity by day of week and hour");
}

function distributionChart(element, buckets) {
  plot(element, [{ type: "bar", x: buckets.map((b) => b.range), y: buckets.map((b) => b.count), marker: { color: "#1f5fbf" } }],
    { xaxis: { title: { text: "progress" } }, yaxis: { title: { text: "students" } }, showlegend: false });
  element.setAttribute("aria-label", "Number of students in each progress band");
}

function lessonTable(lessons) {
  return h("div", { class: "table-wrap" }, h("table", { id: "lesson-performance" },
    h("thead", {}, h("tr", {}, ["Lesson", "Views", "Completions", "Completion rate", "Avg time", "Drop-off", "Questions"].map((t) => h("th", { scope: "col" }, t)))),
    h("tbody", {}, lessons.map((l) => {
      const high = l.dropOffRate >= HIGH_DROP_OFF;
      return h("tr", { class: high ? "high-drop-off" : null },
        h("td", {}, high ? "⚠ " : "", l.title, high ? h("span", { class: "sr-only" }, " (high drop-off)") : null),
        h("td", {}, number(l.views)), h("td", {}, number(l.completions)), h("td", {}, percent(l.completionRate)),
        h("td", {}, duration(l.averageTimeSpent)), h("td", { class: high ? "down" : null }, percent(l.dropOffRate)),
        h("td", {}, number(l.questions)));
    }))));
}

function exportForm(courseId) {
  const format = h("select", { id: "export-format", "aria-label": "Export format" },
    ["pdf", "csv", "xlsx", "json"].map((f) => h("option", { value: f }, f.toUpperCase())));
  const status = h("span", { role: "status", id: "export-status" });
  const button = h("button", { type: "button", id: "export-button", onclick: async () => {
    button.disabled = true;
    status.textContent = "Preparing the report…";
    try {
      const queued = await api(`/api/instructor/courses/${courseId}/export`, { method: "POST", body: { format: format.value } });
      for (;;) {
        await new Promise((resolve) => setTimeout(resolve, 500));
        const job = await api(`/api/exports/${queued.exportId}`);
        if (job.status === "completed") {
          status.textContent = `Ready (${number(job.fileSize / 1024)} kB).`;
          await download(new URL(job.downloadUrl).pathname + new URL(job.downloadUrl).search, `course-report.${format.value}`);
          break;
        }
        if (job.status === "failed") { status.textContent = `The export failed: ${job.error}`; break; }
      }
    } catch (error) {
      status.textContent = error.message;
    } finally {
      button.disabled = false;
    }
  } }, "Export report");
  return h("div", { class: "row" }, format, button, status);
}

const TOP_BY = [["progress", "by progress"], ["timeSpent", "by time spent"], ["recent", "most recently active"]];

// Top Students, five of them, by the measure chosen in its selector.
function topStudents(courseId, first) {
  const list = h("div", {});
  function render(answer) {
    list.replaceChildren(answer ? h("ol", { id: "top-students" }, answer.students.map((s) => h("li", {},
      h("a", { href: `/instructor/courses/${courseId}/students/${s.id}` }, s.name),
      ` — ${percent(s.progress)} · ${duration(s.timeSpent)} · active ${ago(s.lastActive)}`)))
      : unavailable("Students", "analytics did not answer"));
  }
  const by = h("select", { id: "top-by", "aria-label": "Rank top students", onchange: async () => {
    render(await api(`/api/instructor/courses/${courseId}/students`, { query: { sort: by.value, limit: 5 } }).catch(() => null));
  } }, TOP_BY.map(([value, label]) => h("option", { value }, label)));
  render(first);
  return panel("Top students", by, list);
}

export async function instructorPage(main, { params, query }) {
  const [courseId] = params;
  const period = query.get("period") || "30d";
  main.replaceChildren(h("p", { class: "loading" }, "Loading the course analytics…"));
  const [board, students] = await Promise.all([
    api(`/api/instructor/courses/${courseId}/dashboard`, { query: { period } }),
    api(`/api/instructor/courses/${courseId}/students`, { query: { sort: "progress", limit: 5 } }).catch(() => null),
  ]);
  const a = board.analytics;
  const select = periodSelect(period, { all: true });
  const charts = { trends: h("div", { id: "trends-chart" }), funnel: h("div", { id: "funnel-chart" }),
    heatmap: h("div", { id: "heatmap-chart" }), distribution: h("div", { id: "distribution-chart" }) };
  const stats = a ? a.stats : null;
  const change = (key) => (stats && stats.change ? stats.change[key] : null);
  const assistant = board.assistant;
  show(main,
    h("h1", {}, `Course analytics: ${board.course ? board.course.title : ""}`),
    h("div", { class: "row" }, select, exportForm(courseId),
      a && a.freshness ? h("span", { class: "muted" }, `data as of ${ago(a.freshness.asOf)}`) : null),
    Object.keys(board.unavailable || {}).length
      ? h("div", {}, Object.entries(board.unavailable).map(([k, v]) => unavailable(k, v))) : null,
    stats ? h("div", { class: "cards", id: "course-stats" },
      card("Total students", number(stats.totalStudents), change("totalStudents")),
      card("Active learners", number(stats.activeStudents), change("activeStudents")),
      card("Average progress", percent(stats.averageProgress), change("averageProgress")),
      card("Total time", duration(stats.totalTimeSpent), change("totalTimeSpent")),
      card("Completion rate", percent(stats.completionRate), change("completionRate")),
      card("Avg days to complete", stats.averageTimeToComplete === null ? "—" : number(stats.averageTimeToComplete, 1))) : null,
    a ? h("section", { class: "panel", "aria-label": "Trends" }, h("h2", {}, "Enrollment & engagement over time"), charts.trends) : null,
    a ? h("div", { class: "two" },
      h("section", { class: "panel", "aria-label": "Completion funnel" }, h("h2", {}, "Completion funnel"), charts.funnel),
      h("section", { class: "panel", "aria-label": "Activity heatmap" }, h("h2", {}, "Activity heatmap"), charts.heatmap)) : null,
    board.lessons ? panel("Lesson performance", lessonTable(board.lessons)) : null,
    a ? h("section", { class: "panel", "aria-label": "Progress distribution" }, h("h2", {}, "Student progress distribution"), charts.distribution) : null,
    assistant ? panel("AI assistant usage",
      h("div", { class: "cards" },
        card("Questions", number(assistant.totalQuestions)),
        card("Per student", number(assistant.questionsPerStudent, 1)),
        card("Unanswered", percent(assistant.unansweredRate)),
        card("Rated helpful", percent(assistant.satisfactionRate))),
      h("p", {}, h("strong", {}, "Most asked topics: "), (assistant.topTopics || []).map((t) => `${t.topic} (${t.count})`).join(", ") || "none yet"),
      h("ul", {}, (assistant.recentQuestions || []).slice(0, 5).map((q) => h("li", {}, `“${q.question}” `, h("span", { class: "muted" }, `${q.student} · ${ago(q.timestamp)}`))))) : null,
    h("div", { class: "two" },
      topStudents(courseId, students),
      panel("Students needing help", board.atRisk ? (board.atRisk.length
        ? h("div", {},
          h("ul", { id: "at-risk" }, board.atRisk.slice(0, 10).map((s) => h("li", {},
            h("a", { href: `/instructor/courses/${courseId}/students/${s.id}` }, s.name), ` — ${s.details}`))),
          board.atRiskTotal > board.atRisk.length
            ? h("p", { class: "muted" }, `${board.atRiskTotal.toLocaleString()} students at risk in all, the longest quiet first.`)
            : null)
        : h("p", { class: "muted" }, "Nobody is at risk right now.")) : unavailable("At-risk students", "analytics did not answer"))),
  );
  if (a) {
    trendsChart(charts.trends, a.trends || {});
    funnelChart(charts.funnel, a.funnelData || []);
    heatmapChart(charts.heatmap, a.activityHeatmap || []);
    distributionChart(charts.distribution, a.progressDistribution || []);
  }
  document.addEventListener("learnstream:live", (event) => {
    if (event.detail.kind === "enrollment.created" && event.detail.data.courseId === courseId) {
      countUp(document.getElementById("course-stats"));
    }
  });
}
