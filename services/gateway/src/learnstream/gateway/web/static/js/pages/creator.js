// "/creator": across all of the instructor's courses: students, progress, engagement and
// support figures with charts, each course linking to its analytics, and the Students
// table with engagement tiers, filters and search.
import { api } from "../api.js";
import { plot } from "../charts.js";
import { ago, card, h, number, panel, percent, unavailable, show, periodSelect } from "../ui.js";

const TIERS = { highly_engaged: "Highly engaged", engaged: "Engaged", moderate: "Moderate", low_engagement: "Low engagement", at_risk: "At risk", inactive: "Inactive" };
const PAGE = 25;

function studentsTable() {
  const status = h("select", { id: "student-status", "aria-label": "Status" },
    [["all", "All"], ["active", "Active"], ["at-risk", "At risk"], ["inactive", "Inactive"]].map(([v, l]) => h("option", { value: v }, l)));
  const progress = h("select", { id: "student-progress", "aria-label": "Progress" },
    [["", "Any progress"], ["0-25", "0–25%"], ["26-50", "26–50%"], ["51-75", "51–75%"], ["76-100", "76–100%"]].map(([v, l]) => h("option", { value: v }, l)));
  const search = h("input", { id: "student-search", type: "search", placeholder: "Search by name", "aria-label": "Search students" });
  const body = h("div", {});
  const pager = h("div", { class: "row" });
  let offset = 0;
  const sort = { by: "lastActive", order: "desc" };
  // a sortable column's header is a button; choosing it again turns the order round
  function header(label, key) {
    if (!key) return h("th", { scope: "col" }, label);
    const current = sort.by === key;
    return h("th", { scope: "col", "aria-sort": current ? (sort.order === "asc" ? "ascending" : "descending") : "none" },
      h("button", { type: "button", class: "sort", "data-sort": key, onclick: () => {
        sort.order = current ? (sort.order === "asc" ? "desc" : "asc") : (key === "name" ? "asc" : "desc");
        sort.by = key;
        offset = 0;
        load(true);
      } }, label, h("span", { "aria-hidden": "true" }, current ? (sort.order === "asc" ? " ▲" : " ▼") : "")));
  }
  async function load(focusSort = false) {
    const answer = await api("/api/creator/students", {
      query: { status: status.value, progress: progress.value, search: search.value.trim(), sortBy: sort.by, sortOrder: sort.order, limit: PAGE, offset },
    });
    body.replaceChildren(answer.students.length ? h("div", { class: "table-wrap" }, h("table", { id: "creator-students" },
      h("caption", { class: "sr-only" }, "Students, sortable by the column buttons"),
      h("thead", {}, h("tr", {}, [["Student", "name"], ["Courses"], ["Progress", "progress"], ["Videos"], ["XP", "xp"], ["Tier"], ["Last active", "lastActive"]].map(([t, key]) => header(t, key)))),
      h("tbody", {}, answer.students.map((s) => h("tr", {},
        h("td", {}, s.name), h("td", {}, number(s.courses)), h("td", {}, percent(s.progress)), h("td", {}, number(s.videosWatched)),
        h("td", {}, number(s.xp)), h("td", {}, h("span", { class: `tier tier-${s.tier}` }, TIERS[s.tier] || s.tier)), h("td", {}, ago(s.lastActive)))))))
      : h("p", { class: "muted" }, "No students match."));
    const total = answer.total ?? offset + answer.students.length;
    pager.replaceChildren(
      h("span", { class: "muted" }, `${answer.students.length ? offset + 1 : 0}–${offset + answer.students.length} of ${number(total)}`),
      h("button", { type: "button", class: "secondary", disabled: offset === 0, onclick: () => { offset = Math.max(0, offset - PAGE); load(); } }, "Previous"),
      h("button", { type: "button", class: "secondary", disabled: !answer.hasMore, onclick: () => { offset += PAGE; load(); } }, "Next"));
    if (focusSort) { const again = body.querySelector(`button[data-sort="${sort.by}"]`); if (again) again.focus(); }
  }
  let timer;
  for (const control of [status, progress]) control.addEventListener("change", () => { offset = 0; load(); });
  search.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(() => { offset = 0; load(); }, 250); });
  return { element: [h("div", { class: "row" }, status, progress, search), body, pager], load };
}

export async function creatorPage(main, { query }) {
  const period = query.get("period") || "30d";
  main.replaceChildren(h("p", { class: "loading" }, "Loading your courses…"));
  const board = await api("/api/creator/dashboard", { query: { period } });
  const select = periodSelect(period);
  const dauChart = h("div", { id: "dau-chart" });
  const students = studentsTable();
  const s = board.students;
  const p = board.progress;
  const e = board.engagement;
  const sup = board.support;
  show(main,
    h("h1", {}, "Creator dashboard"),
    h("div", { class: "row" }, select),
    Object.keys(board.unavailable || {}).length
      ? h("div", {}, Object.entries(board.unavailable).map(([k, v]) => unavailable(k, v))) : null,
    s ? h("div", { class: "cards", id: "creator-stats" },
      card("Students", number(s.total)),
      card("Active", `${number(s.active)} (${percent(s.activePercentage)})`, s.trends ? s.trends.active : null),
      card("New this month", number(s.newThisMonth), s.trends ? s.trends.new : null),
      p ? card("Average completion", percent(p.avgCompletion)) : null,
      p ? card("Videos watched", number(p.videosWatched)) : null,
      p ? card("Quizzes passed", number(p.quizzesPassed)) : null) : null,
    e ? h("section", { class: "panel", "aria-label": "Daily active users" }, h("h2", {}, "Daily active learners"),
      h("p", { class: "muted" }, `Peak hours: ${(e.peakHours || []).map((hour) => `${hour.hour}:00`).join(", ") || "—"} · average session ${number(e.avgSessionTime, 1)} min`),
      dauChart) : null,
    sup ? panel("Support", h("div", { class: "cards" },
      card("Questions asked", number(sup.questionsAsked)), card("Answered by the assistant", number(sup.aiAnswered)),
      card("Rated helpful", percent(sup.satisfactionRate))),
    h("ol", {}, (sup.topQuestions || []).map((q) => h("li", {}, `${q.question} (${q.count})`)))) : null,
    panel("Courses", board.courses ? h("ul", { id: "creator-courses" }, board.courses.map((c) => h("li", {},
      h("a", { href: `/instructor/courses/${c.id}/analytics` }, c.title), h("span", { class: "muted" }, ` · ${c.status} · ${number(c.enrollmentCount)} enrolled`))))
      : unavailable("Courses", "progress did not answer")),
    panel("Students", ...students.element),
  );
  if (e) {
    const days = e.dailyActiveUsers || [];
    plot(dauChart, [{ type: "scatter", mode: "lines+markers", x: days.map((d) => d.date), y: days.map((d) => d.count), name: "Active learners" }],
      { showlegend: false, yaxis: { rangemode: "tozero" } });
    dauChart.setAttribute("aria-label", "Active learners per day");
  }
  await students.load();
}
