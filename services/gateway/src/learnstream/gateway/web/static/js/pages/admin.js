// "/admin": the platform overview (admins only): DAU / WAU / MAU, new users, enrollments,
// completion rate, daily active users, top courses and top instructors.
import { api } from "../api.js";
import { plot } from "../charts.js";
import { card, h, number, panel, percent, show, periodSelect } from "../ui.js";

export async function adminPage(main, { query }) {
  const period = query.get("period") || "30d";
  main.replaceChildren(h("p", { class: "loading" }, "Loading the platform overview…"));
  const o = await api("/api/admin/analytics/overview", { query: { period } });
  const select = periodSelect(period);
  const chart = h("div", { id: "admin-dau-chart" });
  show(main,
    h("h1", {}, "Platform overview"),
    h("div", { class: "row" }, select),
    h("div", { class: "cards", id: "admin-stats" },
      card("Daily active", number(o.dau)), card("Weekly active", number(o.wau)), card("Monthly active", number(o.mau)),
      card("DAU / MAU", percent(o.dauMauRatio)), card("New users", number(o.newUsers)),
      card("Enrollments", number(o.enrollments)), card("Completion rate", percent(o.completionRate))),
    h("section", { class: "panel", "aria-label": "Daily active users" }, h("h2", {}, "Daily active learners"), chart),
    h("div", { class: "two" },
      panel("Top courses", h("ol", {}, o.topCourses.map((c) => h("li", {}, c.title,
        h("span", { class: "muted" }, ` · ${number(c.enrollments)} enrollments · ${number(c.completions)} completions · ${number(c.activeLearners)} active`))))),
      panel("Top instructors", h("ol", {}, o.topInstructors.map((i) => h("li", {}, i.name,
        h("span", { class: "muted" }, ` · ${i.courses} courses · ${number(i.activeLearners)} active learners`)))))),
  );
  const days = o.dailyActiveUsers || [];
  plot(chart, [{ type: "bar", x: days.map((d) => d.date), y: days.map((d) => d.count), marker: { color: "#1f5fbf" } }],
    { showlegend: false, yaxis: { rangemode: "tozero" } });
  chart.setAttribute("aria-label", "Active learners per day");
}
